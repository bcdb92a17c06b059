"""Training end to end on tiny generated TFRecords: overfitting, resuming, strategies."""
import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from emorec.config import CNNConfig, DataConfig, ExperimentConfig, ModelConfig, TrainingConfig, load_config
from emorec.errors import EmorecError
from emorec.training import train_model
from emorec.training.strategy import make_strategy

REPO_ROOT = Path(__file__).resolve().parents[2]


#: Every test here trains.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_data(tiny_run_data):
    """4 generated recordings of 3 s; devel holds the same recordings (overfitting is the point)."""
    return tiny_run_data


def tiny_config(**training) -> ExperimentConfig:
    # float32 unless a test asks otherwise: "auto" would train these in bfloat16 on bf16 hardware.
    values = dict(epochs=4, steps_per_epoch=10, learning_rate=1e-2, seed=0, precision="float32")
    values.update(training)
    return ExperimentConfig(
        data=DataConfig(sequence_frames=15, hop_frames=15, batch_size=8, shuffle_buffer=16),
        model=ModelConfig(cnn=CNNConfig(filters=(8, 16, 16), dropout=0.0), lstm_units=16, lstm_dropout=0.0),
        training=TrainingConfig(**values),
    )


def test_tiny_model_overfits_tiny_dataset(tiny_data, tmp_path):
    from emorec.evaluation import evaluate_run

    run_dir = tmp_path / "run"
    history = train_model(tiny_config(epochs=6, steps_per_epoch=6), tiny_data, run_dir, verbose=0)
    assert len(history["epoch"]) == 6
    print("val_mean_ccc per epoch", history["val_mean_ccc"])
    assert history["val_mean_ccc"][0] < history["val_mean_ccc"][-1] - 0.2
    assert history["val_mean_ccc"][-1] > 0.9
    assert (run_dir / "best.keras").is_file() and (run_dir / "last.keras").is_file()
    assert load_config(run_dir / "config.yaml").training.epochs == 6
    assert json.loads((run_dir / "run.json").read_text())["label_names"] == ["arousal", "valence"]
    scores = evaluate_run(run_dir, tiny_data, "devel", plot=False, echo=None)
    assert scores["ccc_raw"]["mean"] > 0.9


def test_interrupted_run_resumes_to_the_same_number_of_epochs(tiny_data, tmp_path, kill_after_epochs):
    run_dir = tmp_path / "run"
    config = tiny_config(epochs=4, steps_per_epoch=3)
    with pytest.raises(KeyboardInterrupt):
        train_model(config, tiny_data, run_dir, callbacks=[kill_after_epochs(2)], verbose=0)
    assert (run_dir / "backup").is_dir()
    first = [float(v) for v in np.genfromtxt(run_dir / "history.csv", delimiter=",", names=True)["loss"]]
    assert len(first) == 2
    history = train_model(config, tiny_data, run_dir, verbose=0)
    assert history["epoch"] == [0, 1, 2, 3]
    assert history["loss"][:2] == pytest.approx(first)
    # Weights and optimiser were restored: epoch 3 continues from epoch 2, not from scratch.
    assert history["loss"][2] < first[0]
    assert not (run_dir / "backup").exists()  # removed once the run finishes
    with pytest.raises(EmorecError, match="finished run"):
        train_model(config, tiny_data, run_dir, verbose=0)


def test_mirrored_strategy_over_two_logical_cpus(tiny_data, tmp_path):
    if len(tf.config.list_logical_devices("CPU")) < 2:
        pytest.skip("two logical CPU devices could not be configured")
    strategy = make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    history = train_model(tiny_config(epochs=2, steps_per_epoch=4), tiny_data, tmp_path / "run",
                          strategy=strategy, verbose=0)
    assert len(history["epoch"]) == 2 and np.isfinite(history["val_mean_ccc"]).all()
    assert history["loss"][1] < history["loss"][0]


