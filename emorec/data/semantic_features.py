"""A semantic features folder: its layout, `semantic.json`, the feature schema, writing and reading.

`emorec semantic features` (`emorec.semantic.features.add_semantic_features`) computes the
features; this module owns how they are stored, so the writer, the tf.data pipeline and the export
read one contract. `<converted>/semantic/<source>-<boundaries>/` (`semantic_features_dir`) holds
- `<partition>-NNNNN-of-MMMMM.tfrecord`, one per source shard (same name), one tf.train.Example per
  recording: `name` bytes, `num_frames` int64, `dim` int64, `features` bytes (float32
  little-endian, row-major `[num_frames, dim]`), `word_mask` bytes (float32 `[num_frames]`, 1 where
  a word covers the frame);
- `semantic.json`: `{"schema_version", "source", "boundaries", "dim", "artefacts_dir",
  "segmenter", "sample_rate_hz", "converted_dir", "partitions": {p: {"shards": [...],
  "shard_recordings": [n per shard], "recordings": n, "frames": f, "word_frames": w}},
  "complete": true}`, written last and atomically; while a run is in progress it says
  `"complete": false`, and a shard is named `<name>.partial` until it is whole.
Join them to the recordings by `name` (`read_semantic_features` or `parse_semantic_example`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from emorec.config import SEGMENTER_ALGORITHM, SegmenterConfig, SemanticFeaturesConfig
from emorec.errors import ConfigError, DatasetError, PathLike

SOURCES = ("word2vec", "speech2vec", "aligned_speech2vec")
BOUNDARIES = ("given", "segmenter")
#: Metadata file of a semantic features folder.
FEATURES_METADATA = "semantic.json"


def semantic_features_dir(data_dir: PathLike, source: str, boundaries: str) -> Path:
    """Where `emorec semantic features` writes a setting's features by default:
    `<data_dir>/semantic/<source>-<boundaries>/`."""
    return Path(data_dir) / "semantic" / f"{source}-{boundaries}"


def read_metadata(folder: PathLike, *, missing: Optional[str] = None) -> dict:
    """A features folder's `semantic.json`, complete: the one checked reader. A `DatasetError`
    in one line naming the file when it is absent (`missing`: the fix to name), not JSON, not an
    object, or left incomplete by an interrupted writer."""
    path = Path(folder) / FEATURES_METADATA
    if not path.is_file():
        raise DatasetError(f"{folder}: no semantic features ({FEATURES_METADATA} missing)"
                           + (f"; {missing}" if missing else ""))
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: not readable as JSON ({error})") from None
    if not isinstance(meta, dict):
        raise DatasetError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    if meta.get("complete") is not True:
        raise DatasetError(f"{path}: the semantic features were not completely written; rerun the command")
    return meta


def resolve_semantic_features(
    data_dir: PathLike,
    semantic: SemanticFeaturesConfig,
    *,
    segmenter: Optional[SegmenterConfig] = None,
    features_dir: Optional[PathLike] = None,
    config_source: str = "<config>",
) -> Optional[Tuple[Path, int]]:
    """The semantic features folder and its vector size for a model config, or None when the
    semantic branch is off (`semantic.source == "none"`).

    features_dir defaults to `semantic_features_dir(data_dir, source, boundaries)`. The folder must be a
    complete features folder of the same source and boundaries as the config, with
    `semantic.dim`-wide vectors: a `DatasetError` (missing or incomplete folder, with the command
    that writes it) or a `ConfigError` on `model.semantic_features.*` (mismatch) otherwise.
    segmenter: the experiment config's `semantic.segmenter` (default: its defaults, as
    `emorec semantic features` without `--config` uses). With `semantic.boundaries == "segmenter"`
    the folder must have been segmented with exactly these settings: a `ConfigError` on
    `semantic.segmenter` naming each differing setting otherwise.
    """
    if semantic.source == "none":
        return None
    folder = Path(features_dir) if features_dir is not None else semantic_features_dir(data_dir, semantic.source, semantic.boundaries)
    meta = read_metadata(folder, missing=(
        f"write them with `emorec semantic features {data_dir} --source {semantic.source} --boundaries "
        f"{semantic.boundaries} --artefacts {semantic.artefacts_dir or 'ARTEFACTS'}`"))
    for key in ("source", "boundaries"):
        if meta.get(key) != getattr(semantic, key):
            raise ConfigError(config_source, f"model.semantic_features.{key}",
                              f"{getattr(semantic, key)!r}, but the features in {folder} are {meta.get(key)!r}")
    if meta.get("dim") != semantic.dim:
        raise ConfigError(config_source, "model.semantic_features.dim",
                          f"{semantic.dim}, but the features in {folder} have {meta.get('dim')} dimensions")
    if semantic.boundaries == "segmenter":
        _check_segmenter(folder, meta, segmenter or SegmenterConfig(), data_dir, semantic, features_dir,
                         config_source)
    return folder, int(meta["dim"])


def _check_segmenter(folder: Path, meta: dict, segmenter: SegmenterConfig, data_dir: PathLike,
                     semantic: SemanticFeaturesConfig, features_dir: Optional[PathLike], config_source: str) -> None:
    """Refuse features whose recorded segmenter settings differ from the config's: other settings
    find other words, so a model would silently train or be scored on features its config does
    not describe."""
    expected = segmenter.to_dict()
    recorded = meta.get("segmenter")
    command = (f"`emorec semantic features {data_dir} --source {semantic.source} --boundaries segmenter "
               f"--artefacts {meta.get('artefacts_dir') or semantic.artefacts_dir or 'ARTEFACTS'} "
               f"--config {config_source if Path(config_source).is_file() else 'CONFIG'}"
               + (f" --out {folder}" if features_dir is not None else "") + "`")
    fix = f"rewrite them with {command} or set semantic.segmenter to the features' settings"
    # A folder without settings is refused, as a missing source, boundaries or dim is above: the
    # writer has recorded them since segmenter features exist, so their absence is not an old
    # folder to be trusted but one that cannot be checked.
    if not isinstance(recorded, dict):
        raise ConfigError(config_source, "semantic.segmenter",
                          f"the features in {folder} record no segmenter settings ({FEATURES_METADATA}); {fix}")

    revision = meta.get("segmenter_algorithm")
    if revision != SEGMENTER_ALGORITHM:
        written = f"revision {revision}" if revision is not None else "a revision before they were recorded"
        raise ConfigError(config_source, "semantic.segmenter",
                          f"the features in {folder} were segmented by {written} of the segmenter, which finds other "
                          f"words than this emorec's (revision {SEGMENTER_ALGORITHM}); rewrite them with {command}")

    def shown(settings: dict, key: str) -> str:
        return repr(settings[key]) if key in settings else "absent"

    differing = [f"{key}: config {shown(expected, key)}, features {shown(recorded, key)}"
                 for key in [*expected, *(k for k in recorded if k not in expected)]
                 if key not in expected or key not in recorded or expected[key] != recorded[key]]
    if differing:
        raise ConfigError(config_source, "semantic.segmenter",
                          f"the features in {folder} were segmented with other settings ({'; '.join(differing)}); "
                          f"{fix}")


def semantic_partition_files(semantic_dir: PathLike, partition: str, files: Sequence[str]) -> List[str]:
    """The semantic feature shards matching the recording shards `files` of `partition`.

    Each must exist and be listed under the same partition in the folder's metadata, with the same
    file name as its recording shard; a `DatasetError` naming the file otherwise.
    """
    semantic_dir = Path(semantic_dir)
    meta_path = semantic_dir / FEATURES_METADATA
    meta = read_metadata(semantic_dir)
    listed = meta.get("partitions", {}).get(partition, {}).get("shards")
    if not listed:
        raise DatasetError(f"{meta_path}: no semantic features for partition {partition!r}")
    wanted = [Path(f).name for f in files]
    if list(listed) != wanted:
        raise DatasetError(f"{meta_path}: partition {partition!r} has feature shards {listed}, but the data has "
                           f"{wanted}; rewrite the features for this converted folder")
    out = [str(semantic_dir / name) for name in wanted]
    missing = [f for f in out if not Path(f).is_file()]
    if missing:
        raise DatasetError(f"{missing[0]}: semantic feature shard listed in {FEATURES_METADATA} is missing")
    return out


def features_dim(semantic_dir: PathLike) -> int:
    return int(read_metadata(semantic_dir)["dim"])


def features_example(name: str, features: np.ndarray, word_mask: np.ndarray) -> tf.train.Example:
    def raw(array):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[np.ascontiguousarray(array, "<f4").tobytes()]))

    feature = {
        "name": tf.train.Feature(bytes_list=tf.train.BytesList(value=[name.encode()])),
        "num_frames": tf.train.Feature(int64_list=tf.train.Int64List(value=[features.shape[0]])),
        "dim": tf.train.Feature(int64_list=tf.train.Int64List(value=[features.shape[1]])),
        "features": raw(features),
        "word_mask": raw(word_mask),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


FEATURES_SPEC = {
    "name": tf.io.FixedLenFeature([], tf.string),
    "num_frames": tf.io.FixedLenFeature([], tf.int64),
    "dim": tf.io.FixedLenFeature([], tf.int64),
    "features": tf.io.FixedLenFeature([], tf.string),
    "word_mask": tf.io.FixedLenFeature([], tf.string),
}


def parse_semantic_example(serialized: tf.Tensor, dim: int) -> Dict[str, tf.Tensor]:
    """Graph-safe parse: `name`, `features [frames, dim]`, `word_mask [frames]`."""
    parsed = tf.io.parse_single_example(serialized, FEATURES_SPEC)
    frames = tf.cast(parsed["num_frames"], tf.int32)
    return {
        "name": parsed["name"],
        "features": tf.reshape(tf.io.decode_raw(parsed["features"], tf.float32), [frames, dim]),
        "word_mask": tf.reshape(tf.io.decode_raw(parsed["word_mask"], tf.float32), [frames]),
    }


def read_semantic_features(folder: PathLike, partitions: Optional[Sequence[str]] = None) -> Dict[str, np.ndarray]:
    """`{recording name: features [frames, dim]}` from a features folder written by
    `add_semantic_features`."""
    folder = Path(folder)
    meta = read_metadata(folder, missing="not a semantic features folder")
    out: Dict[str, np.ndarray] = {}
    for name, info in meta["partitions"].items():
        if partitions is not None and name not in partitions:
            continue
        for shard in info["shards"]:
            for serialized in tf.data.TFRecordDataset(str(folder / shard)).as_numpy_iterator():
                example = tf.train.Example.FromString(serialized)
                f = example.features.feature
                frames, dim = f["num_frames"].int64_list.value[0], f["dim"].int64_list.value[0]
                out[f["name"].bytes_list.value[0].decode()] = np.frombuffer(
                    f["features"].bytes_list.value[0], "<f4").reshape(frames, dim).copy()
    return out


def load_metadata_unchecked(folder: Path) -> Optional[dict]:
    """`semantic.json` as stored (complete or not), or None when absent or unreadable."""
    try:
        meta = json.loads((folder / FEATURES_METADATA).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def write_metadata(folder: Path, meta: dict) -> Path:
    """Write `semantic.json` atomically (temp file in the same folder, then rename), so a reader
    sees the old file or the new one, never half of one."""
    path = folder / FEATURES_METADATA
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(meta, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    return path


def reusable_partitions(previous: Optional[dict], output: Path, setting: dict, manifest: dict,
                         rewritten: Sequence[str]) -> Dict[str, dict]:
    """The partitions of an earlier run worth keeping beside the ones being rewritten: same
    source, boundaries, artefacts and segmenter, every shard present, and the same shard names as
    the converted data has now. (The dim is checked once the new vectors are known.)"""
    if not previous or not isinstance(previous.get("partitions"), dict):
        return {}
    if any(previous.get(key) != value for key, value in setting.items()):
        return {}
    kept = {}
    for name, info in previous["partitions"].items():
        if name in rewritten or name not in manifest["partitions"]:
            continue
        shards = info.get("shards") if isinstance(info, dict) else None
        if not shards or list(shards) != [Path(s).name for s in manifest["partitions"][name]["shards"]]:
            continue
        if all((output / shard).is_file() for shard in shards):
            kept[name] = info
    return kept
