"""manifest.json validation: readers refuse missing, incomplete or other-version folders."""
import json

import pytest

from emorec.constants import SCHEMA_VERSION
from emorec.data.manifest import read_manifest, shard_paths, write_manifest
from emorec.errors import DatasetError


def manifest(**overrides):
    data = {
        "schema_version": SCHEMA_VERSION, "sample_rate_hz": 22050, "frame_rate_hz": 10,
        "label_names": ["arousal"], "partitions": {"train": {"shards": ["train-00000-of-00001.tfrecord"]}},
        "complete": True,
    }
    data.update(overrides)
    return data


def test_round_trip_and_shard_paths(tmp_path):
    write_manifest(tmp_path, manifest())
    (tmp_path / "train-00000-of-00001.tfrecord").write_bytes(b"")
    assert read_manifest(tmp_path)["label_names"] == ["arousal"]
    assert shard_paths(tmp_path, "train") == [tmp_path / "train-00000-of-00001.tfrecord"]
    assert not list(tmp_path.glob(".*tmp*"))  # the atomic write leaves no temp file


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "no manifest.json"),
        ("{not json", "not valid JSON"),
        (manifest(complete=False), "did not finish"),
        (manifest(schema_version=SCHEMA_VERSION + 1), "schema version"),
        ({"schema_version": SCHEMA_VERSION}, "missing keys"),
    ],
)
def test_bad_manifests_are_refused(tmp_path, content, problem):
    if content is not None:
        (tmp_path / "manifest.json").write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(DatasetError, match=problem):
        read_manifest(tmp_path)


def test_missing_folder_partition_and_shard(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        read_manifest(tmp_path / "nope")
    write_manifest(tmp_path, manifest())
    with pytest.raises(DatasetError, match="no partition 'devel'"):
        shard_paths(tmp_path, "devel")
    with pytest.raises(DatasetError, match="missing"):
        shard_paths(tmp_path, "train")
