"""Post-processing of frame predictions, fitted on the development partition, applied unchanged
to test (the AVEC baseline recipe).

Steps, in order, chosen per dimension, each kept only where it raises development CCC:

1. delay compensation: prediction at t is used for t + k frames (annotators react late; k may
   also be negative if the model learnt to anticipate), searched over |k| <= max_delay_frames;
2. median smoothing over w frames, w from `median_windows`, within each recording;
3. centring: add (mean of development gold - mean of development predictions);
4. scaling: scale deviations from the prediction mean by std(gold) / std(predictions).

Inputs are lists over recordings: predictions/gold `[frames, dims]` and masks `[frames]`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Sequence

import numpy as np
from scipy.ndimage import median_filter

from emorec.evaluation.ccc import ccc


@dataclass
class DimensionPostprocess:
    delay_frames: int = 0
    median_window: int = 1
    offset: float = 0.0
    scale: float = 1.0
    #: Mean of the (delayed, smoothed) development predictions: the point scaling is about.
    centre: float = 0.0
    #: Development CCC before any step, and after the kept ones.
    devel_ccc_raw: float = float("nan")
    devel_ccc: float = float("nan")


@dataclass
class Postprocessor:
    """Per-dimension parameters; `fit` on development data, `apply` anywhere."""

    label_names: List[str]
    dimensions: Dict[str, DimensionPostprocess] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"label_names": self.label_names, "dimensions": {k: asdict(v) for k, v in self.dimensions.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> "Postprocessor":
        return cls(list(data["label_names"]),
                   {k: DimensionPostprocess(**v) for k, v in data["dimensions"].items()})

    def apply(self, predictions: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Post-processed copies of per-recording predictions `[frames, dims]`."""
        out = [np.array(p, dtype=np.float64, copy=True) for p in predictions]
        for d, name in enumerate(self.label_names):
            params = self.dimensions.get(name)
            if params is None:
                continue
            for p in out:
                series = _apply_one(p[:, d], params.delay_frames, params.median_window)
                p[:, d] = (series - params.centre) * params.scale + params.centre + params.offset
        return out

    @classmethod
    def fit(cls, predictions: Sequence[np.ndarray], gold: Sequence[np.ndarray], masks: Sequence[np.ndarray],
            label_names: Sequence[str], *, max_delay_frames: int = 30,
            median_windows: Sequence[int] = (3, 5, 9, 15, 25), variance: str = "population") -> "Postprocessor":
        dimensions = {}
        for d, name in enumerate(label_names):
            preds = [np.asarray(p[:, d], np.float64) for p in predictions]
            golds = [np.asarray(g[:, d], np.float64) for g in gold]
            keeps = [np.asarray(m) > 0 for m in masks]
            gold_flat = np.concatenate([g[k] for g, k in zip(golds, keeps)])

            def score(delay: int, window: int, offset: float = 0.0, scale: float = 1.0, centre: float = 0.0):
                flat = np.concatenate([_apply_one(p, delay, window)[k] for p, k in zip(preds, keeps)])
                return ccc(gold_flat, (flat - centre) * scale + centre + offset, variance), flat

            params = DimensionPostprocess()
            best, _ = score(0, 1)
            params.devel_ccc_raw = best
            for delay in range(-max_delay_frames, max_delay_frames + 1):
                value, _ = score(delay, 1)
                if value > best + 1e-9:
                    best, params.delay_frames = value, delay
            for window in median_windows:
                value, _ = score(params.delay_frames, int(window))
                if value > best + 1e-9:
                    best, params.median_window = value, int(window)
            _, flat = score(params.delay_frames, params.median_window)
            offset = float(gold_flat.mean() - flat.mean())
            value, _ = score(params.delay_frames, params.median_window, offset)
            if value > best + 1e-9:
                best, params.offset = value, offset
            centre = float(flat.mean())
            if flat.std() > 0:
                scale = float(gold_flat.std() / flat.std())
                value, _ = score(params.delay_frames, params.median_window, params.offset, scale, centre)
                if value > best + 1e-9:
                    best, params.scale = value, scale
            params.centre = centre
            params.devel_ccc = best
            dimensions[name] = params
        return cls(list(label_names), dimensions)


def _apply_one(series: np.ndarray, delay_frames: int, median_window: int) -> np.ndarray:
    """Shift one recording's series by `delay_frames` (edge values repeated) and median-filter it."""
    series = np.asarray(series, np.float64)
    if delay_frames:
        # Output frame t takes the prediction of frame t - delay, clamped to the recording.
        series = series[np.clip(np.arange(len(series)) - delay_frames, 0, len(series) - 1)]
    if median_window > 1:
        series = median_filter(series, size=median_window, mode="nearest")
    return series
