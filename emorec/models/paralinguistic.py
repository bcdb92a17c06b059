"""The paralinguistic branch: the raw-waveform CNN of Table 1, one feature vector per 0.1 s frame.

Table 1 of the paper: conv 8/1 (50, ReLU) -> max-pool 10/10 -> conv 6/1 (125, ReLU) -> max-pool
5/5 -> conv 6/1 (125, ReLU) -> max-pool 5/5, dropout 0.5 after each pool.

Frame alignment. Run over a whole 10 s sequence (220,500 samples) the pools leave 220500 / 250 =
882 steps, which does not divide into the 100 label frames, so the CNN's time axis would drift
against the label grid. Instead the conv stack runs on each 2205-sample frame on its own: frames
are folded into the batch axis (`[batch * frames, 2205, 1]`), the pools leave 8 steps per frame
("same" padding: 2205 -> 220 -> 44 -> 8), and those are pooled to one vector per frame. Feature
i therefore depends on the audio of frame i only, which `tests/models/test_paralinguistic.py`
checks. The folding is done with reshapes rather than `TimeDistributed(submodel)`, which tf2onnx
cannot convert.
"""
from __future__ import annotations

from typing import Optional, Sequence

import keras
from keras import layers, ops

from emorec.config import CNNConfig
from emorec.constants import FRAME_LENGTH_SAMPLES


@keras.saving.register_keras_serializable(package="emorec")
class ParalinguisticCNN(layers.Layer):
    """Raw-audio CNN applied per frame.

    Input: float32 `[batch, frames, FRAME_LENGTH_SAMPLES]`. Output: `[batch, frames, filters[-1]]`.
    """

    def __init__(
        self,
        filters: Sequence[int] = (50, 125, 125),
        kernel_sizes: Sequence[int] = (8, 6, 6),
        pool_sizes: Sequence[int] = (10, 5, 5),
        dropout: float = 0.5,
        padding: str = "same",
        frame_pooling: str = "max",
        frame_length_samples: int = FRAME_LENGTH_SAMPLES,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not (len(filters) == len(kernel_sizes) == len(pool_sizes)):
            raise ValueError("filters, kernel_sizes and pool_sizes must have the same length")
        if frame_pooling not in ("max", "mean"):
            raise ValueError(f"frame_pooling must be 'max' or 'mean', got {frame_pooling!r}")
        self.filters = [int(f) for f in filters]
        self.kernel_sizes = [int(k) for k in kernel_sizes]
        self.pool_sizes = [int(p) for p in pool_sizes]
        self.dropout_rate = float(dropout)
        self.padding = padding
        self.frame_pooling = frame_pooling
        self.frame_length_samples = int(frame_length_samples)
        self.convs = [
            layers.Conv1D(f, k, strides=1, padding=padding, activation="relu", name=f"conv{i + 1}")
            for i, (f, k) in enumerate(zip(self.filters, self.kernel_sizes))
        ]
        self.pools = [layers.MaxPooling1D(p, strides=p, name=f"pool{i + 1}") for i, p in enumerate(self.pool_sizes)]
        self.dropouts = [layers.Dropout(self.dropout_rate, name=f"dropout{i + 1}") for i in range(len(self.filters))]
        steps = self.frame_length_samples
        for k, p in zip(self.kernel_sizes, self.pool_sizes):
            steps = (steps if padding == "same" else steps - k + 1) // p
        if steps < 1:
            raise ValueError(f"the conv stack leaves no time steps of a {self.frame_length_samples}-sample frame")
        #: Time steps left inside one frame after the last pool (8 with Table 1 and "same" padding).
        self.steps_per_frame = steps

    def build(self, input_shape):
        shape = (None, self.frame_length_samples, 1)
        for conv, pool in zip(self.convs, self.pools):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            shape = pool.compute_output_shape(shape)
        self.built = True

    def call(self, audio, training: Optional[bool] = None):
        batch = ops.shape(audio)[0]
        frames = ops.shape(audio)[1]
        # Fold frames into the batch: each 0.1 s frame is convolved on its own (see module doc).
        x = ops.reshape(audio, (-1, self.frame_length_samples, 1))
        for conv, pool, dropout in zip(self.convs, self.pools, self.dropouts):
            x = dropout(pool(conv(x)), training=training)
        # The few steps left per frame (8) become one vector: max keeps the strongest response of
        # each filter anywhere in the frame, the same choice as the max-pools before it.
        x = ops.max(x, axis=1) if self.frame_pooling == "max" else ops.mean(x, axis=1)
        return ops.reshape(x, (batch, frames, self.filters[-1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.filters[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_sizes=self.kernel_sizes,
            pool_sizes=self.pool_sizes,
            dropout=self.dropout_rate,
            padding=self.padding,
            frame_pooling=self.frame_pooling,
            frame_length_samples=self.frame_length_samples,
        )
        return config

    @classmethod
    def from_cnn_config(cls, config: CNNConfig, **kwargs) -> "ParalinguisticCNN":
        return cls(
            filters=config.filters,
            kernel_sizes=config.kernel_sizes,
            pool_sizes=config.pool_sizes,
            dropout=config.dropout,
            padding=config.padding,
            frame_pooling=config.frame_pooling,
            **kwargs,
        )


def paralinguistic_features(audio, config: CNNConfig, name: str = "paralinguistic_cnn"):
    """Apply the Table 1 CNN to a symbolic `[batch, frames, 2205]` tensor: `[batch, frames, C]`."""
    return ParalinguisticCNN.from_cnn_config(config, name=name)(audio)
