"""The full model: frame features (paralinguistic CNN, optionally semantic) -> LSTM -> one output
per affect dimension.

Inputs (a dict): `audio` float32 `[batch, frames, 2205]`; with `semantic_dim`, also `semantic`
float32 `[batch, frames, semantic_dim]`.

Outputs (a dict keyed by dimension name, in label order): float32 `[batch, frames]` each, so a
SavedModel/ONNX export has one named output per dimension and Keras compiles one CCC loss and
one CCC metric per dimension. Outputs stay float32 under mixed precision.

Branches (Figure 1 of the paper), each switched by config:

- semantic: `config.semantic_features.source != "none"` (or an explicit `semantic_dim`) adds the `semantic`
  input, x_s `[batch, frames, dim]`, fed as is. No `Masking(0.0)` here: frames without a word are
  all zeros by design and the fusion layers AND their inputs' masks, so a mask would drop those
  frames from training;
- paralinguistic: `config.paralinguistic` runs the Table 1 CNN on the audio, x_p `[batch, frames, C]`.

With both on, `config.fusion` (`emorec.models.fusion`: concatenation or disentangled attention,
eqs. 4-7) joins [x_s, x_p]; with one on, its features go straight to the LSTM (the single-branch
rows of Table 2). The `audio` input is always present (unused by a semantic-only model) so that
every model has the same input names.

Seams: `paralinguistic_features` (emorec.models.paralinguistic) gives the audio features;
`temporal_head(features, label_names, config)` takes any fused `[batch, frames, C]` features;
`build_model(..., fuse=...)` replaces the config's fusion layer with any function of [x_s, x_p].
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence

import keras
from keras import layers, ops

from emorec.config import ModelConfig
from emorec.constants import AUDIO_INPUT, FRAME_LENGTH_SAMPLES, SEMANTIC_INPUT
from emorec.models.fusion import fusion_from_config
from emorec.models.paralinguistic import paralinguistic_features
from emorec.models.standardisation import FrameStatisticsStandardisation
from emorec.text import layer_safe_name

#: Combines [x_s, x_p] (semantic `[batch, frames, d_s]`, paralinguistic `[batch, frames, d_p]`
#: symbolic tensors, in that order) into one `[batch, frames, C]`.
FuseFn = Callable[[List[keras.KerasTensor]], keras.KerasTensor]


@keras.saving.register_keras_serializable(package="emorec")
class SqueezeLastAxis(layers.Layer):
    """`[batch, frames, 1]` -> `[batch, frames]`: a per-dimension output as a plain frame series."""

    def call(self, x):
        return ops.squeeze(x, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])


def temporal_head(features, label_names: Sequence[str], config: ModelConfig) -> Dict[str, keras.KerasTensor]:
    """LSTM (config.lstm_units, input dropout config.lstm_dropout) and one linear unit per dimension.

    Returns `{dimension: [batch, frames]}`. Dropout is on the LSTM inputs only: recurrent dropout
    would rule out the cuDNN kernel on GPUs.

    The input dropout is a `Dropout` layer with one mask per sequence (noise_shape `[batch, 1,
    channels]`), which is what `LSTM(dropout=...)` applies, rather than the LSTM's own argument:
    Keras 3.6's cuDNN path (`LSTM.inner_loop`) multiplies by the dropout mask without checking
    `training`, so on a GPU the LSTM's own dropout would also fire at evaluation and prediction.
    """
    if config.lstm_dropout:
        features = layers.Dropout(config.lstm_dropout, noise_shape=(None, 1, features.shape[-1]),
                                  name="lstm_input_dropout")(features)
    x = layers.LSTM(config.lstm_units, return_sequences=True, name="lstm")(features)
    outputs = {}
    for name in label_names:
        safe = layer_safe_name(name)
        # float32 outputs: the CCC loss needs the precision even under mixed_float16/bfloat16.
        y = layers.Dense(1, dtype="float32", name=f"{safe}_dense")(x)
        outputs[name] = SqueezeLastAxis(dtype="float32", name=safe)(y)
    return outputs


def semantic_branch_on(config: ModelConfig, semantic_dim: Optional[int] = None) -> bool:
    """Whether a model built from `config` has the semantic input."""
    return semantic_dim is not None or config.semantic_features.source != "none"


def build_model(
    config: ModelConfig,
    label_names: Sequence[str],
    *,
    semantic_dim: Optional[int] = None,
    fuse: Optional[FuseFn] = None,
    name: str = "emotion_model",
) -> keras.Model:
    """The model of the paper (Figure 1) for `label_names`, as a functional `keras.Model`.

    config.paralinguistic switches the audio CNN on; config.semantic_features.source (or `semantic_dim`,
    which also overrides config.semantic_features.dim, e.g. with the dim of the feature files) switches the
    semantic input on. With both, `fuse` (default: the layer `config.fusion` asks for, one head per
    label name for the attention) joins [x_s, x_p]. Raises `ValueError` when no branch is on and
    `ConfigError` for a fusion config that does not fit `label_names`.
    """
    if not label_names:
        raise ValueError("build_model needs at least one label dimension")
    inputs = {AUDIO_INPUT: keras.Input((None, FRAME_LENGTH_SAMPLES), name=AUDIO_INPUT, dtype="float32")}
    features = []  # [x_s, x_p]: the order the fusion layers take
    if semantic_branch_on(config, semantic_dim):
        dim = int(semantic_dim if semantic_dim is not None else config.semantic_features.dim)
        inputs[SEMANTIC_INPUT] = keras.Input((None, dim), name=SEMANTIC_INPUT, dtype="float32")
        semantic = inputs[SEMANTIC_INPUT]
        if config.feature_statistics == "speaker":  # fixed word embeddings: the classical case exactly
            semantic = FrameStatisticsStandardisation(name="semantic_speaker_standardisation")(
                [semantic, inputs[AUDIO_INPUT]])
        features.append(semantic)
    if config.paralinguistic:
        features.append(paralinguistic_features(inputs[AUDIO_INPUT], config.cnn,
                                                feature_statistics=config.feature_statistics))
    if not features:
        raise ValueError("the model has no features: enable model.paralinguistic or model.semantic_features.source")
    if len(features) == 1:
        fused = features[0]
    elif fuse is not None:
        fused = fuse(features)
    else:
        fused = fusion_from_config(config.fusion, list(label_names), name="fusion")(features)
    outputs = temporal_head(fused, label_names, config)
    return keras.Model(inputs=inputs, outputs=outputs, name=name)
