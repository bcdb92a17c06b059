"""Streaming CCC for `model.fit`/`evaluate`: pooled over every unmasked frame seen in an epoch.

Averaging per-batch CCC values would not give the CCC of the partition (CCC is not additive), so
the metric accumulates the sufficient statistics (count, sums, sums of squares and products) and
computes CCC from them at the end, as AVEC pools all recordings of a partition. The sums are kept
in float64: a partition has millions of frames and float32 sums of squares lose the variance.
"""
from __future__ import annotations

import keras
from keras import ops

_STATISTICS = ("count", "sum_true", "sum_pred", "sum_true2", "sum_pred2", "sum_product")


@keras.saving.register_keras_serializable(package="emorec")
class ConcordanceCorrelation(keras.metrics.Metric):
    """CCC of one dimension; y_true `[batch, frames, 2]` (label, mask), y_pred `[batch, frames]`."""

    def __init__(self, name: str = "ccc", **kwargs):
        super().__init__(name=name, **kwargs)
        self.statistics = {
            s: self.add_variable(shape=(), initializer="zeros", dtype="float64", name=s) for s in _STATISTICS
        }

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "float64")
        label, mask = y_true[..., 0], y_true[..., 1]
        prediction = ops.cast(y_pred, "float64")
        values = {
            "count": ops.sum(mask),
            "sum_true": ops.sum(mask * label),
            "sum_pred": ops.sum(mask * prediction),
            "sum_true2": ops.sum(mask * label * label),
            "sum_pred2": ops.sum(mask * prediction * prediction),
            "sum_product": ops.sum(mask * label * prediction),
        }
        for key, value in values.items():
            self.statistics[key].assign_add(value)

    def result(self):
        s = {k: v for k, v in self.statistics.items()}
        count = ops.maximum(s["count"], 1.0)
        mean_true = s["sum_true"] / count
        mean_pred = s["sum_pred"] / count
        var_true = s["sum_true2"] / count - mean_true**2
        var_pred = s["sum_pred2"] / count - mean_pred**2
        covariance = s["sum_product"] / count - mean_true * mean_pred
        ccc = 2.0 * covariance / (var_true + var_pred + (mean_true - mean_pred) ** 2 + 1e-12)
        return ops.cast(ccc, "float32")

    def reset_state(self):
        for variable in self.statistics.values():
            variable.assign(ops.zeros((), dtype="float64"))
