"""Per-speaker standardisation of frame features inside the model (`model.feature_statistics:
speaker`).

Classical paralinguistics standardises each speaker's features with that speaker's own mean and
standard deviation (on EmoDB it lifts an eGeMAPS + SVR baseline from .44 to .69 mean CCC,
`benchmarks/accuracy_emodb.py`). A learned CNN's features change while it trains, so their
speaker statistics cannot be computed once beforehand. Instead the statistics are those of the
batch, over its real frames, always (training, evaluation and prediction alike, unlike batch
normalisation's moving averages), and the input pipeline makes each batch one speaker's
(`emorec.data.pipeline.make_dataset(group_by_speaker=True)`, `recordings_for_prediction`).

Real frames are those whose audio is not all zeros: the pipelines pad windows and batches with
zero frames, which must not enter the statistics (augmentation adds no noise to them).
"""
from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="emorec")
class FrameStatisticsStandardisation(layers.Layer):
    """`[features, audio]` -> features standardised per channel over the batch's real frames.

    features: `[batch, frames, channels]`; audio: `[batch, frames, samples]`, the model's input,
    which marks the real frames (any non-zero sample). Statistics are computed in float32 and
    gradients flow through them, as in batch normalisation. No trainable weights: the layer after
    it (the LSTM) scales and shifts freely.
    """

    def __init__(self, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        features, audio = inputs
        x = ops.cast(features, "float32")
        real = ops.cast(ops.any(ops.not_equal(audio, 0), axis=-1), "float32")[..., None]  # [batch, frames, 1]
        count = ops.maximum(ops.sum(real), 1.0)
        mean = ops.sum(x * real, axis=(0, 1), keepdims=True) / count
        variance = ops.sum(ops.square(x - mean) * real, axis=(0, 1), keepdims=True) / count
        return ops.cast((x - mean) * ops.rsqrt(variance + self.epsilon), features.dtype)

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[0])

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
