"""SavedModel export in TensorFlow Serving's layout, with signatures that take raw waveforms.

`export_saved_model` writes `NAME/<version>/saved_model.pb` + `variables/` (TF Serving loads the
highest version of `NAME`). Two signatures:

- `serving_default`: `waveform` float32 `[batch, samples]` at 22 050 Hz and `length` int32
  `[batch]` (real samples per row, so rows of unequal length batch together). The waveform is cut
  into 0.1 s frames in the graph (zero-padded to whole 2205-sample frames, samples past `length`
  zeroed) and the outputs are one float32 `[batch, frames]` tensor per affect dimension, named
  after it, plus `frame_times_s` `[batch, frames]`, `frame_mask` bool `[batch, frames]` and
  `num_frames` int32 `[batch]`.
- `serving_stream` (when the model has one unidirectional LSTM that splits it into a per-frame
  encoder and a head): the same inputs plus `lstm_state_h` / `lstm_state_c` `[batch, units]`, the
  same outputs plus the LSTM state after the chunk's last real frame (`frame_times_s` counts from
  the chunk's start). Long recordings are fed in
  chunks of whole frames, each chunk starting from the previous chunk's state, and give the same
  frames and numbers as one call over the whole recording.

Models with a semantic branch (Speech2Vec or aligned Speech2Vec features) compute the semantic
frame features in the graph (`emorec.export.semantic_graph`): `serving_default` then also takes
the word boundaries `word_start_s` / `word_end_s` float32 `[batch, max_words]` and `num_words`
int32 `[batch]` (for segmenter runs the client runs the segmenter, see `emorec.export.predict`),
and there is no `serving_stream` (a word may straddle a chunk border).

The graph holds only core TensorFlow ops (decoding and resampling happen on the client, see
`emorec.export.predict`), so stock `tensorflow/serving` loads it.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Union

import tensorflow as tf
import keras

from emorec.constants import (AUDIO_INPUT, FRAME_DURATION_S, FRAME_LENGTH_SAMPLES, FRAME_RATE_HZ, SAMPLE_RATE_HZ,
                              SEMANTIC_INPUT)
from emorec.errors import EmorecError, InputFileError, PathLike
from emorec.training.run_folder import RUN_INFO_FILENAME, load_run_model, run_info_or_empty, run_label_names

#: Signature names.
DEFAULT_SIGNATURE = "serving_default"
STREAM_SIGNATURE = "serving_stream"
#: Metadata written next to the SavedModel; TF Serving ignores `assets.extra`.
METADATA_PATH = Path("assets.extra") / "emorec_export.json"
#: Output keys that are not affect dimensions.
AUXILIARY_OUTPUTS = ("frame_times_s", "frame_mask", "num_frames", "lstm_state_h", "lstm_state_c")


#: Inputs of `serving_default`, and of `serving_stream` (the same plus the LSTM state).
SERVE_INPUTS = (
    tf.TensorSpec([None, None], tf.float32, name="waveform"),
    tf.TensorSpec([None], tf.int32, name="length"),
)
STREAM_INPUTS = SERVE_INPUTS + (
    tf.TensorSpec([None, None], tf.float32, name="lstm_state_h"),
    tf.TensorSpec([None, None], tf.float32, name="lstm_state_c"),
)


class ExportError(EmorecError):
    """A model or run folder cannot be exported, or an exported folder cannot be used."""


# --------------------------------------------------------------------------------------------
# In-graph framing shared by both signatures.


def frame_waveform(waveform: tf.Tensor, length: tf.Tensor):
    """Cut a padded batch of waveforms into 0.1 s frames.

    waveform: float32 `[batch, samples]`; length: int `[batch]` real samples per row.
    Returns (frames float32 `[batch, max_frames, 2205]`, frame_mask bool `[batch, max_frames]`,
    num_frames int32 `[batch]`), where num_frames = ceil(length / 2205): a trailing partial frame
    is kept and zero-padded, as the converter does for the TFRecords.
    """
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    length = tf.minimum(tf.cast(length, tf.int32), tf.shape(waveform)[1])
    length = tf.maximum(length, 0)
    num_frames = (length + FRAME_LENGTH_SAMPLES - 1) // FRAME_LENGTH_SAMPLES
    max_frames = tf.reduce_max(tf.concat([num_frames, [0]], axis=0))
    padded_samples = max_frames * FRAME_LENGTH_SAMPLES
    extra = tf.maximum(padded_samples - tf.shape(waveform)[1], 0)
    waveform = tf.pad(waveform, [[0, 0], [0, extra]])[:, :padded_samples]
    # Zero what lies past each row's length, so a row padded inside a batch gives the same numbers
    # as the same recording served alone.
    sample_mask = tf.sequence_mask(length, padded_samples, dtype=tf.float32)
    waveform = waveform * sample_mask
    frames = tf.reshape(waveform, [tf.shape(waveform)[0], max_frames, FRAME_LENGTH_SAMPLES])
    frame_mask = tf.sequence_mask(num_frames, max_frames)
    return frames, frame_mask, num_frames


def _frame_times_s(frame_mask: tf.Tensor) -> tf.Tensor:
    """`[batch, frames]` start time of each frame (frame i carries the label at i * 0.1 s)."""
    frame_index = tf.cast(tf.range(tf.shape(frame_mask)[1]), tf.float32)
    return tf.broadcast_to(frame_index * FRAME_DURATION_S, tf.shape(frame_mask))


def _per_dimension(outputs, label_names: Sequence[str]) -> Dict[str, tf.Tensor]:
    """Model outputs (dict, list or one `[batch, frames, D]` tensor) -> {dim: `[batch, frames]`}."""

    def squeeze(tensor):
        tensor = tf.convert_to_tensor(tensor)
        if tensor.shape.rank == 3:
            tensor = tensor[:, :, 0]
        return tf.cast(tensor, tf.float32)

    if isinstance(outputs, dict):
        return {name: squeeze(outputs[name]) for name in label_names}
    if isinstance(outputs, (list, tuple)):
        if len(outputs) == 1 and len(label_names) > 1:
            outputs = outputs[0]
        else:
            return {name: squeeze(value) for name, value in zip(label_names, outputs)}
    outputs = tf.convert_to_tensor(outputs)
    return {name: tf.cast(outputs[:, :, i], tf.float32) for i, name in enumerate(label_names)}


def infer_label_names(model: keras.Model) -> List[str]:
    """Affect dimension names from a model whose outputs are named after them."""
    outputs = model.output
    if isinstance(outputs, dict):
        return list(outputs.keys())
    names = list(getattr(model, "output_names", None) or [])
    if isinstance(outputs, (list, tuple)) and len(names) == len(outputs):
        return names
    raise ExportError(
        f"cannot tell the affect dimension names of model {model.name!r}: pass label_names"
    )


# --------------------------------------------------------------------------------------------
# The streaming split: per-frame encoder -> LSTM (state carried between chunks) -> head.


def split_at_lstm(model: keras.Model):
    """(encoder, lstm layer, head) of a functional model with exactly one LSTM layer, or None.

    encoder maps the model input to the LSTM input `[batch, frames, features]`; head maps the
    LSTM output sequence to the model outputs. None when the model cannot be split that way
    (no LSTM, several, a bidirectional/backwards one, or tensors that bypass the LSTM); such a
    model is exported without the streaming signature and long files are predicted in one call.
    """
    lstms = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.LSTM)]
    if len(lstms) != 1:
        return None
    lstm = lstms[0]
    if lstm.go_backwards or not lstm.return_sequences or lstm.stateful:
        return None
    try:
        encoder = keras.Model(model.input, lstm.input, name=f"{model.name}_encoder")
        head = keras.Model(lstm.output if not isinstance(lstm.output, (list, tuple)) else lstm.output[0],
                           model.output, name=f"{model.name}_head")  # keeps the dict of named outputs
    except Exception:  # noqa: BLE001 - any graph the functional API cannot cut here
        return None
    return encoder, lstm, head


def model_inputs(model: keras.Model, frames: tf.Tensor):
    """`frames` in the structure the model was built with: {"audio": frames} or the bare tensor."""
    if isinstance(model.input, dict):
        return {AUDIO_INPUT: frames}
    return frames


def _all_layers(model: keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


@contextlib.contextmanager
def portable_recurrent_layers(model: keras.Model):
    """Trace the model's LSTM/GRU layers without cuDNN, restoring the setting afterwards.

    Keras picks the cuDNN kernel at trace time when a GPU is visible; a graph traced that way
    holds CudnnRNN ops that CPU-only TF Serving cannot run. Keras 3.6's cuDNN path also applies
    the input-dropout mask whatever `training` says, so it would give random predictions.
    """
    # Every nested layer, also those held by custom layers and wrappers (the Speech2Vec encoder's
    # GRUs sit inside a Bidirectional inside a custom layer).
    flatten = getattr(model, "_flatten_layers", None)
    nested = list(flatten(include_self=False, recursive=True)) if flatten else list(_all_layers(model))
    layers = [layer for layer in nested if hasattr(layer, "use_cudnn")]
    saved = [layer.use_cudnn for layer in layers]
    try:
        for layer in layers:
            layer.use_cudnn = False
        yield
    finally:
        for layer, value in zip(layers, saved):
            layer.use_cudnn = value


class _Keras:
    """A plain holder, invisible to TensorFlow's object tracking (see ServingModule)."""

    def __init__(self, **objects):
        self.__dict__.update(objects)


