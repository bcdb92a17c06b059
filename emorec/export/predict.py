"""Prediction on audio files and numpy arrays with an exported SavedModel.

The client side does what the graph deliberately does not (so that the graph stays core-TF only):
decoding, mixing down to mono and resampling to 22 050 Hz, all through `emorec.data.audio`,
the same code the converter uses for training data. Long recordings go through the
`serving_stream` signature in chunks of whole 0.1 s frames, each chunk starting from the LSTM
state the previous one ended with, so no frame and no state is lost at chunk borders.

Many files (`predict_files`, `emorec predict`): the model and TensorFlow load once; a thread pool
decodes and resamples the next files while the model runs; files no longer than a chunk are
sorted by length and served together, padded to the longest of their batch (`serving_default`
takes a `length` per row and zeroes what lies past it, so a padded row gives the numbers it gives
alone). Long files keep the streaming path.

Models with a semantic branch take word boundaries with the audio, as the export's metadata
says (`semantic.boundaries`, the boundaries its run was evaluated on): given ones (`words` / a
word-timings CSV `file,word,start_s,end_s`, EmoDB's `word_timings.csv` layout) are required by a
`given` export; a `segmenter` export runs `emorec.semantic.segmenter.segment_words` with the
settings stored in it, unless words are given, which it then serves instead. Such models are called
once per recording (no streaming, no batching).

Results: a pandas DataFrame per file indexed by (`file`, `start`, `end`) as audinterface does
(`file` the absolute path, `start`/`end` `pd.Timedelta`, frame i at [0.1 i, 0.1 (i + 1)) s, the last
one ending with the audio), one float column per affect dimension. On disk, one file per input
named by its path relative to the inputs' common folder plus `.csv` (`spk1/talk.wav` ->
`OUT/spk1/talk.wav.csv`), so inputs never share an output; `csv` (default): header
`file,start_s,end_s,<dims>`; `avec`: the headerless AVEC label layout
(`'name';time_s;dim1;dim2;...`). An existing output is refused unless `overwrite`.

Outputs are safe to rerun and to inspect: a run holds its output folder's lock
(`emorec.data.locking.output_lock`) from the check of existing outputs to the summary, so a second
run into the same folder is refused; each file is written under a temporary name and put in place
by a link or rename, so an interrupted run leaves no partial file and a symlink standing at an
output path is never written through (refused, or replaced itself with `overwrite`). Text outputs
quote a `file` field holding a comma, quote or line break, and write the bytes of a file name that
is not UTF-8 as `\\xNN` escapes (`text_name`); tables returned in Python keep the path as given.
"""
from __future__ import annotations

import contextlib
import errno
import math
import os
import sys
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from emorec.constants import FRAME_LENGTH_SAMPLES, MAX_ABS_SAMPLE, SAMPLE_RATE_HZ
from emorec.data.audio import DEFAULT_MAX_DURATION_S, AudioLimits
from emorec.data.frames import frame_times_s, num_frames_for
from emorec.data.locking import output_lock
from emorec.errors import EmorecError, InputFileError, OutputExistsError, PathLike

# TensorFlow (and emorec.evaluation, which imports it) load inside the functions that need them:
# they take seconds to import, and `emorec predict` refuses an existing output before that.

#: Audio per `serving_stream` call. 30 s = 300 frames keeps the CNN's activations of the Table 1
#: model near 130 MB while the per-call overhead stays negligible.
DEFAULT_CHUNK_S = 30.0

#: Padded audio per batched `serving_default` call for short files (rows x longest file). Measured
#: on 2 cores with the paper's model over 80 clips of 1-5 s (median of 4 interleaved rounds): one
#: call per clip 113x real time, batches of <= 8 s 134x, 16 s 127x, 32 s 84x, 60 s 89x. Larger
#: calls use no less CPU per second of audio but keep fewer cores busy (conv1's activations,
#: 4.4 MB per second of audio, leave the caches), so batches stay small: enough to save the
#: per-call and per-LSTM-loop overhead of short clips, no more.
DEFAULT_BATCH_AUDIO_S = 10.0

#: Prediction file layouts: `csv` with a header, `avec` the headerless AVEC label layout.
OUTPUT_FORMATS = ("csv", "avec")
#: `predict_files(summary=True)`: one row per input file in the output folder.
SUMMARY_FILENAME = "summary.csv"

#: Index level names of every prediction table (the audinterface convention).
INDEX_NAMES = ("file", "start", "end")

#: `emorec predict`'s default model, relative to the repository / working directory.
DEFAULT_MODEL_NAME = "emodb_paralinguistic"

#: Where the built package holds shipped models, relative to the `emorec` package.
PACKAGED_MODELS_DIR = "resources/models"


def default_model_dir() -> Path:
    """The shipped default model: the installed package's copy (a wheel install), else
    `saved_models/emodb_paralinguistic` of the checkout the package is imported from."""
    from importlib.resources import files

    packaged = files("emorec")
    for part in (*PACKAGED_MODELS_DIR.split("/"), DEFAULT_MODEL_NAME):  # one part per call: Python 3.9
        packaged = packaged / part
    if packaged.is_dir():
        return Path(str(packaged))  # a wheel unpacks into a real folder; TensorFlow needs a path
    return Path(__file__).resolve().parents[2] / "saved_models" / DEFAULT_MODEL_NAME


