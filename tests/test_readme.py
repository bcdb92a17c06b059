"""The README's first lines are the contract with a new user and with CI: keep them true."""
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def readme_commands():
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README must open with a bash block of commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_setup_and_test_commands():
    commands = readme_commands()
    assert len(commands) == 2
    setup_and_run, test = commands
    assert "pip install" in setup_and_run and "emorec " in setup_and_run
    assert "pytest" in test


def test_ci_runs_exactly_the_readme_test_command():
    test_command = readme_commands()[1].split("&&")[-1].strip()
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in [line.strip() for line in ci]


def test_main_job_verb_exists():
    from click.testing import CliRunner

    from emorec.cli import cli

    verb = readme_commands()[0].split("emorec ")[-1].split()[0]
    result = CliRunner().invoke(cli, [verb, "--help"])
    assert result.exit_code == 0, result.output