class ServingModule(tf.Module):
    """The exported object: the model's variables plus the serving functions around it.

    The Keras objects are kept out of TensorFlow's object graph on purpose: tracked, each Keras 3
    variable would be saved twice (the Keras wrapper and the tf.Variable inside it) and the
    TF1-style loader of TF Serving and `saved_model_cli` would restore one copy while the graph
    reads the other ("Could not find variable ..."). Only the tf.Variables are tracked.
    """

    def __init__(self, model: keras.Model, label_names: Sequence[str], semantic=None):
        super().__init__(name="emorec_serving")
        extra_inputs = sorted(set(model.input) - {AUDIO_INPUT}) if isinstance(model.input, dict) else []
        if [name for name in extra_inputs if name != SEMANTIC_INPUT]:
            raise ExportError(f"model {model.name!r} has inputs {extra_inputs} besides {AUDIO_INPUT!r}; "
                              f"only {AUDIO_INPUT!r} and {SEMANTIC_INPUT!r} can be served")
        if SEMANTIC_INPUT in extra_inputs:
            if semantic is None:
                raise ExportError(f"model {model.name!r} has a semantic branch: export it from its run folder, "
                                  "or pass semantic=SemanticFrontEnd(encoder, linear_map, ...)")
            model_dim = int(model.input[SEMANTIC_INPUT].shape[-1])
            if semantic.dim != model_dim:
                raise ExportError(f"model {model.name!r} takes {model_dim}-dimensional semantic features, but "
                                  f"the {semantic.source} encoder/alignment gives {semantic.dim}")
        else:
            semantic = None
        self.semantic = _Keras(front_end=semantic) if semantic is not None else None
        self.label_names = list(label_names)
        clash = sorted(set(self.label_names) & set(AUXILIARY_OUTPUTS))
        if clash:
            raise ExportError(f"affect dimension names {clash} clash with the signature's outputs")
        # Every variable, including dropout seed-generator states nested in custom layers.
        variables = list(model.variables) + (list(semantic.encoder.model.variables) if semantic else [])
        self.variables_to_save = [getattr(variable, "value", variable) for variable in variables]
        self.keras = _Keras(model=model)
        # No streaming with a semantic branch: a word may straddle a chunk border.
        split = split_at_lstm(model) if semantic is None else None
        self.lstm_units = 0
        if split is not None:
            encoder, lstm, head = split
            self.lstm_units = int(lstm.units)
            # Same cell (same variables) as the model's LSTM, wrapped to take an initial state,
            # return its final state, and hold the state over masked (padded) frames.
            rnn = keras.layers.RNN(lstm.cell, return_sequences=True, return_state=True)
            self.keras = _Keras(model=model, encoder=encoder, head=head, stream_rnn=rnn)
        if semantic is not None:
            from emorec.export.semantic_graph import WORD_INPUTS

            self.serve = tf.function(self._serve_semantic, input_signature=SERVE_INPUTS + WORD_INPUTS)
        else:
            self.serve = tf.function(self._serve, input_signature=SERVE_INPUTS)
        if self.lstm_units:
            self.stream = tf.function(self._stream, input_signature=STREAM_INPUTS)

    def _model_call(self, frames):
        return _per_dimension(self.keras.model(model_inputs(self.keras.model, frames), training=False), self.label_names)

    def _serve(self, waveform, length):
        frames, frame_mask, num_frames = frame_waveform(waveform, length)
        outputs = self._model_call(frames)
        outputs.update(frame_times_s=_frame_times_s(frame_mask), frame_mask=frame_mask,
                       num_frames=num_frames)
        return outputs

    def _serve_semantic(self, waveform, length, word_start_s, word_end_s, num_words):
        frames, frame_mask, num_frames = frame_waveform(waveform, length)
        masked_waveform = tf.reshape(frames, [tf.shape(frames)[0], -1])  # zeroed past each length
        semantic = self.semantic.front_end.frame_features(
            masked_waveform, length, word_start_s, word_end_s, num_words, tf.shape(frames)[1])
        # Frames past a row's own count get zeros, as its audio frames do.
        semantic = semantic * tf.cast(frame_mask, semantic.dtype)[:, :, None]
        outputs = _per_dimension(
            self.keras.model({AUDIO_INPUT: frames, SEMANTIC_INPUT: semantic}, training=False),
            self.label_names)
        outputs.update(frame_times_s=_frame_times_s(frame_mask), frame_mask=frame_mask,
                       num_frames=num_frames)
        return outputs

    def _stream(self, waveform, length, lstm_state_h, lstm_state_c):
        frames, frame_mask, num_frames = frame_waveform(waveform, length)
        features = self.keras.encoder(model_inputs(self.keras.encoder, frames), training=False)
        sequence, state_h, state_c = self.keras.stream_rnn(
            features, mask=frame_mask, initial_state=[lstm_state_h, lstm_state_c], training=False
        )
        outputs = _per_dimension(self.keras.head(sequence, training=False), self.label_names)
        outputs.update(frame_times_s=_frame_times_s(frame_mask), frame_mask=frame_mask,
                       num_frames=num_frames, lstm_state_h=state_h, lstm_state_c=state_c)
        return outputs