class ExportedModel:
    """An exported emorec SavedModel, loaded once and called per recording or per batch.

    Args:
        model_dir: `saved_models/NAME` (its newest version) or one version folder.

    Example:
        >>> model = ExportedModel("saved_models/emodb_paralinguistic")
        >>> model.predict_waveform(waveform_22k)["arousal"]          # [frames]
        >>> model.predict_batch([clip_a, clip_b])[1]["valence"]      # one padded call
    """

    def __init__(self, model_dir: PathLike):
        import tensorflow as tf

        from emorec.export.saved_model import read_metadata, resolve_version_dir
        from emorec.export.serving_module import DEFAULT_SIGNATURE, STREAM_SIGNATURE

        self.version_dir = resolve_version_dir(model_dir)
        self.metadata = read_metadata(self.version_dir)
        self.label_names: List[str] = list(self.metadata["label_names"])
        self.lstm_units: int = int(self.metadata.get("lstm_units", 0))
        try:
            self._loaded = tf.saved_model.load(str(self.version_dir))
        except Exception as error:  # noqa: BLE001 - one line naming the folder
            raise InputFileError(self.version_dir, f"cannot load SavedModel ({type(error).__name__})") from None
        self.serve = self._loaded.signatures[DEFAULT_SIGNATURE]
        self.stream = self._loaded.signatures.get(STREAM_SIGNATURE)
        #: The semantic branch's settings (source, boundaries, dim, segmenter) or None.
        self.semantic: Optional[dict] = self.metadata.get("semantic")

    def word_boundaries(self, waveform: np.ndarray, words: Optional[Sequence[Tuple[float, float]]],
                        source: PathLike = "<array>") -> Optional[List[Tuple[float, float]]]:
        """The (start_s, end_s) words to serve with `waveform`: None for an audio-only model, the
        segmenter's for a segmenter export without `words`, else `words` (required by an export
        with given boundaries)."""
        if self.semantic is None:
            return None
        if words is None:
            if self.semantic.get("boundaries") != "segmenter":
                raise InputFileError(source, "this model's semantic branch was exported with given word boundaries: "
                                             "pass them (predict --words CSV, or words=[(start_s, end_s), ...])")
            from emorec.semantic.segmenter import SegmenterConfig, segment_words

            return segment_words(waveform, SegmenterConfig(**(self.semantic.get("segmenter") or {})))
        return [(float(start_s), float(end_s)) for start_s, end_s in words]

    @property
    def can_batch(self) -> bool:
        """Whether recordings can share one call: not with a semantic branch (words per row)."""
        return self.semantic is None

    def predict_batch(self, waveforms: Sequence[np.ndarray]) -> List[Dict[str, np.ndarray]]:
        """Per-frame outputs for several mono 22 050 Hz waveforms in one `serving_default` call.

        The rows are zero-padded to the longest; the graph masks past each row's `length`, so each
        result equals `predict_waveform(waveform, chunk_s=None)`. Returns one dict per waveform as
        `predict_waveform` does. Audio-only models (see `can_batch`).
        """
        import tensorflow as tf

        if not self.can_batch:
            raise ValueError("a model with a semantic branch takes word boundaries per recording: "
                             "call predict_waveform per recording")
        lengths = [int(np.asarray(waveform).shape[-1]) for waveform in waveforms]
        padded = np.zeros((len(waveforms), max(lengths, default=0)), np.float32)
        for row, waveform in enumerate(waveforms):
            padded[row, : lengths[row]] = np.asarray(waveform, np.float32).reshape(-1)
        result = self.serve(waveform=tf.constant(padded), length=tf.constant(lengths, tf.int32))
        arrays = {name: result[name].numpy() for name in self.label_names}
        outputs = []
        for row, length in enumerate(lengths):
            num_frames = num_frames_for(length)
            row_outputs = {name: arrays[name][row, :num_frames] for name in self.label_names}
            row_outputs["frame_times_s"] = frame_times_s(num_frames)
            outputs.append(row_outputs)
        return outputs

    def predict_waveform(self, waveform: np.ndarray, chunk_s: Optional[float] = DEFAULT_CHUNK_S,
                         words: Optional[Sequence[Tuple[float, float]]] = None) -> Dict[str, np.ndarray]:
        """Per-frame outputs for one mono 22 050 Hz waveform `[samples]`.

        Returns {dimension: `[frames]`, "frame_times_s": `[frames]`}. With `chunk_s` (and a
        streaming signature), the waveform goes through in chunks of whole frames; None or a
        model without streaming signature: one call. words: (start_s, end_s) per word for a model
        with a semantic branch (see `word_boundaries`).
        """
        import tensorflow as tf

        from emorec.export.serving_module import NORM_STATE_NAMES

        waveform = np.asarray(waveform, dtype=np.float32).reshape(-1)
        num_frames = num_frames_for(waveform.shape[0])
        words = self.word_boundaries(waveform, words)
        if words is not None:
            starts = np.array([[start for start, _ in words]], np.float32).reshape(1, -1)
            ends = np.array([[end for _, end in words]], np.float32).reshape(1, -1)
            result = self.serve(waveform=tf.constant(waveform[None]),
                                length=tf.constant([waveform.shape[0]], tf.int32),
                                word_start_s=tf.constant(starts), word_end_s=tf.constant(ends),
                                num_words=tf.constant([len(words)], tf.int32))
            outputs = {name: result[name].numpy()[0, :num_frames] for name in self.label_names}
        elif self.stream is None or chunk_s is None:
            result = self.serve(waveform=tf.constant(waveform[None]),
                                length=tf.constant([waveform.shape[0]], tf.int32))
            outputs = {name: result[name].numpy()[0, :num_frames] for name in self.label_names}
        else:
            chunk_samples = max(1, int(round(chunk_s * SAMPLE_RATE_HZ / FRAME_LENGTH_SAMPLES))) * FRAME_LENGTH_SAMPLES
            state_h = tf.zeros([1, self.lstm_units], tf.float32)
            state_c = tf.zeros([1, self.lstm_units], tf.float32)
            # Causal normalisation's running statistics travel with the LSTM state.
            norm_state = {name: tf.zeros([1], tf.float32) for name in NORM_STATE_NAMES
                          if (self.metadata.get("normalisation") or {}).get("kind") == "causal"}
            pieces: Dict[str, List[np.ndarray]] = {name: [] for name in self.label_names}
            for start in range(0, waveform.shape[0], chunk_samples):
                chunk = waveform[start:start + chunk_samples]
                result = self.stream(waveform=tf.constant(chunk[None]), length=tf.constant([chunk.shape[0]], tf.int32),
                                     lstm_state_h=state_h, lstm_state_c=state_c, **norm_state)
                state_h, state_c = result["lstm_state_h"], result["lstm_state_c"]
                norm_state = {name: result[name] for name in norm_state}
                frames = int(result["num_frames"].numpy()[0])
                for name in self.label_names:
                    pieces[name].append(result[name].numpy()[0, :frames])
            outputs = {name: np.concatenate(parts) if parts else np.zeros(0, np.float32)
                       for name, parts in pieces.items()}
        outputs["frame_times_s"] = frame_times_s(num_frames)
        return outputs


