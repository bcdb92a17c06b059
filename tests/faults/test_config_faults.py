"""Hostile configs and `--set` values: a YAML alias bomb, and sizes that would exhaust memory.

The alias bomb runs in a child process with its address space capped at 1 GiB, so that a
regression fails the test (MemoryError, a traceback) instead of eating the machine's memory.
"""
from __future__ import annotations

import resource
import subprocess
import sys
import time

import pytest

from emorec.config import ExperimentConfig, apply_overrides, load_config
from emorec.errors import ConfigError
from tests.faults.conftest import REPO_ROOT, child_env, one_line_error, run_cli

#: The classic nine levels of "billion laughs": 9^9 (387 M) strings from 800 bytes.
LEVELS = ["&a [" + ", ".join(['"lol"'] * 9) + "]"] + [
    f"&{name} [" + ", ".join([f"*{previous}"] * 9) + "]" for previous, name in zip("abcdefgh", "bcdefghi")]
BOMB_VALUE = "[" + ", ".join(LEVELS) + "]"
BOMB_FILE = "name: lol\ndescription:\n" + "".join(f"  - {level}\n" for level in LEVELS)

_MEMORY_CAP = 1 << 30


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_CAP, _MEMORY_CAP))


def run_capped_cli(*args: str) -> tuple:
    """`emorec ARGS` in a child limited to 1 GiB: (result, seconds)."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "emorec.cli", *args], capture_output=True, text=True,
                            cwd=REPO_ROOT, env=child_env(), preexec_fn=_capped, timeout=120)
    return result, time.perf_counter() - started


@pytest.mark.e2e
def test_alias_bomb_in_set_is_one_bounded_line_within_seconds(tmp_path):
    result, seconds = run_capped_cli("train", "--config", str(REPO_ROOT / "emorec" / "resources" / "demo.yaml"),
                                     "--data", str(tmp_path / "data"), "--run-dir", str(tmp_path / "run"),
                                     "--set", f"description={BOMB_VALUE}")
    line = one_line_error(result)
    assert seconds < 10, seconds  # was 2.6 GB and still growing after 60 s
    assert line.startswith("error: --set: description: YAML anchors and aliases"), line
    assert "'[&a [" in line and len(line) < 300, line  # the raw text, cut short
    assert not (tmp_path / "run").exists()


@pytest.mark.e2e
def test_alias_bomb_in_a_config_file_names_the_file_and_line(tmp_path):
    config = tmp_path / "bomb.yaml"
    config.write_text(BOMB_FILE, encoding="utf-8")
    result, seconds = run_capped_cli("train", "--config", str(config), "--data", str(tmp_path / "data"),
                                     "--run-dir", str(tmp_path / "run"))
    line = one_line_error(result)
    assert seconds < 10, seconds
    assert line.startswith(f"error: {config}: YAML anchors and aliases"), line
    assert "line 3: '- &a [" in line and len(line) < 300, line


@pytest.mark.parametrize("text", ["a: &x 1\nb: 2\n", "training: {epochs: &e 3, seed: *e}\n"])
def test_any_anchor_in_a_file_is_refused(tmp_path, text):
    config = tmp_path / "anchor.yaml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"anchor\.yaml: YAML anchors and aliases .* \(line 1: "):
        load_config(config)


def test_a_long_wrong_value_is_quoted_short():
    long_value = "[" + ", ".join(["x" * 100] * 1000) + "]"  # 100 kB, no alias
    with pytest.raises(ConfigError) as caught:
        apply_overrides(ExperimentConfig(), [f"description={long_value}"])
    message = str(caught.value)
    assert message.startswith("--set: description: expected str, got ['xxx") and len(message) < 300, message


# --- sizes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("override, key, limit", [
    ("data.sequence_frames=100000000", "data.sequence_frames", "<= 36000"),
    ("data.hop_frames=36001", "data.hop_frames", "<= 36000"),
    ("data.batch_size=4097", "data.batch_size", "<= 4096"),
    ("data.shuffle_buffer=100001", "data.shuffle_buffer", "<= 100000"),
    ("data.interleave_cycle_length=257", "data.interleave_cycle_length", "<= 256"),
    ("model.lstm_units=1000000", "model.lstm_units", "<= 4096"),
    ("model.cnn.filters=[50, 125, 5000]", "model.cnn.filters[2]", "<= 4096"),
    ("model.cnn.kernel_sizes=[2206, 6, 6]", "model.cnn.kernel_sizes[0]", "<= 2205"),
    ("model.cnn.pool_sizes=[10, 5, 2206]", "model.cnn.pool_sizes[2]", "<= 2205"),
    ("model.fusion.projection_units=4097", "model.fusion.projection_units", "<= 4096"),
    ("model.fusion.head_units=4097", "model.fusion.head_units", "<= 4096"),
    ("model.semantic_features.dim=4097", "model.semantic_features.dim", "<= 4096"),
    ("evaluation.batch_recordings=257", "evaluation.batch_recordings", "<= 256"),
    ("evaluation.max_delay_frames=36001", "evaluation.max_delay_frames", "<= 36000"),
    ("evaluation.median_windows=[3, 36001]", "evaluation.median_windows[1]", "<= 36000"),
    ("semantic.word2vec.vector_size=4097", "semantic.word2vec.vector_size", "<= 4096"),
    ("semantic.speech2vec.encoder_units=4097", "semantic.speech2vec.encoder_units", "<= 4096"),
    ("semantic.speech2vec.decoder_units=4097", "semantic.speech2vec.decoder_units", "<= 4096"),
    ("semantic.speech2vec.dim=4097", "semantic.speech2vec.dim", "<= 4096"),
    ("semantic.speech2vec.batch_size=4097", "semantic.speech2vec.batch_size", "<= 4096"),
    ("semantic.speech2vec.max_frames=6001", "semantic.speech2vec.max_frames", "<= 6000"),
    ("semantic.speech2vec.window=101", "semantic.speech2vec.window", "<= 100"),
    ("semantic.alignment.batch_size=4097", "semantic.alignment.batch_size", "<= 4096"),
    ("semantic.alignment.discriminator_hidden=4097", "semantic.alignment.discriminator_hidden", "<= 4096"),
    ("semantic.alignment.discriminator_layers=65", "semantic.alignment.discriminator_layers", "<= 64"),
])
def test_sizes_over_their_limit_are_refused_stating_the_limit(override, key, limit):
    with pytest.raises(ConfigError) as caught:
        apply_overrides(ExperimentConfig(), [override])
    assert caught.value.key == key and limit in caught.value.problem, caught.value


def test_sizes_at_their_limit_are_accepted():
    config = apply_overrides(ExperimentConfig(), [
        "data.sequence_frames=36000", "data.hop_frames=36000", "data.batch_size=4096", "model.lstm_units=4096",
        "model.cnn.filters=[4096, 4096, 4096]", "model.cnn.kernel_sizes=[2205, 6, 6]", "data.shuffle_buffer=100000"])
    assert (config.data.sequence_frames, config.model.lstm_units) == (36000, 4096)
    assert config.model.cnn.filters == (4096, 4096, 4096)


@pytest.mark.parametrize("override, key", [("data.sequence_frames=1e8", "data.sequence_frames"),
                                           ("model.lstm_units=1e6", "model.lstm_units"),
                                           ("data.batch_size=2.0", "data.batch_size")])
def test_a_float_for_an_integer_field_is_a_type_error(tmp_path, override, key):
    """`1e8` reads as a float, as in YAML 1.2 (the config's rule for exponents), even though it is
    whole: an integer field refuses it before anything is built (it was an OOM after 67 s)."""
    result = run_cli("train", "--config", str(REPO_ROOT / "emorec" / "resources" / "demo.yaml"), "--data", str(tmp_path / "d"),
                     "--run-dir", str(tmp_path / "run"), "--set", override)
    line = one_line_error(result)
    assert f"--set: {key}: expected an integer, got the float " in line, line


def test_a_huge_size_in_a_config_file_names_the_file_key_and_limit(tmp_path):
    config = tmp_path / "huge.yaml"
    config.write_text("data:\n  sequence_frames: 100000000\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"huge\.yaml: data\.sequence_frames: must be >= 1 and <= 36000, "
                                          r"got 100000000$"):
        load_config(config)
