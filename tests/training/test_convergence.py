"""Training to convergence: the run's model is the best development epoch; learning-rate schedules."""
import json

import keras
import numpy as np
import pytest

from emorec.config import LRScheduleConfig, TrainingConfig, config_from_dict
from emorec.errors import ConfigError
from emorec.training import train_model
from emorec.training.callbacks import MeanCCC
from emorec.training.train import learning_rate_schedule

#: Scripted development mean CCC per epoch: peaks at epoch 2 (1-based), then falls.
SCRIPTED_VAL_CCC = [0.1, 0.5, 0.3, 0.2, 0.1, 0.05, 0.0, 0.0]
PROBE = {"audio": np.random.default_rng(0).uniform(-0.5, 0.5, (1, 15, 2205)).astype(np.float32)}


class RecordPredictions(keras.callbacks.Callback):
    """The model's weights, and its outputs on a fixed probe, after each epoch."""

    def __init__(self):
        super().__init__()
        self.by_epoch = {}
        self.weights_by_epoch = {}

    def on_epoch_end(self, epoch, logs=None):
        outputs = self.model(PROBE, training=False)
        self.by_epoch[epoch + 1] = {name: np.asarray(value) for name, value in outputs.items()}
        self.weights_by_epoch[epoch + 1] = self.model.get_weights()


#: Output tolerance of a reloaded model: float32 repeats to rounding; bfloat16 (8-bit mantissa)
#: differs by a few 1e-3 where the reloaded model casts in another order.
OUTPUT_ATOL = {"float32": 1e-6, "mixed_bfloat16": 2e-2}


@pytest.mark.slow
@pytest.mark.parametrize("precision", sorted(OUTPUT_ATOL))
def test_early_stopping_keeps_the_best_epoch_as_the_runs_model(tiny_run_data, tiny_experiment, tmp_path,
                                                                 monkeypatch, precision):
    from emorec.evaluation import evaluate_run

    original = MeanCCC.on_epoch_end

    def scripted(self, epoch, logs=None):
        original(self, epoch, logs)
        logs["val_mean_ccc"] = SCRIPTED_VAL_CCC[epoch]  # what checkpoint and early stopping see

    monkeypatch.setattr(MeanCCC, "on_epoch_end", scripted)
    recorder = RecordPredictions()
    run_dir = tmp_path / "run"
    history = train_model(tiny_experiment(epochs=len(SCRIPTED_VAL_CCC), early_stopping_patience=2,
                                          precision=precision),
                          tiny_run_data, run_dir, callbacks=[recorder], verbose=0)
    assert len(history["epoch"]) == 4  # best at 2, two epochs without improvement, stop
    assert json.loads((run_dir / "best.json").read_text())["epoch"] == 2
    assert json.loads((run_dir / "run.json").read_text())["best_model"] == "best.keras"
    assert json.loads((run_dir / "run.json").read_text())["precision"] == precision
    best_model = keras.saving.load_model(run_dir / "best.keras", compile=False)
    # Variables stay float32 under either policy, so the best epoch's weights are kept exactly.
    assert len(best_model.get_weights()) == len(recorder.weights_by_epoch[2])
    for saved, recorded in zip(best_model.get_weights(), recorder.weights_by_epoch[2]):
        np.testing.assert_array_equal(saved, recorded)
    assert any(not np.array_equal(last, kept) for last, kept in
               zip(recorder.weights_by_epoch[4], recorder.weights_by_epoch[2]))  # so the check above can fail
    best = best_model(PROBE, training=False)
    for name, value in best.items():
        np.testing.assert_allclose(np.asarray(value), recorder.by_epoch[2][name], atol=OUTPUT_ATOL[precision])
    assert any(not np.allclose(recorder.by_epoch[4][name], recorder.by_epoch[2][name], atol=OUTPUT_ATOL[precision])
               for name in best)  # the last epoch's outputs differ beyond the tolerance
    scores = evaluate_run(run_dir, tiny_run_data, "devel", plot=False, postprocess=False, echo=None)
    assert scores["model"] == str(run_dir / "best.keras")


@pytest.mark.slow
def test_reduce_on_plateau_lowers_the_learning_rate(tiny_run_data, tiny_experiment, tmp_path, monkeypatch):
    original = MeanCCC.on_epoch_end

    def flat(self, epoch, logs=None):
        original(self, epoch, logs)
        logs["val_mean_ccc"] = 0.5  # never improves after the first epoch

    monkeypatch.setattr(MeanCCC, "on_epoch_end", flat)
    schedule = LRScheduleConfig(kind="reduce_on_plateau", factor=0.5, patience=1, min_learning_rate=1e-4)
    history = train_model(tiny_experiment(epochs=4, learning_rate=1e-2, lr_schedule=schedule),
                          tiny_run_data, tmp_path / "run", verbose=0)
    assert history["learning_rate"] == pytest.approx([1e-2, 1e-2, 5e-3, 2.5e-3], rel=1e-4)


def test_cosine_schedule_ends_at_the_minimum():
    training = TrainingConfig(epochs=3, learning_rate=1e-3,
                              lr_schedule=LRScheduleConfig(kind="cosine", min_learning_rate=1e-5))
    rate, callbacks = learning_rate_schedule(training, steps_per_epoch=10, validate=False)
    assert callbacks == []
    assert float(rate(0)) == pytest.approx(1e-3)
    assert float(rate(30)) == pytest.approx(1e-5, rel=1e-3)
    assert float(rate(15)) < 1e-3


def test_reduce_on_plateau_without_devel_is_a_config_error():
    training = TrainingConfig(lr_schedule=LRScheduleConfig(kind="reduce_on_plateau"))
    with pytest.raises(ConfigError, match="training.lr_schedule.kind"):
        learning_rate_schedule(training, 10, validate=False)


@pytest.mark.parametrize("section, key", [
    ({"training": {"lr_schedule": {"factor": 1.5}}}, "training.lr_schedule.factor"),
    ({"training": {"lr_schedule": {"kind": "step"}}}, "training.lr_schedule.kind"),
    ({"data": {"augmentation": {"gain_db": [6, -6]}}}, "data.augmentation.gain_db"),
    ({"data": {"augmentation": {"speed_factor": [0.5, 1.0]}}}, "data.augmentation.speed_factor"),
    ({"data": {"normalisation": {"kind": "global"}}}, "data.normalisation.kind"),
    ({"data": {"normalisation": {"min_rms": 0}}}, "data.normalisation.min_rms"),
])
def test_bad_values_name_their_key(section, key):
    with pytest.raises(ConfigError) as info:
        config_from_dict(section)
    assert f": {key}: " in str(info.value)
