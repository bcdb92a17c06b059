"""Helpers of the layout tests: reading a converted folder back (`write_wav` is in tests/conftest.py)."""
from __future__ import annotations

import pytest
import tensorflow as tf

from emorec.data.manifest import read_manifest, shard_paths
from emorec.data.schema import example_to_recording


def _recordings(out):
    found = {}
    for partition in read_manifest(out)["partitions"]:
        for path in shard_paths(out, partition):
            for raw in tf.data.TFRecordDataset(str(path)):
                recording = example_to_recording(raw.numpy())
                found[recording.name] = recording
    return found


@pytest.fixture
def recordings():
    """recordings(out) -> {name: Recording} of a converted folder, every partition."""
    return _recordings