def _as_model(model: Union[ExportedModel, PathLike, None]) -> ExportedModel:
    """The model to predict with; None is the shipped default model (`default_model_dir`)."""
    if model is None:
        model = default_model_dir()
    return model if isinstance(model, ExportedModel) else ExportedModel(model)


def prepare_waveform(waveform: np.ndarray, sample_rate_hz: int, source: PathLike = "<array>",
                     limits=None) -> np.ndarray:
    """Mix down `[samples]` / `[samples, channels]` and resample to 22 050 Hz, float32 in [-1, 1].
    limits: an `emorec.data.audio.AudioLimits` for the rate and duration (default: 1-384 kHz, 4 h).
    Samples beyond `MAX_ABS_SAMPLE` in magnitude are refused (`require_full_scale`)."""
    from emorec.data.audio import check_limits, resample, to_mono

    waveform = np.asarray(waveform)
    if waveform.ndim not in (1, 2):
        raise InputFileError(source, f"expected audio of shape [samples] or [samples, channels], got {waveform.shape}")
    if waveform.ndim == 2 and waveform.shape[1] > waveform.shape[0]:
        raise InputFileError(source, f"audio of shape {waveform.shape} has more channels than samples: "
                                     "pass [samples, channels]")
    if waveform.shape[0] == 0:
        raise InputFileError(source, "audio has zero samples")
    if not np.issubdtype(waveform.dtype, np.floating):
        raise InputFileError(source, f"expected float samples in [-1, 1], got dtype {waveform.dtype}")
    if not np.all(np.isfinite(waveform)):
        raise InputFileError(source, "audio contains NaN or infinite samples")
    require_full_scale(source, waveform)
    check_limits(source, int(sample_rate_hz), waveform.shape[0], limits)
    mono = resample(to_mono(waveform.astype(np.float32, copy=False)), int(sample_rate_hz), SAMPLE_RATE_HZ)
    if mono.size == 0:
        raise InputFileError(source, "audio has zero samples after resampling")
    return np.clip(mono, -1.0, 1.0)


def require_full_scale(source: PathLike, signal: np.ndarray) -> np.ndarray:
    """`signal`, or an InputFileError naming `source` when a sample is beyond `MAX_ABS_SAMPLE` in
    magnitude: clipped to [-1, 1] such audio would give saturated, plausible-looking predictions
    (and samples near float32's limit overflow to inf when channels are mixed down)."""
    peak = float(np.max(np.abs(signal))) if signal.size else 0.0
    if not peak <= MAX_ABS_SAMPLE:  # also NaN
        raise InputFileError(source, f"samples reach {peak:.3g}, far outside float PCM's [-1, 1] (at most "
                                     f"{MAX_ABS_SAMPLE:g} accepted); rescale the audio to full scale")
    return signal


def _load_checked(path: PathLike, limits: AudioLimits) -> np.ndarray:
    """`emorec.data.audio.load_audio` at 22 050 Hz, except that samples far outside [-1, 1] fail
    the file (`require_full_scale`) where load_audio would clip them."""
    from emorec.data.audio import decode_audio, resample, to_mono

    signal, rate = decode_audio(path, limits=limits)
    mono = resample(to_mono(require_full_scale(path, signal)), rate, SAMPLE_RATE_HZ)
    if mono.size == 0:
        raise InputFileError(path, "audio has zero samples after resampling")
    return np.clip(mono, -1.0, 1.0)


def frame_table(outputs: Dict[str, np.ndarray], label_names: Sequence[str], file: str,
                num_samples: int) -> pd.DataFrame:
    """Per-frame outputs of one recording -> a table indexed by (file, start, end).

    start: frame i at 0.1 i s; end: 0.1 s later, the last frame's clipped to the audio's end
    (`num_samples` at 22 050 Hz). Times are exact `pd.Timedelta`s (whole nanoseconds), one float
    column per affect dimension.
    """
    starts_ns = np.round(frame_times_s(len(outputs[label_names[0]])) * 1e9).astype(np.int64)
    duration_ns = int(round(num_samples * 1e9 / SAMPLE_RATE_HZ))
    ends_ns = np.minimum(starts_ns + int(round(FRAME_LENGTH_SAMPLES * 1e9 / SAMPLE_RATE_HZ)), duration_ns)
    index = pd.MultiIndex.from_arrays(
        [np.full(len(starts_ns), file, dtype=object), pd.to_timedelta(starts_ns, unit="ns"),
         pd.to_timedelta(ends_ns, unit="ns")], names=INDEX_NAMES)
    return pd.DataFrame({dim: np.asarray(outputs[dim], np.float64) for dim in label_names}, index=index)


