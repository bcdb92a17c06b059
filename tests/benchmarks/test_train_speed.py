"""benchmarks/train_speed.py: the FLOP counts its GFLOP/s rest on, and its JSON keys, on a tiny batch."""
import pytest

from benchmarks import train_speed as speed_script

#: The keys of benchmarks/results/train_speed.json, which other reports read: never renamed.
EXISTING_KEYS = {"model", "precision", "precision_requested", "batch", "sequence_s", "train_audio_s_per_s",
                 "inference_x_real_time", "reference_train_audio_s_per_s", "reference_inference_x_real_time",
                 "train_speedup", "inference_speedup", "max_abs_output_difference", "rounds", "cores_used",
                 "reference_cores_used", "cpu_count", "cpu_flags", "matmul_peak_gflops", "forward_gflop_per_audio_s",
                 "fraction_of_peak", "xla_inference", "steps_per_round"}


def test_per_conv_flops_add_up_to_the_forward_count():
    per_conv = speed_script.conv_forward_flops_per_frame()
    # Table 1 by hand: 2205 x 8 x 1 x 50, 220 x 6 x 50 x 125, 44 x 6 x 125 x 125 multiply-adds.
    assert per_conv == [2 * 2205 * 8 * 50, 2 * 220 * 6 * 50 * 125, 2 * 44 * 6 * 125 * 125]
    lstm_and_head = 2 * (4 * 256 * (125 + 256) + 256 * 3)
    assert speed_script.forward_flops_per_second_of_audio() == pytest.approx(10 * (sum(per_conv) + lstm_and_head))


@pytest.mark.slow
def test_layout_variant_and_layer_keys_come_on_top_of_the_existing_ones():
    result = speed_script.run("paralinguistic", "float32", batch=1, frames=2, rounds=1, train_steps=1,
                              infer_steps=1, third_conv=8, layout_variants=("conv2d",), layers=True)
    assert EXISTING_KEYS <= set(result)
    assert result["conv_layout"] == "conv1d"  # float32: auto keeps the 1-D layout
    assert result["conv2d_max_abs_output_difference"] < 1e-5  # same weights, same numbers
    assert result["conv2d_inference_x_real_time"] > 0 and result["rounds"]["conv2d_inference_x_real_time"]
    for statistic in ("median", "best"):
        layers = result[f"layers_{statistic}"]
        timed = layers["ms_per_batch"]
        assert {"conv1_phase_blocked_pool1", "conv2_pool2_conv1d", "conv2_pool2_conv2d", "conv3_pool3_conv1d",
                "conv3_pool3_conv2d", "reference_conv1_pool1_conv1d", "lstm", "matmul_2048", "whole_model",
                "whole_reference", "whole_model_conv2d"} <= set(timed)
        assert all(value > 0 for value in timed.values())
        assert set(layers["gflops"]) == {name for name in timed if not name.startswith("whole")}
        assert layers["fraction_of_peak"]["matmul_2048"] == 1.0
        assert layers["inference_speedup_if_all_at_peak"] > 0
    assert result["best_round"]["conv2d_inference_x_real_time"] >= result["conv2d_inference_x_real_time"]
    assert set(result["load_average"]) == {"before", "after"}


@pytest.mark.slow
def test_pipeline_throughput_is_measured_beside_the_in_memory_one(monkeypatch):
    monkeypatch.setattr(speed_script, "PIPELINE_RECORDINGS", 3)
    monkeypatch.setattr(speed_script, "PIPELINE_DURATION_S", (1.0, 2.0))
    result = speed_script.run("paralinguistic", "float32", batch=2, frames=5, rounds=2, train_steps=1,
                              infer_steps=1, third_conv=8, pipeline="configs/cross_corpus/paralinguistic.yaml")
    assert EXISTING_KEYS <= set(result)
    assert result["pipeline_config"] == "configs/cross_corpus/paralinguistic.yaml"
    assert len(result["rounds"]["pipeline_train_audio_s_per_s"]) == 2
    assert result["pipeline_over_in_memory"] == pytest.approx(
        result["pipeline_train_audio_s_per_s"] / result["train_audio_s_per_s"], abs=2e-3)
    assert not any(key.startswith("pipeline_") and key.endswith("inference_x_real_time") for key in result)


def test_pipeline_batches_come_from_make_dataset_with_the_configs_augmentation(tmp_path, monkeypatch):
    monkeypatch.setattr(speed_script, "PIPELINE_RECORDINGS", 2)
    monkeypatch.setattr(speed_script, "PIPELINE_DURATION_S", (1.0, 1.5))
    inputs, targets = next(speed_script.pipeline_dataset("configs/cross_corpus/paralinguistic.yaml", 3, 4, tmp_path))
    assert tuple(inputs["audio"].shape) == (3, 4, 2205)
    assert set(targets) == {"arousal", "valence", "liking"}
    assert (tmp_path / "manifest.json").is_file()