# --------------------------------------------------------------------------------------------
# Loading what to export.


def run_semantic_front_end(run_dir: PathLike):
    """The `SemanticFrontEnd` of a run with a semantic branch (from run.json's
    `semantic_features` folder), or None for an audio-only run."""
    info = run_info_or_empty(run_dir)
    if not info.get("semantic_dim"):
        return None
    features_dir = info.get("semantic_features")
    if not features_dir:
        raise InputFileError(Path(run_dir) / RUN_INFO_FILENAME,
                             "has semantic_dim but no semantic_features folder: cannot export the semantic branch")
    from emorec.export.semantic_graph import front_end_from_features_dir

    return front_end_from_features_dir(features_dir, run_dir)


def next_version(model_dir: PathLike) -> int:
    """1 + the highest integer version folder under `model_dir` (1 when there is none)."""
    model_dir = Path(model_dir)
    versions = [int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()] \
        if model_dir.is_dir() else []
    return max(versions, default=0) + 1


def _stream_matches_serve(module: ServingModule, tolerance: float = 1e-4) -> bool:
    """Probe: two chunks through `stream` give the same frames as one call through `serve`."""
    probe = tf.random.stateless_uniform([1, 5 * FRAME_LENGTH_SAMPLES], seed=[1, 2], minval=-0.5, maxval=0.5)
    whole = module.serve(probe, tf.constant([5 * FRAME_LENGTH_SAMPLES]))
    state = [tf.zeros([1, module.lstm_units])] * 2
    pieces = []
    for start, stop in ((0, 2), (2, 5)):
        chunk = probe[:, start * FRAME_LENGTH_SAMPLES: stop * FRAME_LENGTH_SAMPLES]
        result = module.stream(chunk, tf.shape(chunk)[1:2], *state)
        state = [result["lstm_state_h"], result["lstm_state_c"]]
        pieces.append(result)
    for name in module.label_names:
        streamed = tf.concat([piece[name] for piece in pieces], axis=1)
        if float(tf.reduce_max(tf.abs(streamed - whole[name]))) > tolerance:
            return False
    return True


