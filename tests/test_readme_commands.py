"""Every command block of the README and of docs/ runs as written, on small generated data.

The ```bash and ```sh blocks of README.md and `DOCS` (in that order) are read from the files, not
copied here, so a renamed flag or verb in the docs (or in the CLI) fails this test. `emorec` commands run in-process through
click (one TensorFlow import for all of them) in a scratch folder laid out like the README
assumes: the checkout's `configs/` beside it and `../shared/data/emodb` holding a tiny generated
EmoDB (10 speakers, one 1 s utterance each, word timings), so nothing needs the real corpora.

A command may get extra options appended (`REDUCE`) to shrink its work, never changed ones; and
the placeholders of the paper's block (`DATA`, `ART`) are filled in. Every block is listed in
`PLAN`, run or skipped with its reason; a new block fails `test_every_block_is_planned` until it
is listed. The README's ```python blocks run too, after its commands.
"""
from __future__ import annotations

import csv
import re
import shlex
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.io import wavfile

from emorec.cli import cli

REPO_ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```(bash|sh)\n(.*?)^```", re.S | re.M)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
#: The pages whose command blocks run after the README's, in this order (the data before the model).
DOCS = ("docs/data.md", "docs/model.md", "docs/serving.md")

#: Each block by the start of its first command: "run", or why it is skipped.
PLAN: Dict[str, str] = {
    "python3 -m venv .venv": "skip: builds a virtualenv and installs from the network; .ci/run runs exactly these "
                             "lines (tests/test_readme.py keeps them in sync)",
    "pip install -e .": "extras: installs from the network; the extras it names are checked against setup.py",
    "emorec predict spk1/talk.mp3": "run",
    "emorec convert --layout folders": "run",
    "emorec convert --layout emodb": "run",
    "emorec semantic word2vec": "run",
    "emorec export --run-dir runs/my_run": "run",
    'pip install -e ".[bench]"': "skip: the accuracy benchmarks train 3 seeds of 10 systems on the real EmoDB "
                                 "(hours on 2 cores); their parts are tested in tests/benchmarks/",
    "docker run": "skip: needs Docker, the tensorflow/serving image and a server on port 8501 "
                  "(the request body is tested in tests/export/test_serving.py)",
}

#: Options appended to shrink a command's work (the README's values of everything else stay).
REDUCE: Dict[str, List[str]] = {
    "semantic speech2vec": ["--set", "semantic.speech2vec.epochs=1", "--set", "semantic.speech2vec.encoder_units=16",
                            "--set", "semantic.speech2vec.decoder_units=16",
                            "--set", "semantic.speech2vec.max_frames=20"],
    "semantic align": ["--set", "semantic.alignment.adversarial_epochs=1",
                       "--set", "semantic.alignment.iterations_per_epoch=5",
                       "--set", "semantic.alignment.discriminator_hidden=32"],
    "train --config configs/quickstart.yaml": ["--epochs", "1", "--set", "model.cnn.filters=[4, 8, 8]",
                                               "--set", "model.lstm_units=8", "--set", "data.sequence_frames=10",
                                               "--set", "data.hop_frames=10", "--set", "data.batch_size=4"],
    "ablation": ["--epochs", "1", "--set", "data.batch_size=4", "--set", "model.cnn.filters=[4, 8, 8]",
                 "--set", "model.lstm_units=8", "--set", "data.sequence_frames=10", "--set", "data.hop_frames=10",
                 "--set", "evaluation.plot_recordings=0"],
}

#: The paper block's placeholders.
PLACEHOLDERS = {"DATA": "converted/emodb_utt", "ART": "art"}

EMODB_SPEAKERS = ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
EMOTIONS = ["anger", "neutral", "happiness", "sadness", "boredom"]
WORDS = ["der", "lappen", "liegt", "auf", "dem", "eisschrank"]


def readme_blocks() -> List[str]:
    """The command blocks of README.md, then of each page of `DOCS`."""
    pages = [(REPO_ROOT / name).read_text(encoding="utf-8") for name in ("README.md", *DOCS)]
    return [match.group(2) for page in pages for match in BLOCK.finditer(page)]