WORKER = """
import sys
from emorec.config import load_config
from emorec.training import train_model
history = train_model(load_config(sys.argv[1]), sys.argv[2], sys.argv[3], strategy="multiworker", verbose=0)
print("EPOCHS", len(history["epoch"]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.e2e
def test_multiworker_strategy_with_two_local_workers(tiny_data, tmp_path):
    from emorec.config import save_config

    config_path = tmp_path / "config.yaml"
    save_config(tiny_config(epochs=2, steps_per_epoch=2), config_path)
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
                   TF_CONFIG=json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}),
                   PYTHONPATH=str(REPO_ROOT))
        processes.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, str(config_path), str(tiny_data), str(tmp_path / "run")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for process in processes:
            # Generous (a loaded 2-core machine needs about a minute), and a failure when exceeded:
            # a hang of the collective ops is exactly what this test is for, so it must not skip.
            outputs.append(process.communicate(timeout=300)[0])
    except subprocess.TimeoutExpired:
        for process in processes:
            process.kill()
        tails = [(process.communicate()[0] or "")[-1500:] for process in processes]
        pytest.fail(f"two local workers did not finish within 300 s (a collective hang?): {tails}")
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
        assert "EPOCHS 2" in output
    assert (tmp_path / "run" / "best.keras").is_file()
    assert (tmp_path / "run" / ".worker-1").is_dir()  # the non-chief wrote privately


def test_mixed_bfloat16_trains_with_float32_outputs(tiny_data, tmp_path):
    import keras

    history = train_model(tiny_config(epochs=1, steps_per_epoch=2), tiny_data, tmp_path / "run",
                          precision="mixed_bfloat16", verbose=0)
    assert np.isfinite(history["loss"]).all()
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after training
    model = keras.saving.load_model(tmp_path / "run" / "best.keras", compile=False)
    assert model.get_layer("lstm").dtype_policy.name == "mixed_bfloat16"
    outputs = model({"audio": np.zeros((1, 3, 2205), np.float32)}, training=False)
    assert all(o.dtype == "float32" for o in outputs.values())
    assert load_config(tmp_path / "run" / "config.yaml").training.precision == "mixed_bfloat16"


def test_auto_precision_follows_the_cpu_and_run_json_records_the_choice(tiny_data, tmp_path, monkeypatch, caplog):
    import logging

    import keras

    from emorec.training import precision

    monkeypatch.setattr(precision, "read_cpu_flags", lambda: frozenset({"avx2", "avx512f", "amx_bf16"}))
    monkeypatch.setattr(precision, "gpu_compute_capabilities", lambda: ())
    with caplog.at_level(logging.INFO, logger="emorec.training.precision"):
        train_model(tiny_config(epochs=1, steps_per_epoch=2, precision="auto"), tiny_data, tmp_path / "run", verbose=0)
    # Only this logger's records: TensorFlow's retracing warnings depend on the tests run before.
    assert [r.getMessage() for r in caplog.records if r.name == "emorec.training.precision"] == [
        "precision auto -> mixed_bfloat16: CPU has amx_bf16", "conv_layout auto -> conv2d"]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["precision"] == "mixed_bfloat16"
    # The config keeps "auto": the same run folder resumed on other hardware chooses again.
    assert load_config(tmp_path / "run" / "config.yaml").training.precision == "auto"
    model = keras.saving.load_model(tmp_path / "run" / "best.keras", compile=False)
    assert model.get_layer("lstm").dtype_policy.name == "mixed_bfloat16"
    # The CNN resolves its own "auto" from its compute dtype, as the log said it would.
    assert model.get_layer("paralinguistic_cnn").conv_layout_in_use == "conv2d"


def test_same_seed_repeats_a_run_and_another_seed_does_not(tiny_data, tmp_path):
    config = tiny_config(epochs=2, steps_per_epoch=3)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, lstm_dropout=0.5))
    first = train_model(config, tiny_data, tmp_path / "a", verbose=0)
    again = train_model(config, tiny_data, tmp_path / "b", verbose=0)
    other = train_model(dataclasses.replace(config, training=dataclasses.replace(config.training, seed=1)),
                        tiny_data, tmp_path / "c", verbose=0)
    assert again["loss"] == pytest.approx(first["loss"], rel=1e-5)
    assert again["val_mean_ccc"] == pytest.approx(first["val_mean_ccc"], rel=1e-5)
    assert other["loss"] != pytest.approx(first["loss"], rel=1e-5)