def predict_array(
    waveform: np.ndarray,
    sample_rate_hz: int,
    model: Union[ExportedModel, PathLike],
    *,
    name: str = "",
    chunk_s: Optional[float] = DEFAULT_CHUNK_S,
    words: Optional[Sequence[Tuple[float, float]]] = None,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
    allow_any_sample_rate: bool = False,
) -> pd.DataFrame:
    """Predict the affect curves of a numpy waveform.

    Args:
        waveform: float `[samples]` or `[samples, channels]` in [-1, 1] at `sample_rate_hz`; it is
            mixed down and resampled to 22 050 Hz here.
        model: an `ExportedModel` or an export folder.
        name: the `file` level of the result's index ("" as audinterface's `process_signal`).
        chunk_s: seconds per `serving_stream` call; None for one call.
        words: (start_s, end_s) per word, for a semantic model exported with given boundaries
            (a segmenter export serves them instead of segmenting).

    Returns one row per 0.1 s frame, indexed by (file, start, end), one column per affect
    dimension (see `frame_table`).
    """
    _check_chunking(chunk_s)
    model = _as_model(model)
    mono = prepare_waveform(waveform, sample_rate_hz, limits=AudioLimits(max_duration_s, allow_any_sample_rate))
    return frame_table(model.predict_waveform(mono, chunk_s, words), model.label_names, name, mono.shape[0])