def block_commands(block: str) -> List[str]:
    """The block's commands: continuation lines joined, blank lines dropped."""
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def plan_of(block: str) -> str:
    first = block_commands(block)[0]
    keys = [key for key in PLAN if first.startswith(key)]
    assert keys, f"README block not in PLAN (run it here or give a reason to skip):\n{block}"
    return PLAN[keys[0]]


def test_every_block_is_planned_and_every_plan_has_a_block():
    blocks = readme_blocks()
    assert blocks, "no ```bash blocks found in README.md"
    firsts = [block_commands(block)[0] for block in blocks]
    for block in blocks:
        plan_of(block)
    for key in PLAN:  # a plan whose block was removed or renamed is stale
        assert any(first.startswith(key) for first in firsts), key


def write_tiny_emodb(folder: Path) -> None:
    """EmoDB's layout (labels.csv, wav/, word_timings.csv), one 1 s utterance per default speaker."""
    rng = np.random.default_rng(0)
    (folder / "wav").mkdir(parents=True)
    labels, timings = [], []
    for index, speaker in enumerate(EMODB_SPEAKERS):
        name = f"{speaker}a01{'WNFTL'[index % 5]}a.wav"
        t = np.arange(16000) / 16000
        voice = np.sin(2 * np.pi * (120 + 10 * index) * t) * (0.2 + 0.1 * np.sin(2 * np.pi * 4 * t))
        wavfile.write(folder / "wav" / name, 16000, ((voice + 0.01 * rng.standard_normal(t.size)) * 32767 * 0.5)
                      .astype(np.int16))
        labels.append([name, speaker, "a01", EMOTIONS[index % len(EMOTIONS)], "1.0"])
        for k, word in enumerate(WORDS):
            timings.append([name, word, f"{0.05 + 0.15 * k:.2f}", f"{0.18 + 0.15 * k:.2f}"])
    for file_name, header, rows in (("labels.csv", ["file", "speaker", "text_id", "emotion", "duration_s"], labels),
                                    ("word_timings.csv", ["file", "word", "start_s", "end_s"], timings)):
        with (folder / file_name).open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *rows])


def write_tiny_folders(folder: Path) -> None:
    """The `folders` layout of quick start 2: four categories, speakers s1 to s4 (the file name's
    part before `_`), two 1 s files each, loudness and pitch rising with arousal."""
    rng = np.random.default_rng(1)
    t = np.arange(16000) / 16000
    for level, category in enumerate(["sad", "neutral", "happy", "angry"]):
        (folder / category).mkdir(parents=True)
        for speaker in ("s1", "s2", "s3", "s4"):
            for take in ("01", "02"):
                voice = (0.05 + 0.1 * level) * np.sin(2 * np.pi * (110 + 30 * level) * t)
                samples = (voice + 0.005 * rng.standard_normal(t.size)) * 32767
                wavfile.write(folder / category / f"{speaker}_{take}.wav", 16000, samples.astype(np.int16))


