"""Helpers of the layout tests: small generated audio files and reading a converted folder back."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile as wavfile
import tensorflow as tf

from emorec.data.manifest import read_manifest, shard_paths
from emorec.data.schema import example_to_recording


def _write_wav(path: Path, rate_hz: int = 16_000, seconds: float = 0.45, seed: int = 0):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    tone = 0.3 * np.sin(2 * np.pi * (120 + 40 * seed) * t)
    wavfile.write(path, rate_hz, (tone * 32767).astype(np.int16))


def _recordings(out):
    found = {}
    for partition in read_manifest(out)["partitions"]:
        for path in shard_paths(out, partition):
            for raw in tf.data.TFRecordDataset(str(path)):
                recording = example_to_recording(raw.numpy())
                found[recording.name] = recording
    return found


@pytest.fixture
def write_wav():
    """write_wav(path, rate_hz=16000, seconds=0.45, seed=0): a 0.45 s int16 tone at `path`."""
    return _write_wav


@pytest.fixture
def recordings():
    """recordings(out) -> {name: Recording} of a converted folder, every partition."""
    return _recordings