def read_word_timings(path: PathLike) -> Dict[str, List[Tuple[float, float]]]:
    """A word-timings CSV (`file,word,start_s,end_s`, header required; EmoDB's layout) ->
    {file name as written: [(start_s, end_s), ...] sorted by start}."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "word timings CSV not found")
    try:
        table = pd.read_csv(path)
    except Exception as error:  # noqa: BLE001 - one line naming the file
        raise InputFileError(path, f"cannot read as CSV ({type(error).__name__})") from None
    missing = [column for column in ("file", "start_s", "end_s") if column not in table.columns]
    if missing:
        raise InputFileError(path, f"missing column(s) {', '.join(missing)} (expected file,word,start_s,end_s)")
    timings: Dict[str, List[Tuple[float, float]]] = {}
    for file, start_s, end_s in zip(table["file"].astype(str), table["start_s"], table["end_s"]):
        timings.setdefault(file, []).append((float(start_s), float(end_s)))
    return {file: sorted(spans) for file, spans in timings.items()}


def words_for_file(timings: Dict[str, List[Tuple[float, float]]], path: PathLike) -> List[Tuple[float, float]]:
    """The rows of `timings` for an audio file: matched by file name, else by stem."""
    path = Path(path)
    for key in (path.name, path.stem, str(path)):
        if key in timings:
            return timings[key]
    stems = {Path(file).stem: spans for file, spans in timings.items()}
    if path.stem in stems:
        return stems[path.stem]
    raise InputFileError(path, "no word timings for this file in the --words CSV")


def plot_curves(table: pd.DataFrame, path: PathLike, title: str = "", overwrite: bool = True) -> Path:
    """A PNG of each affect dimension of a prediction table over time (written as `publish_file`
    does; overwrite=False refuses an existing one)."""
    from matplotlib.figure import Figure

    # A bare Figure, not pyplot: pyplot keeps global state and is not safe off the main thread.
    figure = Figure(figsize=(10, 3.5))
    axis = figure.add_subplot()
    times_s = table.index.get_level_values("start").total_seconds()
    for dim in table.columns:
        axis.plot(times_s, table[dim], label=dim, linewidth=1.2)
    axis.set_xlabel("time (s)")
    axis.set_ylabel("prediction")
    axis.set_title(text_name(title))
    axis.grid(alpha=0.3)
    axis.legend(loc="upper right")
    figure.tight_layout()
    return publish_file(Path(path), lambda temporary: figure.savefig(temporary, dpi=100, format="png"), overwrite)


def write_predictions(path: PathLike, table: pd.DataFrame, output_format: str = "csv",
                      overwrite: bool = True) -> Path:
    """Write one recording's prediction table (as `predict_file` returns it).

    csv: a header `file,start_s,end_s,<dims>` then one row per frame (`file` the absolute path,
    times in s, all numbers with 6 decimals); avec: the headerless AVEC label layout (`'<stem>';time_s;dim1;...`).
    Names are written as `text_name` gives them. The file is put in place as `publish_file` does
    (overwrite=False refuses an existing one).
    """
    path = Path(path)
    if output_format == "avec":
        from emorec.evaluation.report import write_avec_predictions

        stem = Path(str(table.index.get_level_values("file")[0])).stem if len(table) else path.stem
        return publish_file(path, lambda temporary: write_avec_predictions(
            temporary, _avec_name(stem), table.to_numpy(), list(table.columns)), overwrite)
    if output_format != "csv":
        raise ValueError(f"output format {output_format!r}: expected one of {OUTPUT_FORMATS}")
    # Formatted by hand, not DataFrame.to_csv: that took 2.5 ms a file, the largest cost after the
    # model when predicting many short clips.
    lines = [",".join(_csv_field(name) for name in ["file", "start_s", "end_s", *map(str, table.columns)])]
    files = table.index.get_level_values("file")
    file_field = _csv_field(str(files[0])) if len(files) else ""
    starts_s = table.index.get_level_values("start").total_seconds()
    ends_s = table.index.get_level_values("end").total_seconds()
    for row, (start_s, end_s, values) in enumerate(zip(starts_s, ends_s, table.to_numpy())):
        field = file_field if files[row] == files[0] else _csv_field(str(files[row]))
        lines.append(",".join([field, f"{start_s:.6f}", f"{end_s:.6f}", *(f"{v:.6f}" for v in values)]))
    text = "\n".join(lines) + "\n"
    return publish_file(path, lambda temporary: temporary.write_text(text, encoding="utf-8"), overwrite)


def text_name(name: str) -> str:
    """`name` as text that UTF-8 can hold: the bytes of a file name that are not UTF-8 (which
    Python holds as surrogate escapes) become `\\xff`-style escapes, so that text outputs and
    messages name such a file instead of failing on it. Any other name is returned unchanged."""
    try:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    except UnicodeError:  # a surrogate that no file name byte decodes to
        return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _csv_field(text: str) -> str:
    # Quoted by hand: the csv module quotes only the line terminator it writes, so a name with
    # "\r" (or "\n" with another terminator) would break its row apart when read back.
    text = text_name(text)
    if any(character in text for character in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _avec_name(stem: str) -> str:
    # AVEC files are read line by line and quote with ' (doubled inside a name).
    return text_name(stem).replace("\r", "\\r").replace("\n", "\\n").replace("'", "''")


def publish_file(path: Path, write: Callable[[Path], object], overwrite: bool) -> Path:
    """Create `path` by `write(temporary)` and a link or rename in its folder, so that a failure
    or a kill leaves no partial file under its name, and never through a symlink standing there:
    without `overwrite` it is linked into place only if nothing is there (a dangling symlink
    included: `OutputExistsError`); with `overwrite` the rename replaces the entry itself, not
    what a symlink points to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A short name of our own (not `path.name` + suffix, which may pass the name length limit),
    # created exclusively with the umask's permissions, unlike tempfile's 0600.
    temporary = path.parent / f".emorec-{uuid.uuid4().hex}.tmp"
    os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        write(temporary)
        if overwrite:
            os.replace(temporary, path)
        else:
            _link_exclusively(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _link_exclusively(temporary: Path, path: Path) -> None:
    exists = OutputExistsError(path, "exists (written by another program during this run, or a symlink); "
                                     "pass --overwrite (overwrite=True) to replace it, or choose another --out")
    try:
        os.link(temporary, path)  # fails on any existing entry, never follows a symlink there
    except FileExistsError:
        raise exists from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # No hard links on this file system: the folder's lock keeps other emorec runs out.
        if os.path.lexists(path):
            raise exists from None
        os.replace(temporary, path)


def output_paths(paths: Sequence[PathLike], out_dir: PathLike, suffix: str = ".csv") -> Dict[str, Path]:
    """Where each input's predictions go: `out_dir` / its path relative to the inputs' common
    folder, with `suffix` appended (`spk1/talk.wav` -> `out_dir/spk1/talk.wav.csv`).

    The input's own suffix stays in the name, so `talk.mp3` and `talk.flac` get two files and
    same-named files in different folders keep their folders: distinct inputs never collide.
    Keys are the paths as given.
    """
    absolute = {str(path): Path(os.path.abspath(path)) for path in paths}
    if not absolute:
        return {}
    common = Path(os.path.commonpath([str(path.parent) for path in absolute.values()]))
    return {given: Path(out_dir) / f"{path.relative_to(common)}{suffix}" for given, path in absolute.items()}


def predict_file(
    path: PathLike,
    model: Union[ExportedModel, PathLike, None] = None,
    *,
    out_dir: Optional[PathLike] = None,
    output_format: str = "csv",
    overwrite: bool = False,
    plot: bool = False,
    chunk_s: Optional[float] = DEFAULT_CHUNK_S,
    words: Optional[Sequence[Tuple[float, float]]] = None,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
    allow_any_sample_rate: bool = False,
) -> pd.DataFrame:
    """Predict one audio file (any rate, channel count and format the converter reads).

    Args:
        path: the audio file.
        model: an `ExportedModel` or an export folder; None (the default) is the shipped model.
        out_dir: if given, write `out_dir/<file name>.csv` (see `write_predictions`) and, with
            `plot`, `<file name>.png`; an existing one raises `OutputExistsError` unless `overwrite`.
        chunk_s: seconds per `serving_stream` call; None for one call.
        words: (start_s, end_s) per word, for a semantic model exported with given boundaries
            (a segmenter export serves them instead of segmenting).
        max_duration_s, allow_any_sample_rate: sanity limits (see `emorec.data.audio.AudioLimits`).

    Returns one row per 0.1 s frame indexed by (file, start, end), `file` the absolute path.
    Raises InputFileError for a missing, empty, zero-length or undecodable file, one outside the
    limits or with samples far outside [-1, 1]; FolderInUseError while another run writes to `out_dir`.

    Example:
        >>> table = predict_file("talk.wav")  # the shipped model
        >>> table["arousal"].mean()
    """
    _check_chunking(chunk_s)
    # The lock from the check of existing outputs to the last write: no other run writes in between.
    with output_lock(out_dir) if out_dir is not None else contextlib.nullcontext():
        outputs = {}
        if out_dir is not None:
            outputs = _planned_outputs([path], out_dir, output_format, plot, overwrite)[str(path)]
        model = _as_model(model)
        mono = _load_checked(path, AudioLimits(max_duration_s, allow_any_sample_rate))
        words = model.word_boundaries(mono, words, source=path)  # errors name the file
        table = frame_table(model.predict_waveform(mono, chunk_s, words), model.label_names,
                            os.path.abspath(path), mono.shape[0])
        _write_outputs(table, outputs, output_format, Path(path).name, overwrite)
    return table


@dataclass
class PredictReport:
    """What `predict_files` did.

    tables: per input (as given) that worked, its prediction table; errors: one-line errors for
    the rest; outputs: the files written per input; audio_s: seconds of audio predicted; wall_s:
    seconds the call took, model loading included.
    """

    tables: Dict[str, pd.DataFrame] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)
    outputs: Dict[str, List[Path]] = field(default_factory=dict)
    audio_s: float = 0.0
    wall_s: float = 0.0
    #: The inputs as given, in order (each once).
    order: List[str] = field(default_factory=list)

    def file_means(self, label_names: Sequence[str]) -> pd.DataFrame:
        """One row per input (as given, in order), indexed by `file`: `duration_s`, each
        dimension's mean over the file's frames (one output per file, what `emorec evaluate
        --pool recording` scores) and `error`, empty for a file that worked; a failed file has
        no values, so a summary never passes for complete when a file is missing."""
        rows = []
        for given, table in self.tables.items():
            ends = table.index.get_level_values("end")
            rows.append({"file": given, "duration_s": ends.max().total_seconds() if len(table) else 0.0,
                         **{dim: float(table[dim].mean()) for dim in label_names}, "error": ""})
        for given, message in self.errors.items():
            rows.append({"file": given, "duration_s": np.nan, **{dim: np.nan for dim in label_names},
                         "error": message})
        order = {given: i for i, given in enumerate(self.order or [*self.tables, *self.errors])}
        rows.sort(key=lambda row: order.get(row["file"], len(order)))
        return pd.DataFrame(rows, columns=["file", "duration_s", *label_names, "error"]).set_index("file")

    def summary(self) -> str:
        """One line: files, audio duration, wall time and times real time."""
        speed = f"{self.audio_s / self.wall_s:.0f}x real time" if self.wall_s > 0 else "-"
        failed = f", {len(self.errors)} failed" if self.errors else ""
        return (f"predicted {len(self.tables)} file(s){failed}: {_duration(self.audio_s)} of audio "
                f"in {self.wall_s:.1f} s ({speed})")


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 600 else f"{seconds / 60:.1f} min"


