"""Shard planning and the per-partition statistics that go into the manifest (the shards
themselves are written by `emorec.data.shards.ShardWriter`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from emorec.data.schema import Recording
from emorec.data.shards import ShardWriter, shard_name


class PartitionStats:
    """Counts, duration and masked label statistics of the recordings written to a partition."""

    def __init__(self, num_dimensions: int):
        self.recordings = 0
        self.frames = 0
        self.num_samples = 0
        self.words = 0
        self.labelled_frames = 0
        self.label_sum = np.zeros(num_dimensions, dtype=np.float64)
        self.label_min = np.full(num_dimensions, np.inf)
        self.label_max = np.full(num_dimensions, -np.inf)

    def add(self, recording: Recording) -> None:
        self.recordings += 1
        self.frames += recording.num_frames
        self.num_samples += recording.num_samples
        self.words += len(recording.words)
        real = recording.labels[recording.label_mask > 0]
        if real.shape[0]:
            self.labelled_frames += real.shape[0]
            self.label_sum += real.sum(axis=0, dtype=np.float64)
            self.label_min = np.minimum(self.label_min, real.min(axis=0))
            self.label_max = np.maximum(self.label_max, real.max(axis=0))

    def merge(self, other: "PartitionStats") -> None:
        for key in ("recordings", "frames", "num_samples", "words", "labelled_frames"):
            setattr(self, key, getattr(self, key) + getattr(other, key))
        self.label_sum += other.label_sum
        self.label_min = np.minimum(self.label_min, other.label_min)
        self.label_max = np.maximum(self.label_max, other.label_max)

    def to_dict(self, sample_rate_hz: int) -> Dict[str, Any]:
        has = self.labelled_frames > 0
        return {
            "recordings": self.recordings,
            "frames": self.frames,
            "num_samples": self.num_samples,
            "duration_s": self.num_samples / sample_rate_hz,
            "words": self.words,
            "labelled_frames": self.labelled_frames,
            "label_mean": (self.label_sum / self.labelled_frames).tolist() if has else None,
            "label_min": self.label_min.tolist() if has else None,
            "label_max": self.label_max.tolist() if has else None,
            # raw sums so that a resumed run can merge shard statistics exactly
            "_label_sum": self.label_sum.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any], num_dimensions: int) -> "PartitionStats":
        stats = cls(num_dimensions)
        for key in ("recordings", "frames", "num_samples", "words", "labelled_frames"):
            setattr(stats, key, int(data[key]))
        stats.label_sum = np.asarray(data["_label_sum"], dtype=np.float64)
        if data["label_min"] is not None:
            stats.label_min = np.asarray(data["label_min"], dtype=np.float64)
            stats.label_max = np.asarray(data["label_max"], dtype=np.float64)
        return stats


def plan_shards(sizes_bytes: List[float], target_bytes: float) -> List[List[int]]:
    """Greedy, order-preserving grouping of item indices into shards of at most `target_bytes`
    (an item larger than the target gets a shard of its own). Always at least one shard."""
    shards: List[List[int]] = [[]]
    current = 0.0
    for index, size in enumerate(sizes_bytes):
        if shards[-1] and current + size > target_bytes:
            shards.append([])
            current = 0.0
        shards[-1].append(index)
        current += size
    return shards


def write_recordings(recordings, output_dir, *, source: str = "in-memory",
                     derived_targets: bool = False) -> Path:
    """Write in-memory `Recording`s as a converted folder: one shard per partition, then the manifest.

    For data that is already on the frame grid (generated data, tests, a user's own pipeline);
    files on disk go through `convert_dataset`. Returns the folder.
    """
    from emorec.constants import FRAME_RATE_HZ, SAMPLE_RATE_HZ, SCHEMA_VERSION
    from emorec.data.manifest import write_manifest
    from emorec.data.schema import recording_to_example

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    by_partition: Dict[str, List[Recording]] = {}
    for recording in recordings:
        by_partition.setdefault(recording.partition, []).append(recording)
    if not by_partition:
        raise ValueError("write_recordings needs at least one recording")
    label_names = list(next(iter(by_partition.values()))[0].label_names)
    partitions = {}
    for partition, items in by_partition.items():
        stats = PartitionStats(len(label_names))
        writer = ShardWriter(output_dir / shard_name(partition, 0, 1))
        try:
            for recording in items:
                if list(recording.label_names) != label_names:
                    raise ValueError(f"{recording.name}: labels {list(recording.label_names)} differ from {label_names}")
                writer.write(recording_to_example(recording).SerializeToString())
                stats.add(recording)
        except BaseException:
            writer.abort()
            raise
        name = writer.close().name
        partitions[partition] = {"shards": [name], **stats.to_dict(SAMPLE_RATE_HZ),
                                 "shard_records": {name: writer.count}, "shard_sha256": {name: writer.sha256}}
    write_manifest(output_dir, {
        "schema_version": SCHEMA_VERSION,
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "frame_rate_hz": FRAME_RATE_HZ,
        "label_names": label_names,
        "derived_targets": derived_targets,
        "source_layout": "recordings",
        "source": source,
        "options": {},
        "partitions": partitions,
        "skipped": [],
        "label_length_policy_counts": {},
        "complete": True,
    })
    return output_dir
