"""Sharded, atomic TFRecord writing and the per-partition statistics that go into the manifest.

A shard is written to `<final name>.partial` and renamed to its final name only when it is
complete, so a file named `<partition>-NNNNN-of-MMMMM.tfrecord` is never partial.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import tensorflow as tf

from emorec.data.schema import Recording

PARTIAL_SUFFIX = ".partial"


def shard_name(partition: str, index: int, count: int) -> str:
    return f"{partition}-{index:05d}-of-{count:05d}.tfrecord"


class ShardWriter:
    """Write serialised examples to one shard; `close()` publishes it, `abort()` deletes it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        self._writer: Optional[tf.io.TFRecordWriter] = tf.io.TFRecordWriter(str(self.partial))
        self.count = 0

    def write(self, serialized: bytes) -> None:
        self._writer.write(serialized)
        self.count += 1

    def close(self) -> Path:
        self._writer.close()
        self._writer = None
        os.replace(self.partial, self.path)
        return self.path

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.partial.unlink(missing_ok=True)


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
