"""The spread summary of benchmarks/train_speed_spread.py, on hand-written runs."""
import pytest

from benchmarks import train_speed_spread as spread_script


def run(model, reference, cores=1.8):
    return {"train_audio_s_per_s": model, "reference_train_audio_s_per_s": reference, "cores_used": cores,
            "reference_cores_used": 1.0, "train_speedup": round(model / reference, 3), "inference_speedup": 1.3,
            "precision": "float32", "cpu_flags": ["avx2"]}


def test_spread_is_max_over_min_of_each_formulation():
    summary = spread_script.summarise([run(150.0, 70.0), run(160.0, 140.0), run(120.0, 100.0)])
    assert summary["train_spread"] == pytest.approx(160 / 120, abs=1e-3)
    assert summary["reference_train_spread"] == 2.0
    assert summary["runs"] == 3 and summary["precision"] == ["float32"]


def test_non_positive_throughput_is_refused():
    with pytest.raises(ValueError, match="positive"):
        spread_script.spread([10.0, 0.0])
