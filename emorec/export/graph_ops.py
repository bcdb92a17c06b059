"""The graph around an emorec model for serving: framing raw waveforms, naming the outputs per
affect dimension, splitting the model at its LSTM for streaming, tracing without cuDNN.

Everything here is core TensorFlow, so the SavedModel that holds it loads in stock
`tensorflow/serving`.
"""
from __future__ import annotations

import contextlib
from typing import Dict, List, Sequence

import keras
import numpy as np
import tensorflow as tf

from emorec.constants import AUDIO_INPUT, FRAME_DURATION_S, FRAME_LENGTH_SAMPLES, MAX_ABS_SAMPLE
from emorec.errors import ExportError


# --------------------------------------------------------------------------------------------
# In-graph framing shared by both signatures.


WAVEFORM_NOT_FINITE = "waveform must hold finite samples: NaN or inf found within length"
WAVEFORM_OUT_OF_RANGE = (f"waveform samples must be float PCM in [-1, 1] (|x| <= {MAX_ABS_SAMPLE:g} accepted) "
                         "within length; scale integer PCM by 1/32768 (int16) or 1/2^31 (int32)")
WAVEFORM_NO_ROWS = "waveform must hold at least one row (batch size 0)"


def validate_serving_inputs(waveform: tf.Tensor, length: tf.Tensor):
    """(waveform float32, length int32) that no op can read before they are checked.

    Raises `tf.errors.InvalidArgumentError` naming the input when waveform is not rank 2 or has no
    row, the batch sizes of waveform and length differ, a length is not in 1..samples, or a sample
    within a row's length is NaN, infinite or larger than `MAX_ABS_SAMPLE` in magnitude: without
    the checks a single length broadcasts over every row, a length past the samples is clamped, a
    negative one gives no frames, and NaN or huge samples give finite, plausible outputs (the
    CNN's ReLU and max pooling drop NaN), all silently. Every serving function calls this first
    and uses only the returned tensors, so the checks run before any op that would fail obscurely
    (a slice out of bounds for a rank-1 waveform, the LSTM's TensorList on an empty batch). Assert
    ops are core TensorFlow; tf2onnx drops them, see `mark_unusable_rows` for what ONNX does.
    """
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    length = tf.cast(length, tf.int32)
    # EnsureShape checks the rank when the graph runs: a loaded signature does not check its inputs
    # against its [None, None] spec, and assert_rank (or tf.rank) would be decided at trace time.
    waveform = tf.ensure_shape(waveform, [None, None], name="check_waveform_rank")
    length = tf.ensure_shape(length, [None], name="check_length_rank")
    checks = [
        tf.debugging.assert_positive(tf.shape(waveform)[0], message=WAVEFORM_NO_ROWS),
        tf.debugging.assert_equal(tf.shape(length)[0], tf.shape(waveform)[0],
                                  message="length must hold one entry per waveform row (batch sizes differ)"),
        tf.debugging.assert_positive(length, message="length must be > 0 (real samples of each waveform row)"),
        tf.debugging.assert_less_equal(length, tf.shape(waveform)[1],
                                       message="length must be <= the samples of waveform (its second dimension)"),
    ]
    # After the shape checks, so that a bad length is reported as such; finiteness before range,
    # so that NaN is named as NaN.
    with tf.control_dependencies(checks):
        finite, in_range = _row_sample_checks(waveform, length)
        finite_check = tf.debugging.assert_equal(finite, True, message=WAVEFORM_NOT_FINITE)
    with tf.control_dependencies([finite_check]):
        range_check = tf.debugging.assert_equal(in_range, True, message=WAVEFORM_OUT_OF_RANGE)
    with tf.control_dependencies([range_check]):
        return tf.identity(waveform), tf.identity(length)


def _row_sample_checks(waveform: tf.Tensor, length: tf.Tensor):
    """Per row (bool `[batch]` each): all samples within `length` are finite; all are at most
    `MAX_ABS_SAMPLE` in magnitude. Padding past `length` is not looked at: the graph zeroes it."""
    real = tf.sequence_mask(length, tf.shape(waveform)[1])
    finite = tf.reduce_all(tf.math.is_finite(waveform) | ~real, axis=1)
    # NaN compares False, so NaN is out of range too.
    in_range = tf.reduce_all((tf.abs(waveform) <= MAX_ABS_SAMPLE) | ~real, axis=1)
    return finite, in_range


def mark_unusable_rows(outputs: Dict[str, tf.Tensor], waveform: tf.Tensor, length: tf.Tensor,
                       label_names: Sequence[str]) -> Dict[str, tf.Tensor]:
    """`outputs` with every affect dimension NaN in the rows whose samples `validate_serving_inputs`
    refuses (non-finite or beyond `MAX_ABS_SAMPLE`).

    TensorFlow never gets here with such a row (the asserts stop the call). tf2onnx drops assert
    ops, so in an ONNX export this is the check: a bad row gives NaN outputs, which a caller
    notices, instead of finite, plausible ones.
    """
    finite, in_range = _row_sample_checks(waveform, length)
    usable = (finite & in_range)[:, None]
    marked = dict(outputs)
    for name in label_names:
        marked[name] = tf.where(usable, outputs[name], tf.constant(np.nan, outputs[name].dtype))
    return marked


def validate_stream_state(waveform: tf.Tensor, **states: tf.Tensor):
    """The carried states of `serving_stream` by input name (LSTM h/c `[batch, units]`,
    normalisation `[batch]`), checked to hold one row per waveform row: a state of another batch
    size would broadcast or fail deep inside the LSTM. Returns them, checked, in the order given."""
    checks = [tf.debugging.assert_equal(tf.shape(state)[0], tf.shape(waveform)[0],
                                        message=f"{name} must hold one row per waveform row (batch sizes differ)")
              for name, state in states.items()]
    with tf.control_dependencies(checks):
        return tuple(tf.identity(state) for state in states.values())


