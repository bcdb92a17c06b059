"""The concordance correlation coefficient loss of equation 8.

CCC = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2), with population (1/N) moments, over
all unmasked frames of the batch. The training loss is the mean over dimensions of 1 - CCC, each
dimension weighted the same (the authors' code weighed them 1, 1/2, 1/3 by mistake).

Under `model.fit` each output gets `ConcordanceLoss` and a loss weight of 1/D, so the total is the
mean of eq. 8. Its target is `[batch, frames, 2]`: gold label and frame mask (see
`emorec.data.pipeline`). Under a distribution strategy each replica computes CCC on its share
of the batch and Keras averages the gradients; with one replica this is exactly eq. 8.
"""
from __future__ import annotations

import keras
from keras import ops

#: Keeps the denominator away from 0 when a batch has constant gold and prediction.
EPSILON = 1e-8


def masked_ccc(y_true, y_pred, mask, axis=None):
    """CCC of `y_true` and `y_pred` over the frames where `mask` is 1 (population moments).

    All three have the same shape; `axis=None` pools every element (all frames of the batch).
    Computed in float32 whatever the inputs' dtype.
    """
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    mask = ops.cast(mask, "float32")
    count = ops.maximum(ops.sum(mask, axis=axis, keepdims=True), 1.0)
    mean_true = ops.sum(y_true * mask, axis=axis, keepdims=True) / count
    mean_pred = ops.sum(y_pred * mask, axis=axis, keepdims=True) / count
    centred_true = (y_true - mean_true) * mask
    centred_pred = (y_pred - mean_pred) * mask
    var_true = ops.sum(centred_true**2, axis=axis, keepdims=True) / count
    var_pred = ops.sum(centred_pred**2, axis=axis, keepdims=True) / count
    covariance = ops.sum(centred_true * centred_pred, axis=axis, keepdims=True) / count
    ccc = 2.0 * covariance / (var_true + var_pred + (mean_true - mean_pred) ** 2 + EPSILON)
    return ops.squeeze(ccc, axis=axis) if axis is not None else ops.reshape(ccc, ())


def ccc_loss(labels, predictions, mask):
    """Equation 8: mean over dimensions of 1 - CCC, pooled over unmasked frames of the batch.

    labels, predictions: `[batch, frames, dims]`; mask: `[batch, frames]`. Returns a scalar.
    """
    mask = ops.cast(mask, "float32")[..., None] * ops.ones_like(ops.cast(labels, "float32"))
    per_dimension = masked_ccc(
        ops.reshape(labels, (-1, ops.shape(labels)[-1])),
        ops.reshape(predictions, (-1, ops.shape(labels)[-1])),
        ops.reshape(mask, (-1, ops.shape(labels)[-1])),
        axis=0,
    )
    return ops.mean(1.0 - per_dimension)


@keras.saving.register_keras_serializable(package="emorec")
class ConcordanceLoss(keras.losses.Loss):
    """1 - CCC of one dimension. y_true: `[batch, frames, 2]` (label, mask); y_pred: `[batch, frames]`."""

    def __init__(self, name: str = "ccc_loss", **kwargs):
        kwargs.setdefault("reduction", "sum_over_batch_size")
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        return 1.0 - masked_ccc(y_true[..., 0], y_pred, y_true[..., 1])
