"""Quiet by default: the CLI run as a user's shell or CI runs it (stdout and stderr not a terminal)
prints its own lines only, no TensorFlow start-up or log lines, no ANSI codes, no carriage returns;
`emorec --verbose` lets TensorFlow's lines through again.

The commands run as subprocesses: TensorFlow's C++ log level is read once, at import, and pytest's
own process imported TensorFlow long ago (tests/conftest.py).
"""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

#: What must not appear: TensorFlow's start-up notices, C++ log lines in either format (TSL's
#: `2026-01-01 12:00:00.0: I file.cc:1]` and absl's `I0000 00:00:...`), absl's Python lines.
NOISE = [
    re.compile(r"oneDNN custom operations|cpu_feature_guard|This TensorFlow binary is optimized"),
    re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] ", re.M),
    re.compile(r"^[IWE]0000 ", re.M),
    re.compile(r"absl::InitializeLog|^(WARNING|INFO):absl:", re.M),
    re.compile(r"Local rendezvous is aborting|oneDNN supports DT_"),
]
ANSI_OR_REDRAW = re.compile(r"\x1b\[|\r|\x08")

TINY_CONFIG = """\
name: tiny
data: {sequence_frames: 15, hop_frames: 15, batch_size: 8, shuffle_buffer: 16}
model: {cnn: {filters: [8, 16, 16], dropout: 0.0}, lstm_units: 16, lstm_dropout: 0.0}
training: {epochs: 2, steps_per_epoch: 2, learning_rate: 0.01, seed: 0}
"""


def emorec(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if key not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}  # conftest sets the first
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # stdout/stderr are pipes, as in CI or `emorec train ... > log 2>&1`.
    result = subprocess.run([sys.executable, "-c", "from emorec.cli import main; main()", *args], cwd=cwd,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def noise_in(text: str) -> list:
    return [pattern.pattern for pattern in NOISE if pattern.search(text)]


@pytest.fixture(scope="module")
def tiny_data(tiny_run_data) -> Path:
    return tiny_run_data


def test_the_noise_patterns_match_what_tensorflow_prints():
    # The check below is only as good as these patterns: each must catch a real line.
    samples = [
        "2026-11-29 17:40:30.020610: I tensorflow/core/util/port.cc:153] oneDNN custom operations are on.",
        "2026-11-29 17:41:04.146319: I tensorflow/core/framework/local_rendezvous.cc:404] Local rendezvous is "
        "aborting with status: OUT_OF_RANGE: End of sequence",
        "2025-08-01 13:52:25.403654: E tensorflow/core/util/util.cc:131] oneDNN supports DT_BOOL only on "
        "platforms with AVX-512.",
        "I0000 00:00:1795974168.210197   13283 devices.cc:76] Number of eligible GPUs (core count >= 8)",
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "WARNING:absl:Found untraced functions",
    ]
    for sample in samples:
        assert noise_in(sample), sample
    assert noise_in("trained 2 epochs; best development mean CCC 0.2850") == []


@pytest.mark.e2e
def test_info_is_quiet_and_verbose_is_not(tiny_data, tmp_path):
    quiet = emorec("info", str(tiny_data), cwd=tmp_path)
    assert "recordings" in quiet.stdout
    assert noise_in(quiet.stdout + quiet.stderr) == [], quiet.stderr
    assert quiet.stderr == ""
    loud = emorec("--verbose", "info", str(tiny_data), cwd=tmp_path)
    assert loud.stdout == quiet.stdout
    if platform.machine() in ("x86_64", "AMD64"):
        # x86 TensorFlow 2.17 always announces oneDNN at import: --verbose must let it through.
        assert noise_in(loud.stderr), loud.stderr


@pytest.mark.e2e
@pytest.mark.slow
def test_train_and_onnx_export_are_quiet(tiny_data, tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY_CONFIG, encoding="utf-8")
    result = emorec("train", "--config", "tiny.yaml", "--data", str(tiny_data), "--run-dir", "run", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert noise_in(output) == [], output
    assert not ANSI_OR_REDRAW.search(output), repr(output[:500])
    epoch_lines = [line for line in result.stdout.splitlines() if " - loss: " in line]
    assert len(epoch_lines) == 2, result.stdout  # one line per epoch, not a redrawn bar
    last = epoch_lines[-1]
    # Each number once: loss, CCC per dimension, mean CCC, for train and devel; no per-output loss.
    for key in ("loss", "arousal_ccc", "valence_ccc", "mean_ccc", "val_loss", "val_arousal_ccc",
                "val_valence_ccc", "val_mean_ccc"):
        assert last.count(f" {key}: ") == 1, (key, last)
    assert "arousal_loss" not in last and "valence_loss" not in last, last
    assert result.stdout.splitlines()[-1].startswith("trained 2 epochs")

    pytest.importorskip("tf2onnx")
    exported = emorec("export", "--run-dir", "run", "--out", "tiny.onnx", "--format", "onnx", cwd=tmp_path)
    assert (tmp_path / "tiny.onnx").is_file()
    assert noise_in(exported.stdout + exported.stderr) == [], exported.stderr