def export_saved_model(
    model: Union[keras.Model, PathLike],
    out_dir: PathLike,
    version: Optional[int] = None,
    label_names: Optional[Sequence[str]] = None,
    check_ops: bool = True,
    semantic=None,
) -> Path:
    """Export a Keras model (or a run folder's best model) as `out_dir/<version>/`.

    model: a Keras model taking {"audio": float32 `[batch, frames, 2205]`} (and, with a semantic
    branch, "semantic" `[batch, frames, dim]`) with per-frame outputs per affect dimension, or a
    training run folder. out_dir: the model's name folder in TF Serving's layout
    (`saved_models/NAME`). version: integer version; the next free one if None. semantic: a
    `emorec.export.semantic_graph.SemanticFrontEnd` for a Keras model with a semantic branch (a run
    folder's comes from its run.json and semantic features folder).
    Returns the version folder. Raises `ExportError` when the version exists already, the graph
    holds a non-core op, or the semantic source is word2vec (text, not audio).
    """
    if not isinstance(model, keras.Model):
        run_dir = Path(model)
        label_names = label_names or run_label_names(run_dir)
        model = load_run_model(run_dir)
        if semantic is None:
            semantic = run_semantic_front_end(run_dir)
    label_names = list(label_names) if label_names is not None else infer_label_names(model)
    out_dir = Path(out_dir)
    version = next_version(out_dir) if version is None else int(version)
    if version < 1:
        raise ExportError(f"{out_dir}: version must be a positive integer, got {version}")
    target = out_dir / str(version)
    if target.exists():
        raise ExportError(f"{target}: version {version} exists already (omit --version for the next free one)")

    module = ServingModule(model, label_names, semantic)
    front_end = module.semantic.front_end if module.semantic is not None else None
    with portable_recurrent_layers(model), \
            (portable_recurrent_layers(front_end.encoder.model) if front_end else contextlib.nullcontext()):
        signatures = {DEFAULT_SIGNATURE: module.serve.get_concrete_function()}
        if module.lstm_units:
            if _stream_matches_serve(module):
                signatures[STREAM_SIGNATURE] = module.stream.get_concrete_function()
            else:
                warnings.warn(f"{model.name}: the split at the LSTM does not reproduce the model; "
                              "exported without the streaming signature (long files in one call)")
                module.lstm_units = 0
    out_dir.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename: TF Serving polls the folder and must never see a
    # half-written version.
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=out_dir))
    try:
        tf.saved_model.save(module, str(staging), signatures=signatures)
        metadata = {
            "label_names": label_names,
            "sample_rate_hz": SAMPLE_RATE_HZ,
            "frame_rate_hz": FRAME_RATE_HZ,
            "frame_length_samples": FRAME_LENGTH_SAMPLES,
            "lstm_units": module.lstm_units,
            "signatures": sorted(signatures),
            "model_name": model.name,
            "semantic": front_end.metadata() if front_end else None,
        }
        (staging / METADATA_PATH).parent.mkdir(parents=True, exist_ok=True)
        (staging / METADATA_PATH).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
        if check_ops:
            custom = non_core_ops(list_graph_ops(staging))
            if custom:
                raise ExportError(f"{model.name}: graph uses ops outside core TensorFlow: {', '.join(custom)}")
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