def _planned_outputs(paths: Sequence[PathLike], out_dir: PathLike, output_format: str, plot: bool,
                     overwrite: bool) -> Dict[str, Dict[str, Path]]:
    """{input: {"table": CSV path[, "plot": PNG path]}}; refuses existing ones (a symlink included,
    even one pointing nowhere) unless overwrite, and a symlinked folder inside `out_dir` always."""
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output format {output_format!r}: expected one of {OUTPUT_FORMATS}")
    planned = {given: {"table": csv} for given, csv in output_paths(paths, out_dir, ".csv").items()}
    if plot:
        for given, png in output_paths(paths, out_dir, ".png").items():
            planned[given]["plot"] = png
    _refuse_linked_folders({path.parent for outputs in planned.values() for path in outputs.values()}, Path(out_dir))
    if not overwrite:
        existing = [path for outputs in planned.values() for path in outputs.values() if os.path.lexists(path)]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise OutputExistsError(existing[0], f"exists{more}; pass --overwrite (overwrite=True) to replace "
                                                 "it, or choose another --out")
    return planned


def _refuse_linked_folders(folders: Iterable[Path], out_dir: Path) -> None:
    """OutputExistsError for a symlink standing at a folder between `out_dir` and an output:
    writing through it would put predictions outside `out_dir` (which itself may be a link)."""
    checked = set()
    for folder in sorted(folders):
        current = out_dir
        for part in folder.relative_to(out_dir).parts:
            current = current / part
            if current in checked:
                continue
            checked.add(current)
            if current.is_symlink():
                raise OutputExistsError(current, "is a symbolic link inside the output folder; predictions are "
                                                 "written only inside --out: remove the link or choose another --out")


#: Matplotlib's font and text caches are shared by all figures and not thread-safe: one plot at a time.
_PLOT_LOCK = threading.Lock()


def _write_outputs(table: pd.DataFrame, outputs: Dict[str, Path], output_format: str, title: str,
                   overwrite: bool) -> List[Path]:
    written = []
    if "table" in outputs:
        written.append(write_predictions(outputs["table"], table, output_format, overwrite))
    if "plot" in outputs:
        with _PLOT_LOCK:
            written.append(plot_curves(table, outputs["plot"], title, overwrite))
    return written


class _OneLinePerUpdate:
    """A stream for tqdm when stderr is not a terminal: each redraw becomes its own line, since a
    log file shows tqdm's carriage-return redraws as one ever-growing line."""

    def __init__(self, stream):
        self.stream = stream
        self.last = ""

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        if line and line != self.last:
            self.stream.write(line + "\n")
            self.last = line

    def flush(self) -> None:
        self.stream.flush()


def _progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    stream = sys.stderr
    if not enabled:
        return tqdm(total=total, disable=True)
    if stream.isatty():
        return tqdm(total=total, unit="file", desc="predict", file=stream, dynamic_ncols=True)
    # Not a terminal: a line every 10 s at most (and the last), not a redraw per file.
    return tqdm(total=total, unit="file", desc="predict", file=_OneLinePerUpdate(stream), mininterval=10.0,
                ncols=100, ascii=True)


@dataclass
class _WorkItem:
    """Files served together: several short ones in one `serving_default` call, or one alone."""

    paths: List[str]
    batched: bool
    audio_s: float


