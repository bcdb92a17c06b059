"""Prediction on audio files and numpy arrays with an exported SavedModel.

The client side does what the graph deliberately does not (so that the graph stays core-TF only):
decoding, mixing down to mono and resampling to 22 050 Hz, all through `emorec.data.audio`,
the same code the converter uses for training data. Long recordings go through the
`serving_stream` signature in chunks of whole 0.1 s frames, each chunk starting from the LSTM
state the previous one ended with, so no frame and no state is lost at chunk borders.

Models with a semantic branch take word boundaries with the audio: given ones (`words` /
a word-timings CSV `file,word,start_s,end_s`, EmoDB's `word_timings.csv` layout) for runs trained
on given boundaries; for segmenter runs the client runs `emorec.semantic.segmenter.segment_words`
with the settings stored in the export. Such models are called once per recording (no streaming).

Output: one CSV per file in the AVEC label layout (`;`-separated, no header,
`'name';time_s;dim1;dim2;...`, 10 rows per second) and optionally a PNG of the curves.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd
import tensorflow as tf

from emorec.constants import FRAME_LENGTH_SAMPLES, SAMPLE_RATE_HZ
from emorec.data.audio import DEFAULT_MAX_DURATION_S, AudioLimits
from emorec.data.frames import frame_times_s, num_frames_for
from emorec.errors import EmorecError, InputFileError, PathLike
from emorec.evaluation.report import write_avec_predictions
from emorec.export.saved_model import read_metadata, resolve_version_dir
from emorec.export.serving_module import DEFAULT_SIGNATURE, NORM_STATE_NAMES, STREAM_SIGNATURE

#: Audio per `serving_stream` call. 30 s = 300 frames keeps the CNN's activations of the Table 1
#: model near 130 MB while the per-call overhead stays negligible.
DEFAULT_CHUNK_S = 30.0

#: `emorec predict`'s default model: `saved_models/<name>` in a checkout, package data
#: `emorec/resources/models/<name>` in an installed wheel (setup.py copies it there when building).
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
    """An exported emorec SavedModel, loaded once and called per recording."""

    def __init__(self, model_dir: PathLike):
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
        segmenter's for a segmenter run without `words`, else `words` (required for given-boundary runs)."""
        if self.semantic is None:
            return None
        if words is None:
            if self.semantic.get("boundaries") != "segmenter":
                raise InputFileError(source, "this model's semantic branch was trained on given word boundaries: "
                                             "pass them (predict --words CSV, or words=[(start_s, end_s), ...])")
            from emorec.semantic.segmenter import SegmenterConfig, segment_words

            return segment_words(waveform, SegmenterConfig(**(self.semantic.get("segmenter") or {})))
        return [(float(start_s), float(end_s)) for start_s, end_s in words]

    def predict_waveform(self, waveform: np.ndarray, chunk_s: Optional[float] = DEFAULT_CHUNK_S,
                         words: Optional[Sequence[Tuple[float, float]]] = None) -> Dict[str, np.ndarray]:
        """Per-frame outputs for one mono 22 050 Hz waveform `[samples]`.

        Returns {dimension: `[frames]`, "frame_times_s": `[frames]`}. With `chunk_s` (and a
        streaming signature), the waveform goes through in chunks of whole frames; None or a
        model without streaming signature: one call. words: (start_s, end_s) per word for a model
        with a semantic branch (see `word_boundaries`).
        """
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


def _as_model(model: Union[ExportedModel, PathLike]) -> ExportedModel:
    return model if isinstance(model, ExportedModel) else ExportedModel(model)


def prepare_waveform(waveform: np.ndarray, sample_rate_hz: int, source: PathLike = "<array>",
                     limits=None) -> np.ndarray:
    """Mix down `[samples]` / `[samples, channels]` and resample to 22 050 Hz, float32 in [-1, 1].
    limits: an `emorec.data.audio.AudioLimits` for the rate and duration (default: 1-384 kHz, 4 h)."""
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
    check_limits(source, int(sample_rate_hz), waveform.shape[0], limits)
    mono = resample(to_mono(waveform.astype(np.float32, copy=False)), int(sample_rate_hz), SAMPLE_RATE_HZ)
    if mono.size == 0:
        raise InputFileError(source, "audio has zero samples after resampling")
    return np.clip(mono, -1.0, 1.0)


def _frame_table(outputs: Dict[str, np.ndarray], label_names: Sequence[str], name: str) -> pd.DataFrame:
    table = pd.DataFrame({"name": name, "time_s": outputs["frame_times_s"]})
    for dim in label_names:
        table[dim] = outputs[dim].astype(np.float64)
    return table