# --------------------------------------------------------------------------------------------
# Reading an export back.


def resolve_version_dir(model_dir: PathLike) -> Path:
    """`NAME/` -> its highest version folder; a version folder itself is returned as is."""
    model_dir = Path(model_dir)
    if (model_dir / "saved_model.pb").is_file():
        return model_dir
    if not model_dir.is_dir():
        raise InputFileError(model_dir, "exported model not found (run `emorec export` or pass --model)")
    versions = [p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()
                and (p / "saved_model.pb").is_file()]
    if not versions:
        raise InputFileError(model_dir, "no version folder with a saved_model.pb inside")
    return max(versions, key=lambda p: int(p.name))


def read_metadata(version_dir: PathLike) -> dict:
    path = Path(version_dir) / METADATA_PATH
    if not path.is_file():
        raise InputFileError(path, "not an emorec export (metadata file missing)")
    return json.loads(path.read_text(encoding="utf-8"))


def list_graph_ops(version_dir: PathLike) -> Set[str]:
    """Every op type in a SavedModel: the graph's nodes and the nodes of every library function.

    Calls of library functions by name are not ops and are left out.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(version_dir) / "saved_model.pb").read_bytes())
    ops: Set[str] = set()
    for meta_graph in proto.meta_graphs:
        graph = meta_graph.graph_def
        function_names = {function.signature.name for function in graph.library.function}
        ops.update(node.op for node in graph.node)
        for function in graph.library.function:
            ops.update(node.op for node in function.node_def)
        ops -= function_names
    return ops


_REGISTRY_SCRIPT = """
import json, sys
import tensorflow as tf  # core TensorFlow only: no tensorflow_io, no emorec
from tensorflow.python.framework import op_def_registry
ops = json.loads(sys.stdin.read())
print(json.dumps(sorted(op for op in ops if op_def_registry.get(op) is None)))
"""


def non_core_ops(ops) -> List[str]:
    """The ops in `ops` that a process with plain TensorFlow (nothing else imported) lacks.

    Checked in a fresh interpreter, because this process may have loaded tensorflow-io, whose
    ops would then look registered.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", _REGISTRY_SCRIPT], input=json.dumps(sorted(ops)),
        capture_output=True, text=True, env=env, check=False,
    )
    if result.returncode != 0:
        raise ExportError(f"op registry check failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
