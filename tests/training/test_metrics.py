"""The streaming CCC metric pools all frames of all batches, as AVEC scores a partition."""
import numpy as np
import pytest

from emorec.evaluation.ccc import ccc
from emorec.training.metrics import ConcordanceCorrelation


def test_streaming_ccc_equals_pooled_ccc():
    rng = np.random.default_rng(0)
    metric = ConcordanceCorrelation()
    golds, preds = [], []
    for _ in range(4):
        gold = rng.normal(2.0, 1.0, size=(3, 7))
        pred = 0.5 * gold + rng.normal(0.5, 0.5, size=gold.shape)
        mask = (rng.uniform(size=gold.shape) > 0.2).astype(float)
        metric.update_state(np.stack([gold, mask], -1).astype(np.float32), pred.astype(np.float32))
        golds.append(gold[mask > 0])
        preds.append(pred[mask > 0])
    expected = ccc(np.concatenate(golds), np.concatenate(preds))
    assert float(metric.result()) == pytest.approx(expected, rel=1e-4)
    metric.reset_state()
    gold = rng.normal(size=(2, 5))
    metric.update_state(np.stack([gold, np.ones_like(gold)], -1).astype(np.float32), gold.astype(np.float32))
    assert float(metric.result()) == pytest.approx(1.0, abs=1e-5)
