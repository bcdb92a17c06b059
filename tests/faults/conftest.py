"""Fixtures of the fault tests: tiny generated data, a tiny config, and the CLI run in
a child process (so exit codes and stderr are the user's, and a child can be killed)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emorec.config import CNNConfig, DataConfig, ExperimentConfig, ModelConfig, TrainingConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


def child_env() -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`emorec ARGS` through `emorec.cli.main` in this process (TensorFlow is imported once, not per
    call): the exit code and stderr a user sees. An exception that `main` lets through is a
    traceback for the user, so it propagates and fails the test."""
    import contextlib
    import io
    from unittest import mock

    from emorec.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with mock.patch.object(sys, "argv", ["emorec", *map(str, args)]), \
            contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return subprocess.CompletedProcess(["emorec", *args], code, stdout.getvalue(), stderr.getvalue())


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The error line of a failed CLI call; fails the test on a traceback or a multi-line message."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:") or line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="session")
def tiny_data(train_only_data):
    """3 generated recordings in train, no devel (`train_only_data` of tests/conftest.py); the
    model overfits nothing, speed is the point."""
    return train_only_data


def tiny_config(**training) -> ExperimentConfig:
    """A model of a few thousand weights, no development set: each epoch is a couple of batches."""
    values = dict(epochs=3, steps_per_epoch=1, learning_rate=1e-2, seed=0)
    values.update(training)
    return ExperimentConfig(
        data=DataConfig(sequence_frames=10, hop_frames=10, batch_size=4, shuffle_buffer=4, devel_partition=None),
        model=ModelConfig(cnn=CNNConfig(filters=(4, 4, 4), dropout=0.0), lstm_units=4, lstm_dropout=0.0),
        training=TrainingConfig(**values),
    )


@pytest.fixture(scope="session")
def manifest_sources(tmp_path_factory):
    """Two small, different `manifest`-layout datasets (A: 3 train recordings, B: 2), as a user's
    CSV + WAV + label files."""
    from emorec.experiments.demo import synthetic_recordings, write_manifest_source

    root = tmp_path_factory.mktemp("sources")
    a = write_manifest_source(synthetic_recordings(recordings={"train": 3}, duration_s=(1, 1), seed=1), root / "a")
    b = write_manifest_source(synthetic_recordings(recordings={"train": 2}, duration_s=(1, 1), seed=2), root / "b")
    return a, b


def shard_record_counts(folder) -> dict:
    """{shard file name: records in it}, read back with tf.data."""
    import tensorflow as tf

    return {path.name: sum(1 for _ in tf.data.TFRecordDataset(str(path)))
            for path in sorted(Path(folder).glob("*.tfrecord"))}