def validate_word_inputs(waveform: tf.Tensor, word_start_s: tf.Tensor, word_end_s: tf.Tensor, num_words: tf.Tensor):
    """The word inputs of a semantic model's `serving_default`, checked against the waveform: one
    row per waveform row, start and end of one shape, 0 <= num_words <= the words given."""
    checks = [
        tf.debugging.assert_equal(tf.shape(word_start_s)[0], tf.shape(waveform)[0],
                                  message="word_start_s must hold one row per waveform row (batch sizes differ)"),
        tf.debugging.assert_equal(tf.shape(word_end_s), tf.shape(word_start_s),
                                  message="word_end_s must have the shape of word_start_s"),
        tf.debugging.assert_equal(tf.shape(num_words)[0], tf.shape(waveform)[0],
                                  message="num_words must hold one entry per waveform row (batch sizes differ)"),
        tf.debugging.assert_non_negative(num_words, message="num_words must be >= 0"),
        tf.debugging.assert_less_equal(num_words, tf.shape(word_start_s)[1],
                                       message="num_words must be <= the words given (word_start_s' second dimension)"),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(word_start_s), tf.identity(word_end_s), tf.identity(num_words)


def frame_waveform(waveform: tf.Tensor, length: tf.Tensor):
    """Cut a padded batch of waveforms into 0.1 s frames.

    waveform: float32 `[batch, samples]`; length: int `[batch]` real samples per row, checked by
    `validate_serving_inputs`.
    Returns (frames float32 `[batch, max_frames, 2205]`, frame_mask bool `[batch, max_frames]`,
    num_frames int32 `[batch]`), where num_frames = ceil(length / 2205): a trailing partial frame
    is kept and zero-padded, as the converter does for the TFRecords.
    """
    waveform, length = validate_serving_inputs(waveform, length)
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


def frame_times_tensor(frame_mask: tf.Tensor) -> tf.Tensor:
    """`[batch, frames]` start time of each frame (frame i carries the label at i * 0.1 s)."""
    frame_index = tf.cast(tf.range(tf.shape(frame_mask)[1]), tf.float32)
    return tf.broadcast_to(frame_index * FRAME_DURATION_S, tf.shape(frame_mask))


def per_dimension(outputs, label_names: Sequence[str]) -> Dict[str, tf.Tensor]:
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


def require_finite_weights(model: keras.Model, source: str) -> None:
    """Raise `ExportError` naming `source` (the model file, or the model's name) when a weight is
    NaN or infinite: such a model predicts `nan` for every frame, which a client may not notice."""
    for variable in model.weights:
        if not np.all(np.isfinite(keras.ops.convert_to_numpy(variable.value))):
            raise ExportError(f"{source}: weight {variable.path} holds NaN or infinite values (training diverged); "
                              "retrain with a lower training.learning_rate instead of exporting this model")


#: Dtype names of reduced-precision compute (`mixed_*` policies and their compute dtypes).
REDUCED_PRECISION_DTYPES = ("bfloat16", "float16", "mixed_bfloat16", "mixed_float16")


def float32_model(model: keras.Model) -> keras.Model:
    """`model` computing in float32: itself when it already does, else the same architecture and
    weights rebuilt with every dtype policy and cast at float32.

    A run trained under `mixed_bfloat16` (what `--precision auto` picks on CPUs with bfloat16
    arithmetic) keeps float32 variables but computes and casts in bfloat16; converters such as
    tf2onnx cannot represent bfloat16 tensors, and float32 is exact for the weights it holds.
    """
    nested = model._flatten_layers(include_self=True, recursive=True)
    if all(layer.dtype_policy.name == "float32" for layer in nested):
        return model
    import emorec.models  # noqa: F401  (registers emorec's serialisable layers for from_config)

    config = _float32_config(model.get_config())
    previous = keras.mixed_precision.global_policy()
    # Sub-layers that a custom layer creates in __init__ take the global policy, not its own.
    keras.mixed_precision.set_global_policy("float32")
    try:
        rebuilt = model.__class__.from_config(config)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def _float32_config(value):
    """A layer or model config with every reduced-precision dtype (policy, cast, tensor) at float32."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy" and value.get("config", {}).get("name") in REDUCED_PRECISION_DTYPES:
            return "float32"
        return {key: "float32" if key == "dtype" and item in REDUCED_PRECISION_DTYPES else _float32_config(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_float32_config(item) for item in value]
    return value


# --------------------------------------------------------------------------------------------
# The streaming split: per-frame encoder -> LSTM (state carried between chunks) -> head.


def split_at_lstm(model: keras.Model):
    """(encoder, lstm layer, head) of a functional model with exactly one LSTM layer, or None.

    encoder maps the model input to the LSTM input `[batch, frames, features]`; head maps the
    LSTM output sequence to the model outputs. None when the model cannot be split that way
    (no LSTM, several, a bidirectional/backwards one, or tensors that bypass the LSTM); such a
    model is exported without the streaming signature and long files are predicted in one call.
    """
    lstms = [layer for layer in all_layers(model) if isinstance(layer, keras.layers.LSTM)]
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


def all_layers(model: keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


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
    nested = list(flatten(include_self=False, recursive=True)) if flatten else list(all_layers(model))
    layers = [layer for layer in nested if hasattr(layer, "use_cudnn")]
    saved = [layer.use_cudnn for layer in layers]
    try:
        for layer in layers:
            layer.use_cudnn = False
        yield
    finally:
        for layer, value in zip(layers, saved):
            layer.use_cudnn = value
