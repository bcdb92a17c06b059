"""`manifest.json`: what a converted folder holds, written last by the converter.

Readers call `read_manifest(folder)`, which refuses a folder whose conversion did not finish
(`complete` is not true), whose schema version differs from this code's, or that has no manifest.

Keys (see the converter for how each is computed):
    schema_version, sample_rate_hz, frame_rate_hz, label_names, derived_targets, source_layout,
    source, options, partitions{name: {shards, recordings, frames, duration_s, words,
    label_mean, label_min, label_max, labelled_frames}}, skipped[{file, reason}],
    label_length_policy_counts, recordings_without_words, joined_recordings (recording name ->
    the audio files joined into it, in order, relative to the source: emodb --sessions), notes, complete
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from emorec.constants import MANIFEST_FILENAME, SCHEMA_VERSION
from emorec.errors import DatasetError, PathLike

REQUIRED_KEYS = ("schema_version", "sample_rate_hz", "frame_rate_hz", "label_names", "partitions", "complete")


def manifest_path(folder: PathLike) -> Path:
    return Path(folder) / MANIFEST_FILENAME


def load_manifest_unchecked(folder: PathLike) -> Optional[Dict[str, Any]]:
    """The manifest as stored, or None if there is none or it does not parse (no validation)."""
    path = manifest_path(folder)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_manifest(folder: PathLike) -> Dict[str, Any]:
    """Load and validate `<folder>/manifest.json`. Raises DatasetError naming the folder and problem."""
    folder = Path(folder)
    path = manifest_path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder (convert a dataset into it with `emorec convert`)")
    if not path.is_file():
        raise DatasetError(f"{folder}: no {MANIFEST_FILENAME}; not a converted dataset (run `emorec convert`)")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except ValueError as error:
        raise DatasetError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise DatasetError(f"{path}: missing keys {missing}")
    if data["schema_version"] != SCHEMA_VERSION:
        raise DatasetError(
            f"{path}: schema version {data['schema_version']}, this emorec reads version {SCHEMA_VERSION}; "
            "convert the dataset again"
        )
    if data["complete"] is not True:
        raise DatasetError(f"{path}: the conversion did not finish (complete is false); run `emorec convert` again")
    return data


def write_manifest(folder: PathLike, manifest: Dict[str, Any]) -> Path:
    """Write atomically: a temp file in the same folder, then rename over the old one."""
    path = manifest_path(folder)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    return path


def shard_paths(folder: PathLike, partition: str, manifest: Optional[Dict[str, Any]] = None) -> List[Path]:
    """The shard files of one partition, checked to exist. Raises DatasetError otherwise."""
    folder = Path(folder)
    manifest = manifest if manifest is not None else read_manifest(folder)
    partitions = manifest["partitions"]
    if partition not in partitions:
        raise DatasetError(f"{folder}: no partition {partition!r} (has {sorted(partitions)})")
    paths = [folder / name for name in partitions[partition]["shards"]]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DatasetError(f"{folder}: shard files listed in {MANIFEST_FILENAME} are missing: {missing}")
    return paths


def unlabelled_partition_message(folder: PathLike, partition: str) -> str:
    """The one-line refusal of scoring a partition without labels (e.g. a SEWA release's test set,
    whose labels are kept back: converted with every label mask 0)."""
    return (f"{folder}: partition {partition!r} has no labels (every label mask is 0), so it cannot be scored; "
            f"score a labelled partition, e.g. --partition devel (or evaluation.partition: devel in the config)")


def require_labelled_partition(folder: PathLike, partition: str, manifest: Optional[Dict[str, Any]] = None) -> None:
    """Raise `DatasetError` when `partition` is missing or, by the manifest's `labelled_frames`,
    has no labelled frame. A manifest without that count passes (the scores' masks decide later)."""
    manifest = manifest if manifest is not None else read_manifest(folder)
    partitions = manifest["partitions"]
    if partition not in partitions:
        raise DatasetError(f"{folder}: no partition {partition!r} (has {sorted(partitions)})")
    if partitions[partition].get("labelled_frames") == 0:
        raise DatasetError(unlabelled_partition_message(folder, partition))
