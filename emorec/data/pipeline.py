"""The tf.data input pipeline: shards -> parsed recordings -> fixed-length windows -> batches.

Everything on the hot path is a TensorFlow op (no Python generator), so the pipeline runs in
parallel with training and under any `tf.distribute` strategy:

    list shards -> interleave(TFRecordDataset) -> parse_recording -> window (flat_map)
        -> shuffle -> batch -> prefetch(AUTOTUNE)

A training element is `(inputs, targets)`:

- `inputs["audio"]`: float32 `[batch, sequence_frames, FRAME_LENGTH_SAMPLES]`;
- `targets[dimension]`: float32 `[batch, sequence_frames, 2]`, channel 0 the gold label, channel 1
  the frame mask (1 for a real label, 0 for padding or a missing label). Packing the mask into the
  target lets the concordance loss and metrics (`emorec.training.losses`) skip padded frames
  under `model.fit`, where a per-element sample weight cannot express a correlation.
- with `semantic_dir`, also `inputs["semantic"]`: float32 `[batch, sequence_frames, dim]`.

Semantic features are joined in the graph: `emorec semantic features` writes one feature shard per
recording shard, with the same file name and the recordings in the same order, so each pair of
files is read with `Dataset.zip` inside the interleave and every record's names are asserted equal
(a folder written from other shards fails loudly instead of misaligning). This streams: nothing is
held in memory and the shards stay shuffled and interleaved as before. (The alternative, loading
every recording's features once into a static tensor / `tf.lookup` table keyed by name, would also
keep Python off the hot path and tolerate any record order, but holds the whole feature set in
memory - fine for EmoDB's 5 MB, not for large corpora - and still needs a name-to-row table.)
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from emorec.config import DataConfig, NormalisationConfig
from emorec.constants import AUDIO_INPUT, MANIFEST_FILENAME, SEMANTIC_INPUT
from emorec.data.augmentation import augment_windows
from emorec.data.manifest import read_manifest, shard_paths
from emorec.data.normalisation import normalise_recordings
from emorec.data.schema import FEATURE_SPEC, parse_recording, records_with_speakers
from emorec.data.semantic_features import features_dim, parse_semantic_example, semantic_partition_files
from emorec.errors import DatasetError, PathLike

AUTOTUNE = tf.data.AUTOTUNE

#: Windows per batch outside training with `group_by_speaker` (at least the batch size): enough
#: for a speaker's statistics to come from minutes of audio, few enough to fit in memory.
SPEAKER_EVALUATION_WINDOWS = 64

#: Recordings per batch in `recordings_for_prediction` with `group_by_speaker` (at least
#: `batch_recordings`).
SPEAKER_EVALUATION_RECORDINGS = 32

#: Per-frame fields cut into windows along with the audio.
FRAME_FIELDS = ("audio", "labels")

#: Maps a parsed recording (dict of tensors) to extra per-frame features `{name: [frames, ...]}`;
#: they are windowed like the audio and appear under their names in `inputs`.
FrameFeatureFn = Callable[[Dict[str, tf.Tensor]], Dict[str, tf.Tensor]]


def partition_files(data_dir: PathLike, partition: str, manifest: Optional[dict] = None) -> List[str]:
    """Paths of the shards of `partition`, checked to exist; a `DatasetError` if it is absent or empty."""
    files = [str(path) for path in shard_paths(data_dir, partition, manifest)]
    if not files:
        raise DatasetError(f"{Path(data_dir) / MANIFEST_FILENAME}: partition {partition!r} has no shards")
    return files


def read_recordings(
    files: Sequence[str],
    num_dimensions: int,
    *,
    shuffle_files: bool = False,
    cycle_length: int = 4,
    seed: Optional[int] = None,
    semantic_files: Optional[Sequence[str]] = None,
    semantic_dim: Optional[int] = None,
) -> tf.data.Dataset:
    """Parsed recordings (dicts as `parse_recording` returns) from interleaved shards.

    semantic_files: one semantic feature shard per recording shard (same order, same records);
    each recording then also holds `semantic` float32 `[frames, semantic_dim]`.
    """
    cycle_length = max(1, min(cycle_length, len(files)))
    if semantic_files is None:
        dataset = tf.data.Dataset.from_tensor_slices(list(files))
        if shuffle_files:
            dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.interleave(
            tf.data.TFRecordDataset,
            cycle_length=cycle_length,
            num_parallel_calls=AUTOTUNE,
            deterministic=True,  # repeatable runs for a given seed
        )
        return dataset.map(lambda s: parse_recording(s, num_dimensions), num_parallel_calls=AUTOTUNE, deterministic=True)

    if len(semantic_files) != len(files) or semantic_dim is None:
        raise ValueError("read_recordings needs one semantic shard per recording shard and semantic_dim")
    dataset = tf.data.Dataset.from_tensor_slices((list(files), list(semantic_files)))
    if shuffle_files:  # pairs are shuffled together
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.interleave(
        lambda audio_file, semantic_file: tf.data.Dataset.zip(
            (tf.data.TFRecordDataset(audio_file), tf.data.TFRecordDataset(semantic_file))
        ),
        cycle_length=cycle_length,
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )

    def parse_pair(serialized, serialized_semantic):
        recording = parse_recording(serialized, num_dimensions)
        semantic = parse_semantic_example(serialized_semantic, semantic_dim)
        checks = [
            tf.debugging.assert_equal(recording["name"], semantic["name"],
                                      message="semantic feature shard out of step with the recording shard"),
            tf.debugging.assert_equal(tf.shape(semantic["features"])[0], tf.shape(recording["audio"])[0],
                                      message="semantic features and audio differ in frames"),
        ]
        with tf.control_dependencies(checks):
            features = tf.identity(semantic["features"])
        return {**recording, SEMANTIC_INPUT: features}

    return dataset.map(parse_pair, num_parallel_calls=AUTOTUNE, deterministic=True)


def window_recording(
    recording: Dict[str, tf.Tensor], sequence_frames: int, hop_frames: int, fields: Sequence[str]
) -> tf.data.Dataset:
    """Cut the per-frame `fields` of one recording into windows of `sequence_frames` frames.

    Windows start every `hop_frames` frames; their number is 1 + ceil((F - S) / hop) for F > S
    frames, else 1, so every frame is in some window. The tail is zero-padded and the returned
    `mask` `[windows, S]` is 0 there (and where `label_mask` is 0).
    """
    num_frames = tf.shape(recording["audio"])[0]
    extra = tf.maximum(num_frames - sequence_frames, 0)
    num_windows = 1 + (extra + hop_frames - 1) // hop_frames
    padded_frames = (num_windows - 1) * hop_frames + sequence_frames
    pad = padded_frames - num_frames
    windows = {}
    for name in fields:
        value = recording[name]
        paddings = tf.concat([[[0, pad]], tf.zeros([tf.rank(value) - 1, 2], tf.int32)], axis=0)
        windows[name] = tf.signal.frame(tf.pad(value, paddings), sequence_frames, hop_frames, axis=0)
    valid = tf.pad(recording["label_mask"], [[0, pad]])
    windows["mask"] = tf.signal.frame(valid, sequence_frames, hop_frames, axis=0)
    return tf.data.Dataset.from_tensor_slices(windows)


def to_model_example(
    window: Dict[str, tf.Tensor], label_names: Sequence[str], input_names: Sequence[str] = (AUDIO_INPUT,)
):
    """`(inputs, targets)` for `model.fit`: targets per dimension `[..., frames, 2]` (label, mask)."""
    inputs = {name: window[name] for name in input_names}
    mask = window["mask"]
    targets = {
        name: tf.stack([window["labels"][..., index], mask], axis=-1) for index, name in enumerate(label_names)
    }
    return inputs, targets


def make_dataset(
    data_dir: PathLike,
    partition: str,
    config: DataConfig,
    *,
    training: bool,
    label_names: Optional[Sequence[str]] = None,
    batch_size: Optional[int] = None,
    seed: Optional[int] = None,
    frame_features: Optional[FrameFeatureFn] = None,
    repeat: bool = False,
    semantic_dir: Optional[PathLike] = None,
    group_by_speaker: bool = False,
) -> tf.data.Dataset:
    """Batched `(inputs, targets)` windows of one partition, ready for `model.fit`/`evaluate`.

    training: shuffle shards and windows (buffer `config.shuffle_buffer`) and apply
    `config.augmentation` when enabled; otherwise keep file order, unaugmented.
    label_names: defaults to the manifest's; all dimensions are always parsed.
    frame_features: optional extra per-frame inputs, windowed like audio.
    repeat: repeat forever (for `steps_per_epoch`).
    semantic_dir: a semantic features folder for this data (see
    `emorec.data.semantic_features.resolve_semantic_features`); adds
    `inputs["semantic"]` `[batch, sequence_frames, dim]`, zero on padded frames.
    group_by_speaker: every batch holds windows of one speaker only (for a model that standardises
    features with its batch's statistics, `model.feature_statistics: speaker`): up to `batch_size`
    windows in training, up to `SPEAKER_EVALUATION_WINDOWS` otherwise, so that a speaker's
    statistics come from as much of their audio as fits. A `DatasetError` if a recording has no
    speaker id.
    """
    manifest = read_manifest(data_dir)
    all_names = list(manifest["label_names"])
    label_names = _checked_label_names(label_names, all_names, data_dir)
    files = partition_files(data_dir, partition, manifest)
    dataset, fields, input_names = _parsed_recordings(files, len(all_names), config, data_dir, partition,
                                                      training=training, seed=seed, semantic_dir=semantic_dir,
                                                      frame_features=frame_features)
    dataset = _windows(dataset, config, fields, Path(data_dir) / partition, files if group_by_speaker else None)
    # Labels of dimensions not asked for are dropped after windowing (columns picked by index).
    indices = [all_names.index(n) for n in label_names]
    if indices != list(range(len(all_names))):
        dataset = dataset.map(lambda w: {**w, "labels": tf.gather(w["labels"], indices, axis=-1)},
                              num_parallel_calls=AUTOTUNE, deterministic=True)
    if training:
        dataset = dataset.shuffle(config.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    if training and config.augmentation.enabled:  # never for devel/test (training=False)
        dataset = augment_windows(dataset, config.augmentation, seed)
    dataset, batches = _batched(dataset, data_dir, partition, config, batch_size or config.batch_size,
                                training=training, group_by_speaker=group_by_speaker)
    if not repeat:
        # A known length gives Keras progress bars with totals and no "ran out of data" warning.
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    dataset = dataset.map(
        lambda w: to_model_example(w, label_names, input_names), num_parallel_calls=AUTOTUNE, deterministic=True
    )
    options = tf.data.Options()
    # Shards are few and uneven: under MultiWorkerMirroredStrategy split by element, not by file.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(AUTOTUNE)


def _checked_label_names(label_names: Optional[Sequence[str]], all_names: List[str], data_dir: PathLike) -> List[str]:
    """The dimensions asked for (default: all the manifest's), each one the manifest has."""
    label_names = list(label_names) if label_names is not None else all_names
    unknown = [n for n in label_names if n not in all_names]
    if unknown:
        raise DatasetError(f"{Path(data_dir) / MANIFEST_FILENAME}: no label dimension {unknown[0]!r} (has {all_names})")
    return label_names


def _parsed_recordings(files: List[str], num_labels: int, config: DataConfig, data_dir: PathLike, partition: str, *,
                       training: bool, seed: Optional[int], semantic_dir: Optional[PathLike],
                       frame_features: Optional[FrameFeatureFn]) -> Tuple[tf.data.Dataset, List[str], List[str]]:
    """Whole recordings, normalised, with their semantic and extra frame features; with the
    per-frame fields to window and the model's input names."""
    fields, input_names = list(FRAME_FIELDS), [AUDIO_INPUT]
    semantic_files = semantic_dim = None
    if semantic_dir is not None:
        semantic_files = semantic_partition_files(semantic_dir, partition, files)
        semantic_dim = features_dim(semantic_dir)
        fields.append(SEMANTIC_INPUT)
        input_names.append(SEMANTIC_INPUT)
    dataset = read_recordings(
        files, num_labels, shuffle_files=training, cycle_length=config.interleave_cycle_length, seed=seed,
        semantic_files=semantic_files, semantic_dim=semantic_dim,
    )
    dataset = normalise_recordings(dataset, config.normalisation, files, source=Path(data_dir) / partition)
    if frame_features is None:
        return dataset, fields, input_names
    probe_names: List[str] = []

    @tf.autograph.experimental.do_not_convert
    def add_features(recording):
        extra = frame_features(recording)
        probe_names[:] = sorted(extra)
        return {**recording, **extra}

    dataset = dataset.map(add_features, num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset, fields + probe_names, input_names + probe_names


def _windows(dataset: tf.data.Dataset, config: DataConfig, fields: List[str], source: Path,
             speaker_files: Optional[List[str]]) -> tf.data.Dataset:
    """Fixed-length windows of every recording; with `speaker_files` (the partition's shards, for
    `group_by_speaker`) each window also carries its speaker's index as `speaker_id`."""
    if speaker_files is None:
        return dataset.flat_map(
            lambda recording: window_recording(recording, config.sequence_frames, config.hop_frames, fields))
    speakers = speaker_table(speaker_files, source=source)
    return dataset.flat_map(
        lambda recording: window_recording(recording, config.sequence_frames, config.hop_frames, fields).map(
            lambda window: {**window, "speaker_id": speakers.lookup(recording["speaker"])}))


def _batched(dataset: tf.data.Dataset, data_dir: PathLike, partition: str, config: DataConfig, batch_size: int, *,
             training: bool, group_by_speaker: bool) -> Tuple[tf.data.Dataset, int]:
    """Batches of windows (one speaker's each with `group_by_speaker`) and how many there are."""
    if not group_by_speaker:
        return (dataset.batch(batch_size, drop_remainder=False),
                -(-count_windows(data_dir, partition, config) // batch_size))
    if not training:
        batch_size = max(batch_size, SPEAKER_EVALUATION_WINDOWS)
    dataset = dataset.group_by_window(
        key_func=lambda window: window["speaker_id"],
        reduce_func=lambda _, windows: windows.batch(batch_size),
        window_size=batch_size)
    dataset = dataset.map(lambda w: {k: v for k, v in w.items() if k != "speaker_id"})
    per_speaker = count_windows_by_speaker(data_dir, partition, config)
    return dataset, sum(-(-count // batch_size) for count in per_speaker.values())


def recordings_for_prediction(
    data_dir: PathLike, partition: str, *, batch_recordings: int = 8, frame_features: Optional[FrameFeatureFn] = None,
    semantic_dir: Optional[PathLike] = None, normalisation: Optional[NormalisationConfig] = None,
    group_by_speaker: bool = False,
) -> tf.data.Dataset:
    """Whole recordings in file order, padded at the end to the longest of each batch.

    normalisation: the run's `data.normalisation` (None: none), applied as in `make_dataset`.
    group_by_speaker: each batch holds one speaker's recordings, up to
    `max(batch_recordings, SPEAKER_EVALUATION_RECORDINGS)` of them (see `make_dataset`); batches
    then come in the order their speakers' recordings end.

    Elements are dicts with `audio` `[batch, frames, 2205]`, `labels` `[batch, frames, dims]`,
    `label_mask` `[batch, frames]` (0 on padding), `name` `[batch]`, `num_frames` `[batch]`,
    `semantic` `[batch, frames, dim]` with `semantic_dir`, and any `frame_features`. A
    unidirectional LSTM's outputs at real frames do not depend on the padding after them, so
    padding does not change predictions.
    """
    manifest = read_manifest(data_dir)
    files = partition_files(data_dir, partition, manifest)
    keep = ("name", "num_frames", "audio", "labels", "label_mask")
    if semantic_dir is not None:
        dataset = read_recordings(files, len(manifest["label_names"]),
                                  semantic_files=semantic_partition_files(semantic_dir, partition, files),
                                  semantic_dim=features_dim(semantic_dir))
        keep += (SEMANTIC_INPUT,)
    else:
        dataset = read_recordings(files, len(manifest["label_names"]))
    if normalisation is not None:
        dataset = normalise_recordings(dataset, normalisation, files, source=Path(data_dir) / partition)

    @tf.autograph.experimental.do_not_convert  # plain dict plumbing, nothing to convert
    def select(recording):
        out = {k: recording[k] for k in keep}
        if frame_features is not None:
            out.update(frame_features(recording))
        return out

    if group_by_speaker:
        table = speaker_table(files, source=Path(data_dir) / partition)
        size = max(batch_recordings, SPEAKER_EVALUATION_RECORDINGS)
        dataset = dataset.map(lambda recording: (table.lookup(recording["speaker"]), select(recording)),
                              num_parallel_calls=AUTOTUNE, deterministic=True)
        dataset = dataset.group_by_window(
            key_func=lambda speaker_id, _: speaker_id,
            reduce_func=lambda _, recordings: recordings.map(lambda speaker_id, recording: recording).padded_batch(size),
            window_size=size)
        return dataset.prefetch(AUTOTUNE)
    dataset = dataset.map(select, num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset.padded_batch(batch_recordings).prefetch(AUTOTUNE)


def speaker_table(files: Sequence[str], *, source: PathLike = "<data>") -> tf.lookup.StaticHashTable:
    """speaker id (bytes) -> int64 index of the recordings in the shards `files`, the key that
    makes per-speaker batches; a `DatasetError` naming the recording when one has no speaker id."""
    index: Dict[str, int] = {}
    for record in records_with_speakers(files, (), source=source, needed_by="model.feature_statistics speaker"):
        index.setdefault(record["speaker"], len(index))
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(list(index), list(index.values()), tf.string, tf.int64), -1)


def recording_names(data_dir: PathLike, partition: str) -> List[str]:
    """Names of a partition's recordings in file order (the order `recordings_for_prediction` reads)."""
    files = partition_files(data_dir, partition)
    spec = {"name": tf.io.FixedLenFeature([], tf.string)}
    return [name.decode() for name in tf.data.TFRecordDataset(files).map(
        lambda s: tf.io.parse_single_example(s, spec)["name"]).as_numpy_iterator()]


def recording_speakers(data_dir: PathLike, partition: str, *, needed_by: str) -> Dict[str, str]:
    """{recording name: speaker id} of a partition; a `DatasetError` naming the recording and
    `needed_by` when one has no speaker id."""
    files = partition_files(data_dir, partition)
    return {record["name"].numpy().decode(): record["speaker"]
            for record in records_with_speakers(files, (), source=Path(data_dir) / partition, needed_by=needed_by)}


def label_statistics(data_dir: PathLike, partition: str) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and population sd `[dims]` of a partition's labels over its labelled frames (label
    mask 1), without decoding audio; a `DatasetError` when it has none."""
    manifest = read_manifest(data_dir)
    dims = len(manifest["label_names"])
    spec = {"labels": FEATURE_SPEC["labels"], "label_mask": FEATURE_SPEC["label_mask"]}
    total, squares, count = np.zeros(dims), np.zeros(dims), 0.0
    for record in tf.data.TFRecordDataset(partition_files(data_dir, partition, manifest)).map(
            lambda s: tf.io.parse_single_example(s, spec)).as_numpy_iterator():
        labels = np.frombuffer(record["labels"], "<f4").reshape(-1, dims).astype(np.float64)
        keep = np.frombuffer(record["label_mask"], "<f4") > 0
        total += labels[keep].sum(axis=0)
        squares += (labels[keep] ** 2).sum(axis=0)
        count += float(keep.sum())
    if count == 0:
        raise DatasetError(f"{data_dir}: partition {partition!r} has no labelled frames to take target statistics from")
    mean = total / count
    return mean, np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))


def count_windows_by_speaker(data_dir: PathLike, partition: str, config: DataConfig) -> Dict[str, int]:
    """{speaker id: number of windows} of a partition (reads only frame counts and speakers)."""
    manifest = read_manifest(data_dir)
    files = partition_files(data_dir, partition, manifest)
    spec = {"num_frames": tf.io.FixedLenFeature([], tf.int64), "speaker": tf.io.FixedLenFeature([], tf.string)}
    counts: Dict[str, int] = {}
    for record in tf.data.TFRecordDataset(files).map(lambda s: tf.io.parse_single_example(s, spec)).as_numpy_iterator():
        extra = max(int(record["num_frames"]) - config.sequence_frames, 0)
        speaker = record["speaker"].decode()
        counts[speaker] = counts.get(speaker, 0) + 1 + -(-extra // config.hop_frames)
    return counts


def count_windows(data_dir: PathLike, partition: str, config: DataConfig) -> int:
    """Number of training windows of a partition (reads only the frame counts)."""
    manifest = read_manifest(data_dir)
    files = partition_files(data_dir, partition, manifest)
    spec = {"num_frames": tf.io.FixedLenFeature([], tf.int64)}
    frames = tf.data.TFRecordDataset(files).map(lambda s: tf.io.parse_single_example(s, spec)["num_frames"])
    total = 0
    for num_frames in frames.as_numpy_iterator():
        extra = max(int(num_frames) - config.sequence_frames, 0)
        total += 1 + -(-extra // config.hop_frames)
    return total
