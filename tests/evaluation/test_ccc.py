"""numpy CCC (both variance conventions) and the post-processing fitted on devel."""
import numpy as np
import pytest

from emorec.evaluation.ccc import ccc, ccc_per_dimension
from emorec.evaluation.postprocess import Postprocessor


def test_ccc_against_definition():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    y = 0.7 * x + rng.normal(0.4, 0.6, size=200)
    rho = np.corrcoef(x, y)[0, 1]
    expected = 2 * rho * x.std() * y.std() / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
    assert ccc(x, y) == pytest.approx(expected, rel=1e-10)
    covariance = np.cov(x, y)  # ddof=1
    sample = 2 * covariance[0, 1] / (covariance[0, 0] + covariance[1, 1] + (x.mean() - y.mean()) ** 2)
    assert ccc(x, y, variance="sample") == pytest.approx(sample, rel=1e-10)
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x - x.mean(), x.mean() - x) == pytest.approx(-1.0)
    assert ccc(x, x + 1.0) < 1.0


def test_per_dimension_excludes_masked_frames():
    rng = np.random.default_rng(2)
    gold = rng.normal(size=(50, 2))
    pred = gold.copy()
    mask = np.ones(50)
    pred[:10] = 100.0
    mask[:10] = 0
    scores = ccc_per_dimension(gold, pred, ["a", "b"], mask)
    assert scores["a"] == pytest.approx(1.0) and scores["mean"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        ccc(gold[:, 0], pred[:, 0], variance="unbiased")


def _series(rng, frames):
    t = np.arange(frames)
    return np.sin(2 * np.pi * t / rng.uniform(40, 80) + rng.uniform(0, 6))


def test_postprocess_recovers_delay_and_scale_and_transfers_to_test():
    rng = np.random.default_rng(3)
    delay = 4

    def make(count):
        golds, preds, masks = [], [], []
        for _ in range(count):
            gold = _series(rng, 150)
            # Predictions lead the gold by `delay` frames, are too small and offset.
            early = np.concatenate([gold[delay:], np.full(delay, gold[-1])])
            preds.append((0.3 * early + 0.2 + rng.normal(0, 0.01, 150))[:, None])
            golds.append(gold[:, None])
            masks.append(np.ones(150))
        return preds, golds, masks

    devel, test = make(4), make(4)
    post = Postprocessor.fit(*devel, ["arousal"], max_delay_frames=8, median_windows=(3,))
    params = post.dimensions["arousal"]
    assert params.delay_frames == delay
    assert params.scale == pytest.approx(1 / 0.3, rel=0.1)
    restored = Postprocessor.from_dict(post.to_dict())
    raw = ccc(np.concatenate(test[1]), np.concatenate(test[0]))
    processed = ccc(np.concatenate(test[1]), np.concatenate(restored.apply(test[0])))
    assert raw < 0.7 < 0.95 < processed
