"""`verify_converted`: read every shard of a converted folder back and check it against the manifest.

`emorec info` trusts the manifest; a shard truncated or damaged after conversion (a copy cut
short, a disk error) only showed up as a `DataLossError` deep inside training. Here each shard is
checked for: presence, the SHA-256 the converter recorded (`shard_sha256`), a clean read of every
record (TFRecord CRCs), and the record count (`shard_records`, or the partition's `recordings`
for folders converted before per-shard counts were recorded).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from emorec.data.manifest import read_manifest
from emorec.errors import DatasetError, PathLike


def file_sha256(path: PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shard_matches(path: PathLike, sha256: Optional[str], size: Optional[int] = None) -> bool:
    """Whether the file at `path` is the shard the converter recorded: its SHA-256 (and size, a
    cheap first check, where recorded). False for a missing file and for no recorded checksum:
    without one nothing proves the file is the one written."""
    path = Path(path)
    if not sha256 or not path.is_file():
        return False
    if size is not None and path.stat().st_size != size:
        return False
    return file_sha256(path) == sha256


def count_records(path: PathLike) -> Tuple[int, str]:
    """(records read, problem or "") of one TFRecord file; a problem when a record fails to read."""
    import tensorflow as tf

    count = 0
    try:
        for _ in tf.data.TFRecordDataset(str(path)):
            count += 1
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError, tf.errors.InvalidArgumentError) as error:
        first = (error.message or "").strip().splitlines()[0][:120] if error.message else type(error).__name__
        return count, f"unreadable after record {count} ({first})"
    return count, ""


def verify_converted(folder: PathLike, manifest: Dict[str, Any], partitions=None) -> List[Tuple[str, str]]:
    """[(shard file name, problem)] for every shard of `partitions` (default all) that is missing,
    differs from its recorded checksum, cannot be read to its end, or holds another number of
    records than the manifest says. Empty when the folder is intact."""
    folder = Path(folder)
    problems: List[Tuple[str, str]] = []
    for partition, entry in manifest["partitions"].items():
        if partitions is not None and partition not in partitions:
            continue
        expected_records = entry.get("shard_records") or {}
        expected_sha = entry.get("shard_sha256") or {}
        total = 0
        for name in entry["shards"]:
            path = folder / name
            if not path.is_file():
                problems.append((name, "missing"))
                continue
            if name in expected_sha and not shard_matches(path, expected_sha[name]):
                problems.append((name, "checksum differs from the one recorded at conversion"))
            count, problem = count_records(path)
            total += count
            if problem:
                problems.append((name, problem))
            elif name in expected_records and count != expected_records[name]:
                problems.append((name, f"{count} records, the manifest says {expected_records[name]}"))
        if not expected_records and total != entry.get("recordings", total) and not problems:
            problems.append((f"partition {partition}", f"{total} records, the manifest says {entry['recordings']}"))
    return problems


def corrupt_data_message(folder: PathLike, damaged: List[Tuple[str, str]]) -> str:
    """The one line for damaged shards (`verify_converted`'s list): each named, and the fix."""
    listed = "; ".join(f"{name}: {problem}" for name, problem in damaged)
    return (f"{folder}: corrupt data ({listed}); convert the dataset again "
            "(`emorec info --verify` checks a folder)")


def require_intact(folder: PathLike, partitions: Sequence[str], manifest: Optional[Dict[str, Any]] = None) -> None:
    """Raise DatasetError (`corrupt_data_message`) unless every shard of `partitions` passes
    `verify_converted`: a reader that trusted the manifest would score a record appended to a
    shard, or stop on a damaged one with TensorFlow's `DataLossError`, which names no file."""
    manifest = manifest if manifest is not None else read_manifest(folder)
    damaged = verify_converted(folder, manifest, list(partitions))
    if damaged:
        raise DatasetError(corrupt_data_message(folder, damaged))
