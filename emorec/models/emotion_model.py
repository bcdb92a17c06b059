"""The full model: frame features (paralinguistic CNN, optionally semantic) -> LSTM -> one output
per affect dimension.

Inputs (a dict): `audio` float32 `[batch, frames, 2205]`; with `semantic_dim`, also `semantic`
float32 `[batch, frames, semantic_dim]`.

Outputs (a dict keyed by dimension name, in label order): float32 `[batch, frames]` each, so a
SavedModel/ONNX export has one named output per dimension and Keras compiles one CCC loss and
one CCC metric per dimension. Outputs stay float32 under mixed precision.

Seams for other branches: `paralinguistic_features` (emorec.models.paralinguistic) gives the
audio features; `temporal_head(features, label_names, config)` takes any fused `[batch, frames, C]`
features; `build_model(..., fuse=...)` lets a fusion layer replace the default concatenation.
"""
from __future__ import annotations

import re
from typing import Callable, Dict, List, Optional, Sequence

import keras
from keras import layers, ops

from emorec.config import ModelConfig
from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.models.paralinguistic import paralinguistic_features

#: Combines a list of `[batch, frames, C_i]` symbolic tensors into one `[batch, frames, C]`.
FuseFn = Callable[[List[keras.KerasTensor]], keras.KerasTensor]


@keras.saving.register_keras_serializable(package="emorec")
class SqueezeLastAxis(layers.Layer):
    """`[batch, frames, 1]` -> `[batch, frames]`: a per-dimension output as a plain frame series."""

    def call(self, x):
        return ops.squeeze(x, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])


def layer_safe_name(name: str) -> str:
    """A dimension name usable as a Keras layer name (letters, digits, underscore)."""
    return re.sub(r"\W", "_", name)


def temporal_head(features, label_names: Sequence[str], config: ModelConfig) -> Dict[str, keras.KerasTensor]:
    """LSTM (config.lstm_units, input dropout config.lstm_dropout) and one linear unit per dimension.

    Returns `{dimension: [batch, frames]}`. Dropout is on the LSTM inputs only: recurrent dropout
    would rule out the cuDNN kernel on GPUs.
    """
    x = layers.LSTM(config.lstm_units, return_sequences=True, dropout=config.lstm_dropout, name="lstm")(features)
    outputs = {}
    for name in label_names:
        safe = layer_safe_name(name)
        # float32 outputs: the CCC loss needs the precision even under mixed_float16/bfloat16.
        y = layers.Dense(1, dtype="float32", name=f"{safe}_dense")(x)
        outputs[name] = SqueezeLastAxis(dtype="float32", name=safe)(y)
    return outputs


def concatenate_features(features: List[keras.KerasTensor]) -> keras.KerasTensor:
    """Default fusion: concatenation along channels (the paper's early-fusion baseline)."""
    return features[0] if len(features) == 1 else layers.Concatenate(axis=-1, name="fusion_concat")(features)


def build_model(
    config: ModelConfig,
    label_names: Sequence[str],
    *,
    semantic_dim: Optional[int] = None,
    fuse: Optional[FuseFn] = None,
    name: str = "emotion_model",
) -> keras.Model:
    """The model of the paper for `label_names`, as a functional `keras.Model`.

    config.paralinguistic switches the audio CNN on; `semantic_dim` adds a `semantic` input whose
    features are fused with it by `fuse` (default: concatenation). The `audio` input is always
    present so that every model has the same serving signature.
    """
    if not label_names:
        raise ValueError("build_model needs at least one label dimension")
    inputs = {"audio": keras.Input((None, FRAME_LENGTH_SAMPLES), name="audio", dtype="float32")}
    features = []
    if config.paralinguistic:
        features.append(paralinguistic_features(inputs["audio"], config.cnn))
    if semantic_dim is not None:
        inputs["semantic"] = keras.Input((None, semantic_dim), name="semantic", dtype="float32")
        features.append(inputs["semantic"])
    if not features:
        raise ValueError("the model has no features: enable model.paralinguistic or give semantic_dim")
    fused = (fuse or concatenate_features)(features)
    outputs = temporal_head(fused, label_names, config)
    return keras.Model(inputs=inputs, outputs=outputs, name=name)