def _plan_work(durations_s: Dict[str, float], model: ExportedModel, chunk_s: Optional[float],
               batch_audio_s: float) -> List[_WorkItem]:
    """Short files sorted by length into batches of at most `batch_audio_s` padded audio (rows x
    longest: sorting keeps the padding small); long files alone, on the streaming path."""
    short_limit_s = min(chunk_s if chunk_s is not None else float("inf"), batch_audio_s)
    if not model.can_batch or batch_audio_s <= 0:
        short_limit_s = -1.0
    short = sorted((d, p) for p, d in durations_s.items() if d <= short_limit_s)
    items: List[_WorkItem] = []
    batch: List[Tuple[float, str]] = []
    for duration_s, path in short:
        # Sorted ascending, so this file is the batch's longest: the padded size is rows x it.
        if batch and (len(batch) + 1) * duration_s > batch_audio_s:
            items.append(_WorkItem([p for _, p in batch], True, sum(d for d, _ in batch)))
            batch = []
        batch.append((duration_s, path))
    if batch:
        items.append(_WorkItem([p for _, p in batch], True, sum(d for d, _ in batch)))
    items += [_WorkItem([p], False, d) for p, d in durations_s.items() if d > short_limit_s]
    return items


def predict_files(
    paths: Iterable[PathLike],
    model: Union[ExportedModel, PathLike, None] = None,
    *,
    out_dir: Optional[PathLike] = None,
    output_format: str = "csv",
    overwrite: bool = False,
    plot: bool = False,
    chunk_s: Optional[float] = DEFAULT_CHUNK_S,
    words_csv: Optional[PathLike] = None,
    batch_audio_s: float = DEFAULT_BATCH_AUDIO_S,
    workers: Optional[int] = None,
    progress: bool = False,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
    allow_any_sample_rate: bool = False,
    summary: bool = False,
) -> PredictReport:
    """Predict many audio files; a bad file is recorded in `errors` and the rest go on.

    Args:
        paths: audio files; one given twice (by any spelling) is predicted once.
        model: an `ExportedModel` or an export folder (loaded once); None is the shipped model.
        out_dir: if given, one file per input at its path relative to the inputs' common folder
            (`output_paths`), in `output_format` (`csv` with header or `avec`), and a PNG with
            `plot`. Any existing one raises `OutputExistsError` before any work, unless `overwrite`.
        chunk_s: seconds per `serving_stream` call for files longer than it; None: one call each.
        words_csv: word timings (`file,word,start_s,end_s`) for a semantic model exported with given
            boundaries (a segmenter export serves them instead of segmenting); each file takes the
            rows of its name (or stem).
        batch_audio_s: padded audio per batched call of short files (0: one call per file).
        workers: decoding/resampling threads [default: min(4, CPUs)].
        progress: a tqdm bar over files on stderr (count and ETA).
        max_duration_s, allow_any_sample_rate: sanity limits (see `emorec.data.audio.AudioLimits`).
        summary: also write `out_dir/summary.csv` (`PredictReport.file_means`: one row per file,
            its mean per dimension, and the error of a file that failed); needs `out_dir`.

    The run holds `out_dir`'s lock (`FolderInUseError` while another run writes there).
    Returns a `PredictReport`; its tables equal `predict_file`'s one at a time (within float
    tolerance: batching changes only the padding, which the graph masks).

    Example:
        >>> report = predict_files(["spk1/talk.wav", "spk2/talk.wav"], "saved_models/emodb_paralinguistic",
        ...                        out_dir="predictions")   # predictions/spk1/talk.wav.csv, ...
        >>> print(report.summary())
    """
    _check_chunking(chunk_s, batch_audio_s)
    if summary and out_dir is None:
        raise ValueError("summary=True writes out_dir/summary.csv: pass out_dir")
    started = time.perf_counter()
    unique: Dict[str, str] = {}
    for path in paths:
        unique.setdefault(os.path.abspath(path), str(path))
    given = list(unique.values())
    # The lock from the check of existing outputs to the summary: a second run into the same
    # folder is refused instead of both passing the check and overwriting each other's files.
    with output_lock(out_dir) if out_dir is not None else contextlib.nullcontext():
        planned = _planned_outputs(given, out_dir, output_format, plot, overwrite) if out_dir is not None else {}
        summary_path = _planned_summary(planned, out_dir, overwrite) if summary else None
        model = _as_model(model)
        timings = read_word_timings(words_csv) if words_csv is not None and model.semantic is not None else None
        settings = _RunSettings(model, planned, output_format, overwrite, chunk_s, batch_audio_s, timings,
                                AudioLimits(max_duration_s, allow_any_sample_rate))
        report = _predict_all(given, settings, workers, progress)
        if summary_path is not None:
            write_file_means(summary_path, report.file_means(model.label_names), overwrite)
    report.wall_s = time.perf_counter() - started
    return report


def _check_chunking(chunk_s: Optional[float], batch_audio_s: float = 0.0) -> None:
    # NaN passes every comparison as False: a NaN chunk used to plan no work and report success.
    if chunk_s is not None and not (math.isfinite(chunk_s) and chunk_s > 0):
        raise ValueError(f"chunk_s must be a positive number of seconds or None, got {chunk_s}")
    if not (math.isfinite(batch_audio_s) and batch_audio_s >= 0):
        raise ValueError(f"batch_audio_s must be a number of seconds >= 0, got {batch_audio_s}")


@dataclass
class _RunSettings:
    """What every file of a `predict_files` call shares."""

    model: ExportedModel
    planned: Dict[str, Dict[str, Path]]
    output_format: str
    overwrite: bool
    chunk_s: Optional[float]
    batch_audio_s: float
    timings: Optional[Dict[str, List[Tuple[float, float]]]]
    limits: AudioLimits


