"""Dataset layouts are plug-ins: the converter and the CLI name none, and take every layout's
name and options from the modules of tfrecords_tools/layouts."""
from __future__ import annotations

import ast
from pathlib import Path

from click.testing import CliRunner

from emorec.cli import cli
from tfrecords_tools import available_layouts

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYOUT_NAMES = ("sewa", "emodb", "manifest", "ravdess", "nemo", "ased", "folders")


def string_constants(path: Path):
    return {node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def test_every_layout_module_is_found():
    assert set(LAYOUT_NAMES) <= set(available_layouts())
    modules = {path.stem for path in (REPO_ROOT / "tfrecords_tools" / "layouts").glob("*.py")} - {"__init__"}
    assert len(available_layouts()) == len(modules)  # one layout per module


def test_the_converter_and_the_cli_name_no_layout():
    for path in (REPO_ROOT / "tfrecords_tools" / "convert.py", REPO_ROOT / "emorec" / "cli.py"):
        strings = string_constants(path)
        named = [name for name in LAYOUT_NAMES if name in strings or any(f"--layout {name}" in s for s in strings)]
        assert named == [], f"{path.name} names layouts {named}"


def test_convert_help_offers_every_layout_and_its_options():
    result = CliRunner().invoke(cli, ["convert", "--help"], terminal_width=400)
    assert result.exit_code == 0, result.output
    for layout in available_layouts().values():
        assert layout.name in result.output
        for option in layout.options:
            assert option.flag_name in result.output, (layout.name, option.flag_name)
    assert "--speaker-pattern" in result.output and "--sessions" in result.output


def test_an_option_of_another_layout_is_refused_in_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["convert", "--layout", "sewa", str(tmp_path), str(tmp_path / "out"),
                                      "--sessions", "3"])
    assert result.exit_code == 2
    assert "--sessions: not an option of --layout sewa (its options: none)" in result.output
    assert not (tmp_path / "out").exists()