def predict_array(
    waveform: np.ndarray,
    sample_rate_hz: int,
    model: Union[ExportedModel, PathLike],
    name: str = "array",
    chunk_s: Optional[float] = DEFAULT_CHUNK_S,
    words: Optional[Sequence[Tuple[float, float]]] = None,
    *,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
    allow_any_sample_rate: bool = False,
) -> pd.DataFrame:
    """Predict the affect curves of a numpy waveform.

    waveform: float `[samples]` or `[samples, channels]` in [-1, 1] at `sample_rate_hz`; it is
    mixed down and resampled to 22 050 Hz here. model: an `ExportedModel` or an export folder.
    words: (start_s, end_s) per word, for a semantic model trained on given boundaries.
    Returns one row per 0.1 s frame: columns `name`, `time_s` and one per affect dimension.
    """
    model = _as_model(model)
    mono = prepare_waveform(waveform, sample_rate_hz, limits=AudioLimits(max_duration_s, allow_any_sample_rate))
    return _frame_table(model.predict_waveform(mono, chunk_s, words), model.label_names, name)


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


def plot_curves(table: pd.DataFrame, path: PathLike, title: str = "") -> Path:
    """A PNG of each affect dimension over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = [column for column in table.columns if column not in ("name", "time_s")]
    figure, axis = plt.subplots(figsize=(10, 3.5))
    for dim in dims:
        axis.plot(table["time_s"], table[dim], label=dim, linewidth=1.2)
    axis.set_xlabel("time (s)")
    axis.set_ylabel("prediction")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(loc="upper right")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def predict_file(
    path: PathLike,
    model: Union[ExportedModel, PathLike],
    out_dir: Optional[PathLike] = None,
    plot: bool = False,
    chunk_s: Optional[float] = DEFAULT_CHUNK_S,
    words: Optional[Sequence[Tuple[float, float]]] = None,
    *,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
    allow_any_sample_rate: bool = False,
) -> pd.DataFrame:
    """Predict one audio file (any rate, channel count and format the converter reads).

    With `out_dir`, writes `out_dir/<stem>.csv` (AVEC layout) and, with `plot`, `<stem>.png`.
    words: (start_s, end_s) per word, for a semantic model trained on given boundaries.
    max_duration_s, allow_any_sample_rate: sanity limits (see `emorec.data.audio.AudioLimits`).
    Raises InputFileError for a missing, empty, zero-length or undecodable file, or one outside
    the limits.
    """
    from emorec.data.audio import load_audio

    model = _as_model(model)
    path = Path(path)
    mono = load_audio(path, SAMPLE_RATE_HZ, limits=AudioLimits(max_duration_s, allow_any_sample_rate))
    words = model.word_boundaries(mono, words, source=path)  # errors name the file
    table = _frame_table(model.predict_waveform(mono, chunk_s, words), model.label_names, path.stem)
    if out_dir is not None:
        write_avec_predictions(Path(out_dir) / f"{path.stem}.csv", path.stem,
                               table[model.label_names].to_numpy(), model.label_names)
        if plot:
            plot_curves(table, Path(out_dir) / f"{path.stem}.png", title=path.name)
    return table


@dataclass
class PredictReport:
    """What `predict_files` did: tables of the files that worked, one-line errors for the rest."""

    tables: Dict[str, pd.DataFrame] = field(default_factory=dict)
    errors: Dict[str, str] = field(default_factory=dict)


def predict_files(
    paths: Iterable[PathLike],
    model: Union[ExportedModel, PathLike],
    out_dir: Optional[PathLike] = None,
    plot: bool = False,
    chunk_s: Optional[float] = DEFAULT_CHUNK_S,
    words_csv: Optional[PathLike] = None,
    *,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
    allow_any_sample_rate: bool = False,
) -> PredictReport:
    """`predict_file` over many files; a bad file is recorded in `errors` and the rest go on.

    words_csv: word timings (`file,word,start_s,end_s`) for a semantic model trained on given
    boundaries; each file takes the rows of its name (or stem)."""
    model = _as_model(model)
    timings = read_word_timings(words_csv) if words_csv is not None else None
    report = PredictReport()
    written_by_stem: Dict[str, str] = {}
    for path in paths:
        try:
            stem = Path(path).stem
            if out_dir is not None and written_by_stem.setdefault(stem, str(path)) != str(path):
                # outputs are named by stem: a second file of that name would overwrite the first's
                raise InputFileError(path, f"same file name as {written_by_stem[stem]}: its {stem}.csv would be "
                                           "overwritten; predict it in a separate call or rename it")
            words = words_for_file(timings, path) if timings is not None and model.semantic is not None else None
            report.tables[str(path)] = predict_file(path, model, out_dir, plot, chunk_s, words,
                                                    max_duration_s=max_duration_s,
                                                    allow_any_sample_rate=allow_any_sample_rate)
        except EmorecError as error:
            report.errors[str(path)] = str(error)
    return report