def _predict_all(given: List[str], run: _RunSettings, workers: Optional[int], progress: bool) -> PredictReport:
    """Every file of `given`: a table (and its outputs) or an error each, in the order given."""
    report = PredictReport()
    bar = _progress_bar(len(given), progress)
    items = _plan_work(_probe_all(given, run.limits, report.errors, bar), run.model, run.chunk_s, run.batch_audio_s)
    workers = max(1, int(workers) if workers else min(4, os.cpu_count() or 1))
    # Decoding and resampling of the next items, and the tables and files of the last ones, run in
    # the pool while the model serves the current item (soxr and TensorFlow release the GIL); the
    # look-ahead is bounded in audio so that memory stays a few batches.
    look_ahead_s = 4 * max(run.batch_audio_s, run.chunk_s or 0.0)
    finishing: Dict[str, Future] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emorec-predict") as pool:
        pending: List[Tuple[_WorkItem, Dict[str, Future]]] = []
        next_item = 0
        try:
            while pending or next_item < len(items):
                # Always the next item besides the current one, more while they are short.
                while next_item < len(items) and (
                        len(pending) < 2 or sum(item.audio_s for item, _ in pending) < look_ahead_s):
                    item = items[next_item]
                    pending.append((item, {path: pool.submit(_load_checked, path, run.limits) for path in item.paths}))
                    next_item += 1
                item, decoded = pending.pop(0)
                for path, outputs, num_samples in _predict_item(item, decoded, run, report.errors):
                    report.audio_s += num_samples / SAMPLE_RATE_HZ
                    # Tables and files are made in the pool: on the main thread they held up the next
                    # model call (~1.2 ms a file, 14 % of the model's time on 3 s clips).
                    finishing[path] = pool.submit(_finish, run, path, outputs, num_samples)
                bar.update(len(item.paths))
            _collect(finishing, report)
        finally:
            for _, futures in pending:
                for future in futures.values():
                    future.cancel()
            bar.close()
    # Input order, as given.
    report.tables = {path: report.tables[path] for path in given if path in report.tables}
    report.errors = {path: report.errors[path] for path in given if path in report.errors}
    report.order = given
    return report


def _probe_all(given: List[str], limits: AudioLimits, errors: Dict[str, str], bar) -> Dict[str, float]:
    """Seconds of audio per file from its header (~0.5 ms a file): lengths to batch by before
    anything is decoded; `errors` gets the files refused already."""
    from emorec.data.audio import probe_audio

    durations_s: Dict[str, float] = {}
    for path in given:
        try:
            durations_s[path] = probe_audio(path, limits=limits).duration_s
        except EmorecError as error:
            errors[path] = str(error)
            bar.update(1)
    return durations_s


def _predict_item(item: _WorkItem, decoded: Dict[str, Future], run: _RunSettings,
                  errors: Dict[str, str]) -> List[Tuple[str, Dict[str, np.ndarray], int]]:
    """(path, per-frame outputs, samples) of each file of `item` that worked; `errors` gets the rest."""
    waveforms = {}
    for path in item.paths:
        try:
            waveforms[path] = decoded[path].result()
        except EmorecError as error:
            errors[path] = str(error)
    if item.batched:
        batch_outputs = run.model.predict_batch(list(waveforms.values())) if waveforms else []
        outputs_by_path = dict(zip(waveforms, batch_outputs))
    else:
        outputs_by_path = {}
        for path, waveform in waveforms.items():
            try:
                words = words_for_file(run.timings, path) if run.timings is not None else None
                words = run.model.word_boundaries(waveform, words, source=path)
                outputs_by_path[path] = run.model.predict_waveform(waveform, run.chunk_s, words)
            except EmorecError as error:
                errors[path] = str(error)
    return [(path, outputs, waveforms[path].shape[0]) for path, outputs in outputs_by_path.items()]


def _finish(run: _RunSettings, path: str, outputs: Dict[str, np.ndarray],
            num_samples: int) -> Tuple[pd.DataFrame, List[Path]]:
    table = frame_table(outputs, run.model.label_names, os.path.abspath(path), num_samples)
    return table, _write_outputs(table, run.planned.get(path, {}), run.output_format, Path(path).name, run.overwrite)


def _collect(finishing: Dict[str, Future], report: PredictReport) -> None:
    """Tables and written files into `report`; a file whose outputs could not be written (one that
    appeared meanwhile) gets its error, so that the summary still has a row for every input."""
    for path, future in finishing.items():
        try:
            report.tables[path], report.outputs[path] = future.result()
        except EmorecError as error:
            report.errors[path] = str(error)


def _planned_summary(planned: Dict[str, Dict[str, Path]], out_dir: PathLike, overwrite: bool) -> Path:
    path = Path(out_dir) / SUMMARY_FILENAME
    clash = [given for given, outputs in planned.items() if path in outputs.values()]
    if clash:  # an input named `summary` at the inputs' common folder
        raise OutputExistsError(path, f"would also hold the predictions of {text_name(clash[0])}; choose another "
                                      "--out layout or rename that file")
    if os.path.lexists(path) and not overwrite:  # a symlink too, even a dangling one
        raise OutputExistsError(path, "exists; pass --overwrite (overwrite=True) to replace it, or choose another --out")
    return path


def write_file_means(path: PathLike, table: pd.DataFrame, overwrite: bool = True) -> Path:
    """`PredictReport.file_means` as CSV: header `file,duration_s,<dims>,error`, 6 decimals, empty
    values for a failed file; names and errors as `text_name` gives them, quoted where needed.
    Put in place as `publish_file` does (overwrite=False refuses an existing file)."""
    lines = [",".join(_csv_field(str(name)) for name in [table.index.name or "file", *table.columns])]
    for file, row in table.iterrows():
        fields = [_csv_field(str(file))]
        for value in row:
            if isinstance(value, str):
                fields.append(_csv_field(value))
            else:
                fields.append("" if pd.isna(value) else f"{float(value):.6f}")
        lines.append(",".join(fields))
    text = "\n".join(lines) + "\n"
    return publish_file(Path(path), lambda temporary: temporary.write_text(text, encoding="utf-8"), overwrite)