def write_audio_files(folder: Path) -> None:
    """The predict example's inputs: same stem in two speaker folders, an MP3 (encoded with
    tensorflow-io) and an 8 kHz WAV."""
    import tensorflow as tf
    import tensorflow_io as tfio

    t = np.arange(2 * 44100) / 44100
    tone = (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    (folder / "spk1").mkdir(exist_ok=True)
    (folder / "spk2").mkdir(exist_ok=True)
    try:
        mp3 = tfio.audio.encode_mp3(tf.constant(tone[:, None]), rate=44100).numpy()
    except tf.errors.InvalidArgumentError as error:  # tensorflow-io loads LAME at run time to encode
        pytest.fail(f"cannot encode the test MP3 ({error.message.splitlines()[0]}): install libmp3lame0, "
                    "as .ci/run does (apt-get install libmp3lame0)")
    (folder / "spk1" / "talk.mp3").write_bytes(mp3)
    t8 = np.arange(3 * 8000) / 8000
    wavfile.write(folder / "spk2" / "talk.wav", 8000, (0.3 * np.sin(2 * np.pi * 200 * t8) * 32767).astype(np.int16))


def train_my_run(workdir: Path) -> None:
    """`runs/my_run`, the trained run the export block starts from (a tiny paralinguistic model)."""
    from emorec.config import apply_overrides, load_config
    from emorec.training import train_model

    config = apply_overrides(load_config(REPO_ROOT / "emorec" / "resources" / "demo.yaml"),
                             ["model.cnn.filters=[4, 8, 8]", "model.lstm_units=8", "data.sequence_frames=10",
                              "data.hop_frames=10"])
    train_model(config, workdir / "converted" / "emodb_utt", workdir / "runs" / "my_run", epochs=1, verbose=0)


def run_emorec(command: str, workdir: Path) -> str:
    words = shlex.split(command, comments=True)
    assert words[0] == "emorec", command
    arguments = [PLACEHOLDERS.get(word, word) if "/" not in word else "/".join(PLACEHOLDERS.get(part, part)
                 for part in word.split("/")) for word in words[1:]]
    for verb, extra in REDUCE.items():
        if " ".join(arguments).startswith(verb):
            arguments += extra
    result = CliRunner().invoke(cli, arguments, catch_exceptions=True)
    assert result.exit_code == 0, f"README command failed: {command}\n{result.output}\n{result.exception!r}"
    return result.output


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A scratch checkout: configs/ of this one, ../shared/data/emodb a tiny generated EmoDB."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "configs").symlink_to(REPO_ROOT / "configs")
    (root / "benchmarks").symlink_to(REPO_ROOT / "benchmarks")
    write_tiny_emodb(tmp_path / "shared" / "data" / "emodb")
    write_tiny_folders(root / "my_corpus")
    write_audio_files(root)
    monkeypatch.chdir(root)
    return root


@pytest.mark.e2e
@pytest.mark.slow
def test_readme_blocks_run_as_written(workdir):
    ran: List[str] = []
    for block in readme_blocks():
        plan = plan_of(block)
        if plan.startswith("skip"):
            continue
        if plan.startswith("extras"):
            named = [extra for command in block_commands(block) for extra in re.findall(r'"\.\[(\w+)\]"', command)]
            assert named and set(named) <= setup_extras(), (named, sorted(setup_extras()))
            continue
        if block_commands(block)[0].startswith("emorec export --run-dir runs/my_run"):
            train_my_run(workdir)
        for command in block_commands(block):
            if "--format onnx" in command and not _has("tf2onnx"):
                continue  # the README says it needs the onnx extra
            run_emorec(command, workdir)
            ran.append(command)
    # What the commands were to leave behind, where the README says.
    assert (workdir / "converted" / "emodb_utt" / "manifest.json").is_file()
    assert (workdir / "art" / "alignment.npy").is_file()
    assert (workdir / "table3.md").read_text().count("|") > 10
    # Named by path relative to the inputs' common folder, so the two talk files do not collide.
    assert (workdir / "predictions" / "spk1" / "talk.mp3.csv").is_file()
    assert (workdir / "predictions" / "spk2" / "talk.wav.csv").is_file()
    assert list((workdir / "predictions").rglob("*.png"))
    # Quick starts 1 and 2: the default model's outputs and summary, your own corpus end to end.
    assert (workdir / "my_predictions" / "spk1" / "talk.mp3.csv").is_file()
    assert len((workdir / "my_predictions" / "summary.csv").read_text().splitlines()) == 3
    assert list((workdir / "runs" / "mine" / "evaluation").glob("*/scores.json"))
    assert (workdir / "mine_predictions" / "s4_01.wav.csv").is_file()
    for block in PYTHON_BLOCK.finditer((REPO_ROOT / "README.md").read_text(encoding="utf-8")):
        exec(compile(block.group(1), "README.md", "exec"), {})  # raises if the snippet fails here
    assert len(ran) >= 16, ran


def setup_extras() -> set:
    """The keys of setup.py's EXTRAS dict, read with ast (setup.py runs setup() when imported)."""
    import ast

    tree = ast.parse((REPO_ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXTRAS" for t in node.targets):
            return {key.value for key in node.value.keys}
    raise AssertionError("setup.py has no EXTRAS dict")


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
