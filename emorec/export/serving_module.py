"""`ServingModule`: the exported object, the model's variables plus the signature functions.

- `serving_default`: `waveform` float32 `[batch, samples]` at 22 050 Hz and `length` int32
  `[batch]` in; one float32 `[batch, frames]` per affect dimension, `frame_times_s`,
  `frame_mask` and `num_frames` out (and, with a semantic branch, the word boundaries in).
- `serving_stream`: the same plus the LSTM state in and out, for long recordings in chunks.

`emorec.export.saved_model` documents the signatures in full and writes the module to disk.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import keras
import tensorflow as tf

from emorec.config import NormalisationConfig
from emorec.constants import AUDIO_INPUT, FRAME_LENGTH_SAMPLES, SEMANTIC_INPUT
from emorec.data.normalisation import normalise_frames
from emorec.errors import ExportError
from emorec.export.graph_ops import (frame_times_tensor, frame_waveform, mark_unusable_rows, model_inputs, per_dimension,
                                     split_at_lstm, validate_serving_inputs, validate_stream_state,
                                     validate_word_inputs)
from emorec.export.semantic_graph import WORD_INPUTS
from emorec.models.standardisation import FrameStatisticsStandardisation

#: Signature names.
DEFAULT_SIGNATURE = "serving_default"
STREAM_SIGNATURE = "serving_stream"
#: Running statistics of causal normalisation carried between `serving_stream` calls (inputs and
#: outputs, float32 `[batch]`, zeros at a recording's start): sum of squares and samples so far.
NORM_STATE_NAMES = ("norm_sum_squares", "norm_samples")
#: Output keys that are not affect dimensions.
AUXILIARY_OUTPUTS = ("frame_times_s", "frame_mask", "num_frames", "lstm_state_h", "lstm_state_c") + NORM_STATE_NAMES


#: Inputs of `serving_default`, and of `serving_stream` (the same plus the LSTM state).
SERVE_INPUTS = (
    tf.TensorSpec([None, None], tf.float32, name="waveform"),
    tf.TensorSpec([None], tf.int32, name="length"),
)
STREAM_INPUTS = SERVE_INPUTS + (
    tf.TensorSpec([None, None], tf.float32, name="lstm_state_h"),
    tf.TensorSpec([None, None], tf.float32, name="lstm_state_c"),
)
#: `serving_stream` of a model trained with causal normalisation: the LSTM and normalisation state.
CAUSAL_STREAM_INPUTS = STREAM_INPUTS + tuple(tf.TensorSpec([None], tf.float32, name=n) for n in NORM_STATE_NAMES)


def normalisation_for_serving(normalisation: Optional[NormalisationConfig], model_name: str) -> NormalisationConfig:
    """The normalisation the serving graph reproduces; an `ExportError` for one it cannot."""
    normalisation = normalisation or NormalisationConfig()
    if normalisation.kind == "speaker":
        raise ExportError(f"{model_name}: trained with data.normalisation.kind speaker, which scales each speaker "
                          "with statistics over all their recordings in a partition; a served recording has no "
                          "such statistics. Train with kind recording or causal to export.")
    return normalisation


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

    def __init__(self, model: keras.Model, label_names: Sequence[str], semantic=None,
                 normalisation: Optional[NormalisationConfig] = None):
        super().__init__(name="emorec_serving")
        self.normalisation = normalisation_for_serving(normalisation, model.name)
        if any(isinstance(layer, FrameStatisticsStandardisation) for layer in model.layers):
            raise ExportError(f"{model.name}: trained with model.feature_statistics speaker, which standardises "
                              "features with statistics over all of a speaker's recordings; a served recording "
                              "has no such statistics. Train with feature_statistics none to export.")
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
        if self.normalisation.kind == "recording":
            split = None  # the whole recording's RMS scales its first frame: nothing to stream
        self.lstm_units = 0
        if split is not None:
            encoder, lstm, head = split
            self.lstm_units = int(lstm.units)
            # Same cell (same variables) as the model's LSTM, wrapped to take an initial state,
            # return its final state, and hold the state over masked (padded) frames.
            rnn = keras.layers.RNN(lstm.cell, return_sequences=True, return_state=True)
            self.keras = _Keras(model=model, encoder=encoder, head=head, stream_rnn=rnn)
        if semantic is not None:
            self.serve = tf.function(self._serve_semantic, input_signature=SERVE_INPUTS + WORD_INPUTS)
        else:
            self.serve = tf.function(self._serve, input_signature=SERVE_INPUTS)
        if self.lstm_units:
            causal = self.normalisation.kind == "causal"
            self.stream = tf.function(self._stream_causal if causal else self._stream,
                                      input_signature=CAUSAL_STREAM_INPUTS if causal else STREAM_INPUTS)

    def initial_stream_state(self, batch: int) -> Dict[str, tf.Tensor]:
        """Zero state of `serving_stream` besides the LSTM's, for a recording's first chunk."""
        if self.normalisation.kind != "causal":
            return {}
        return {name: tf.zeros([batch], tf.float32) for name in NORM_STATE_NAMES}

    def _normalise(self, frames, waveform, length, state=None):
        """The run's `data.normalisation` on the framed audio (see `emorec.data.normalisation`)."""
        num_samples = tf.clip_by_value(tf.cast(length, tf.int32), 0, tf.shape(waveform)[1])
        return normalise_frames(frames, num_samples, self.normalisation, state=state)

    def _model_call(self, frames):
        return per_dimension(self.keras.model(model_inputs(self.keras.model, frames), training=False), self.label_names)

    def _serve(self, waveform, length):
        waveform, length = validate_serving_inputs(waveform, length)  # before any op reads them
        frames, frame_mask, num_frames = frame_waveform(waveform, length)
        frames, _ = self._normalise(frames, waveform, length)
        outputs = self._model_call(frames)
        outputs.update(frame_times_s=frame_times_tensor(frame_mask), frame_mask=frame_mask,
                       num_frames=num_frames)
        return mark_unusable_rows(outputs, waveform, length, self.label_names)

    def _serve_semantic(self, waveform, length, word_start_s, word_end_s, num_words):
        waveform, length = validate_serving_inputs(waveform, length)  # before any op reads them
        word_start_s, word_end_s, num_words = validate_word_inputs(waveform, word_start_s, word_end_s, num_words)
        frames, frame_mask, num_frames = frame_waveform(waveform, length)
        masked_waveform = tf.reshape(frames, [tf.shape(frames)[0], -1])  # zeroed past each length
        semantic = self.semantic.front_end.frame_features(
            masked_waveform, length, word_start_s, word_end_s, num_words, tf.shape(frames)[1])
        # Frames past a row's own count get zeros, as its audio frames do.
        semantic = semantic * tf.cast(frame_mask, semantic.dtype)[:, :, None]
        # Semantic features were computed from the raw waveform at training too; only audio is scaled.
        frames, _ = self._normalise(frames, waveform, length)
        outputs = per_dimension(
            self.keras.model({AUDIO_INPUT: frames, SEMANTIC_INPUT: semantic}, training=False),
            self.label_names)
        outputs.update(frame_times_s=frame_times_tensor(frame_mask), frame_mask=frame_mask,
                       num_frames=num_frames)
        return mark_unusable_rows(outputs, waveform, length, self.label_names)

    def _stream_causal(self, waveform, length, lstm_state_h, lstm_state_c, norm_sum_squares, norm_samples):
        waveform, length = validate_serving_inputs(waveform, length)  # before any op reads them
        lstm_state_h, lstm_state_c, norm_sum_squares, norm_samples = validate_stream_state(
            waveform, lstm_state_h=lstm_state_h, lstm_state_c=lstm_state_c, norm_sum_squares=norm_sum_squares,
            norm_samples=norm_samples)
        frames, frame_mask, num_frames = frame_waveform(waveform, length)
        frames, (sum_squares, samples) = self._normalise(frames, waveform, length, (norm_sum_squares, norm_samples))
        outputs = self._stream_frames(frames, frame_mask, num_frames, lstm_state_h, lstm_state_c)
        outputs.update(norm_sum_squares=sum_squares, norm_samples=samples)
        return mark_unusable_rows(outputs, waveform, length, self.label_names)

    def _stream(self, waveform, length, lstm_state_h, lstm_state_c):
        waveform, length = validate_serving_inputs(waveform, length)  # before any op reads them
        lstm_state_h, lstm_state_c = validate_stream_state(waveform, lstm_state_h=lstm_state_h,
                                                           lstm_state_c=lstm_state_c)
        frames, frame_mask, num_frames = frame_waveform(waveform, length)
        outputs = self._stream_frames(frames, frame_mask, num_frames, lstm_state_h, lstm_state_c)
        return mark_unusable_rows(outputs, waveform, length, self.label_names)

    def _stream_frames(self, frames, frame_mask, num_frames, lstm_state_h, lstm_state_c):
        features = self.keras.encoder(model_inputs(self.keras.encoder, frames), training=False)
        sequence, state_h, state_c = self.keras.stream_rnn(
            features, mask=frame_mask, initial_state=[lstm_state_h, lstm_state_c], training=False
        )
        outputs = per_dimension(self.keras.head(sequence, training=False), self.label_names)
        outputs.update(frame_times_s=frame_times_tensor(frame_mask), frame_mask=frame_mask,
                       num_frames=num_frames, lstm_state_h=state_h, lstm_state_c=state_c)
        return outputs


def stream_matches_serve(module: ServingModule, tolerance: float = 1e-4) -> bool:
    """Probe: two chunks through `stream` give the same frames as one call through `serve`."""
    probe = tf.random.stateless_uniform([1, 5 * FRAME_LENGTH_SAMPLES], seed=[1, 2], minval=-0.5, maxval=0.5)
    whole = module.serve(probe, tf.constant([5 * FRAME_LENGTH_SAMPLES]))
    state = [tf.zeros([1, module.lstm_units])] * 2
    extra = module.initial_stream_state(1)
    pieces = []
    for start, stop in ((0, 2), (2, 5)):
        chunk = probe[:, start * FRAME_LENGTH_SAMPLES: stop * FRAME_LENGTH_SAMPLES]
        result = module.stream(chunk, tf.shape(chunk)[1:2], *state, *extra.values())
        state = [result["lstm_state_h"], result["lstm_state_c"]]
        extra = {name: result[name] for name in extra}
        pieces.append(result)
    for name in module.label_names:
        streamed = tf.concat([piece[name] for piece in pieces], axis=1)
        if float(tf.reduce_max(tf.abs(streamed - whole[name]))) > tolerance:
            return False
    return True
