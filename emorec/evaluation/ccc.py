"""The concordance correlation coefficient in numpy, as the AVEC challenges compute it.

CCC = 2 * cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2)

Variance convention: `variance="population"` (default) uses 1/N moments, as the AVEC 2017-2019
evaluation scripts and equation 8 of the paper do; `variance="sample"` uses 1/(N-1) for the
variances and the covariance (e.g. `numpy.cov` defaults). The two differ by a factor N/(N-1)
on the first two terms of the denominator and the numerator only, i.e. negligibly for a whole
partition. Scores over a partition are pooled: all recordings concatenated, then one CCC.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

VARIANCES = ("population", "sample")


def ccc(y_true, y_pred, variance: str = "population") -> float:
    """CCC of two 1-D sequences (NaN when fewer than 2 values, or both are constant and equal)."""
    if variance not in VARIANCES:
        raise ValueError(f"variance must be one of {VARIANCES}, got {variance!r}")
    x = np.asarray(y_true, dtype=np.float64).ravel()
    y = np.asarray(y_pred, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"y_true has {x.size} values, y_pred {y.size}")
    if x.size < 2:
        return float("nan")
    ddof = 0 if variance == "population" else 1
    mean_x, mean_y = x.mean(), y.mean()
    covariance = np.sum((x - mean_x) * (y - mean_y)) / (x.size - ddof)
    denominator = x.var(ddof=ddof) + y.var(ddof=ddof) + (mean_x - mean_y) ** 2
    if denominator == 0:
        return float("nan")
    return float(2.0 * covariance / denominator)


def ccc_per_dimension(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    label_names: Sequence[str],
    mask: Optional[np.ndarray] = None,
    variance: str = "population",
) -> Dict[str, float]:
    """`{dimension: CCC, ..., "mean": mean over dimensions}` of `[frames, dims]` arrays,
    keeping only frames where `mask` (`[frames]`) is nonzero."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if mask is not None:
        keep = np.asarray(mask) > 0
        y_true, y_pred = y_true[keep], y_pred[keep]
    scores = {name: ccc(y_true[:, d], y_pred[:, d], variance) for d, name in enumerate(label_names)}
    scores["mean"] = float(np.mean([scores[name] for name in label_names]))
    return scores
