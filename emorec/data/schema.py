"""The TFRecord schema, version `SCHEMA_VERSION`: one `tf.train.Example` per recording.

This module is the only place that knows feature keys and encodings; writers call
`recording_to_example`, readers call `parse_recording`.

Features of one recording (F frames, D label dimensions, W words):

| key                | type            | content                                                     |
|--------------------|-----------------|-------------------------------------------------------------|
| `name`             | bytes           | recording name, e.g. `Train_01` or `03a01Fa`                |
| `partition`        | bytes           | `train`, `devel` or `test`                                   |
| `speaker`          | bytes           | speaker id ("" where unknown)                                |
| `num_samples`      | int64           | real audio samples before padding to whole frames            |
| `num_frames`       | int64           | F = ceil(num_samples / FRAME_LENGTH_SAMPLES)                 |
| `audio`            | bytes           | float32 little-endian, F * FRAME_LENGTH_SAMPLES, zero-padded |
| `label_names`      | bytes list      | the D dimension names, in column order                       |
| `labels`           | bytes           | float32 little-endian, F * D, row-major `[frames, dims]`     |
| `label_mask`       | bytes           | float32 F: 1 where a real label exists, 0 where padded       |
| `words`            | bytes list      | W normalised word tokens                                     |
| `word_start_s`     | float list      | W start times in seconds                                     |
| `word_end_s`       | float list      | W end times in seconds                                       |
| `corpus`           | bytes           | the corpus it comes from, e.g. `ravdess` ("" where unknown)  |
| `category`         | bytes           | its emotion category, a row of the label map ("" if none)    |
| `schema_version`   | int64           | SCHEMA_VERSION                                               |

`corpus` and `category` are optional: a record written before they existed reads as "".

Frame i covers audio samples [i * 2205, (i + 1) * 2205) and carries the label at time i * 0.1 s.
Raw float32 bytes rather than float lists: decoding is one `tf.io.decode_raw`, several times
faster than a 200k-element FloatList per recording.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from emorec.constants import FRAME_LENGTH_SAMPLES, SAMPLE_RATE_HZ, SCHEMA_VERSION
from emorec.errors import DatasetError, PathLike


#: The longest part of a recording name, in UTF-8 bytes: file systems allow 255 in a file name, and
#: a name gets a suffix (`.csv`, `.png`) where it names a file.
MAX_NAME_PART_BYTES = 240


def recording_name_problem(name: str) -> Optional[str]:
    """Why `name` cannot name a recording (one sentence that says what a name may be), or None.

    Names become file paths under output folders (`emorec evaluate` writes `<name>.csv` and
    `<name>.png`), so a name is a relative POSIX path that stays below the folder: subfolders
    (`spk1/a`) are fine; `..`, `.` and empty parts, a leading `/`, a backslash (a separator on
    Windows) and control characters (NUL cuts a path short, a newline splits one-line messages and
    AVEC rows) are not.
    """
    if not isinstance(name, str) or not name:
        why = "is empty"
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        why = "holds a control character"
    elif "\\" in name:
        why = "holds a backslash"
    elif name.startswith("/"):
        why = "is an absolute path"
    else:
        parts = name.split("/")
        bad = next((part for part in parts if part in ("", ".", "..")), None)
        long = next((part for part in parts if len(part.encode()) > MAX_NAME_PART_BYTES), None)
        if bad is None and long is None:
            return None
        why = f"has a {bad!r} part" if bad is not None else f"has a part longer than {MAX_NAME_PART_BYTES} bytes"
    return (f"recording name {name!r} {why}; a name must be a relative path such as 'spk1/a', "
            "without '..', '.' or empty parts, backslashes or control characters")


def recording_path(folder: PathLike, name: str, suffix: str, source: PathLike) -> Path:
    """`folder/<name><suffix>`, the file of one recording in an output folder. Every writer of
    per-recording files goes through here: names are read from TFRecords, which anyone may have
    written or edited. Raises DatasetError naming `source` (where the name was read) for a name
    `recording_name_problem` refuses, or naming the path when it resolves outside `folder` (a
    symbolic link below it)."""
    problem = recording_name_problem(name)
    if problem:
        raise DatasetError(f"{source}: {problem}; rename the recording and convert the dataset again")
    folder = Path(folder)
    path = folder / f"{name}{suffix}"
    if not path.resolve().is_relative_to(folder.resolve()):
        raise DatasetError(f"{path}: a symbolic link leads it outside {folder}; remove the link or write elsewhere")
    return path


@dataclass
class Recording:
    """One recording on the frame grid, ready to serialise.

    audio: float32 `[num_frames * FRAME_LENGTH_SAMPLES]` in [-1, 1], zero-padded past num_samples.
    labels: float32 `[num_frames, len(label_names)]`.
    label_mask: float32 `[num_frames]`, 1 for real labels, 0 for padded ones.
    """

    name: str
    partition: str
    speaker: str
    num_samples: int
    audio: np.ndarray
    label_names: Sequence[str]
    labels: np.ndarray
    label_mask: np.ndarray
    words: List[str] = field(default_factory=list)
    word_start_s: List[float] = field(default_factory=list)
    word_end_s: List[float] = field(default_factory=list)
    #: The corpus it comes from (`ravdess`, ...) and its emotion category where it has one
    #: (a row of the category map, e.g. `happiness`): what cross-corpus scoring groups by.
    corpus: str = ""
    category: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.labels.shape[0])

    @property
    def duration_s(self) -> float:
        return self.num_samples / SAMPLE_RATE_HZ

    def validate(self) -> None:
        """Raise ValueError if the name is unsafe (`recording_name_problem`) or the arrays disagree
        with the frame grid."""
        problem = recording_name_problem(self.name)
        if problem:
            raise ValueError(problem)
        frames = self.num_frames
        if self.audio.shape != (frames * FRAME_LENGTH_SAMPLES,):
            raise ValueError(f"{self.name}: audio has {self.audio.shape[0]} samples, expected {frames} frames")
        if self.labels.ndim != 2 or self.labels.shape[1] != len(self.label_names):
            raise ValueError(f"{self.name}: labels shape {self.labels.shape} does not match {list(self.label_names)}")
        if self.label_mask.shape != (frames,):
            raise ValueError(f"{self.name}: label_mask has {self.label_mask.shape[0]} frames, expected {frames}")
        if not (len(self.words) == len(self.word_start_s) == len(self.word_end_s)):
            raise ValueError(f"{self.name}: words and their times differ in length")
        if not np.all(np.isfinite(self.labels)):
            raise ValueError(f"{self.name}: labels contain NaN or infinite values")


def _bytes(values: Sequence[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _int64(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def _floats(values: Sequence[float]) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def _raw_float32(array: np.ndarray) -> tf.train.Feature:
    return _bytes([np.ascontiguousarray(array, dtype="<f4").tobytes()])


def recording_to_example(recording: Recording) -> tf.train.Example:
    recording.validate()
    feature = {
        "name": _bytes([recording.name.encode()]),
        "partition": _bytes([recording.partition.encode()]),
        "speaker": _bytes([recording.speaker.encode()]),
        "num_samples": _int64(recording.num_samples),
        "num_frames": _int64(recording.num_frames),
        "audio": _raw_float32(recording.audio),
        "label_names": _bytes([n.encode() for n in recording.label_names]),
        "labels": _raw_float32(recording.labels),
        "label_mask": _raw_float32(recording.label_mask),
        "words": _bytes([w.encode() for w in recording.words]),
        "word_start_s": _floats(recording.word_start_s),
        "word_end_s": _floats(recording.word_end_s),
        "corpus": _bytes([recording.corpus.encode()]),
        "category": _bytes([recording.category.encode()]),
        "schema_version": _int64(SCHEMA_VERSION),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


FEATURE_SPEC: Dict[str, tf.io.FixedLenFeature] = {
    "name": tf.io.FixedLenFeature([], tf.string),
    "partition": tf.io.FixedLenFeature([], tf.string),
    "speaker": tf.io.FixedLenFeature([], tf.string),
    "num_samples": tf.io.FixedLenFeature([], tf.int64),
    "num_frames": tf.io.FixedLenFeature([], tf.int64),
    "audio": tf.io.FixedLenFeature([], tf.string),
    "label_names": tf.io.VarLenFeature(tf.string),
    "labels": tf.io.FixedLenFeature([], tf.string),
    "label_mask": tf.io.FixedLenFeature([], tf.string),
    "words": tf.io.VarLenFeature(tf.string),
    "word_start_s": tf.io.VarLenFeature(tf.float32),
    "word_end_s": tf.io.VarLenFeature(tf.float32),
    "corpus": tf.io.FixedLenFeature([], tf.string, default_value=b""),
    "category": tf.io.FixedLenFeature([], tf.string, default_value=b""),
    "schema_version": tf.io.FixedLenFeature([], tf.int64),
}


def parse_recording(serialized: tf.Tensor, num_dimensions: int) -> Dict[str, tf.Tensor]:
    """Parse one serialised example (graph-safe, for `tf.data`).

    Returns a dict with `audio` `[frames, FRAME_LENGTH_SAMPLES]`, `labels` `[frames, dims]`,
    `label_mask` `[frames]`, the word fields as dense 1-D tensors and the scalars.
    """
    parsed = tf.io.parse_single_example(serialized, FEATURE_SPEC)
    num_frames = tf.cast(parsed["num_frames"], tf.int32)
    audio = tf.reshape(tf.io.decode_raw(parsed["audio"], tf.float32), [num_frames, FRAME_LENGTH_SAMPLES])
    labels = tf.reshape(tf.io.decode_raw(parsed["labels"], tf.float32), [num_frames, num_dimensions])
    label_mask = tf.reshape(tf.io.decode_raw(parsed["label_mask"], tf.float32), [num_frames])
    return {
        "name": parsed["name"],
        "partition": parsed["partition"],
        "speaker": parsed["speaker"],
        "num_samples": parsed["num_samples"],
        "num_frames": num_frames,
        "audio": audio,
        "labels": labels,
        "label_mask": label_mask,
        "label_names": tf.sparse.to_dense(parsed["label_names"]),
        "words": tf.sparse.to_dense(parsed["words"]),
        "word_start_s": tf.sparse.to_dense(parsed["word_start_s"]),
        "word_end_s": tf.sparse.to_dense(parsed["word_end_s"]),
        "corpus": parsed["corpus"],
        "category": parsed["category"],
        "schema_version": parsed["schema_version"],
    }


def example_to_recording(serialized: bytes) -> Recording:
    """Eager, numpy-side inverse of `recording_to_example` (for tools, tests and reports)."""
    example = tf.train.Example.FromString(serialized)
    f = example.features.feature
    num_frames = f["num_frames"].int64_list.value[0]
    label_names = [b.decode() for b in f["label_names"].bytes_list.value]
    return Recording(
        name=f["name"].bytes_list.value[0].decode(),
        partition=f["partition"].bytes_list.value[0].decode(),
        speaker=f["speaker"].bytes_list.value[0].decode(),
        num_samples=int(f["num_samples"].int64_list.value[0]),
        audio=np.frombuffer(f["audio"].bytes_list.value[0], dtype="<f4").copy(),
        label_names=label_names,
        labels=np.frombuffer(f["labels"].bytes_list.value[0], dtype="<f4").reshape(num_frames, len(label_names)).copy(),
        label_mask=np.frombuffer(f["label_mask"].bytes_list.value[0], dtype="<f4").copy(),
        words=[b.decode() for b in f["words"].bytes_list.value],
        word_start_s=list(f["word_start_s"].float_list.value),
        word_end_s=list(f["word_end_s"].float_list.value),
        corpus=_optional_text(f, "corpus"),
        category=_optional_text(f, "category"),
    )


def _optional_text(feature, key: str) -> str:
    return feature[key].bytes_list.value[0].decode() if key in feature and feature[key].bytes_list.value else ""


def records_with_speakers(files: Sequence[str], keys: Sequence[str], *, source: PathLike,
                          needed_by: str) -> Iterator[Dict[str, tf.Tensor]]:
    """The `keys` of each record of the shards `files` (eagerly, in file order), with `speaker`
    decoded to str; a `DatasetError` naming the recording and `needed_by` (what needs the ids)
    when one has no speaker id."""
    spec = {key: FEATURE_SPEC[key] for key in {"name", "speaker", *keys}}
    for record in tf.data.TFRecordDataset(list(files)).map(lambda s: tf.io.parse_single_example(s, spec)):
        speaker = record["speaker"].numpy().decode()
        if not speaker:
            raise DatasetError(f"{source}: recording {record['name'].numpy().decode()!r} has no speaker id; "
                               f"{needed_by} needs one on every recording")
        yield {**record, "speaker": speaker}
