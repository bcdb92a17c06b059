"""Training without a development set (`data.devel_partition: null`): a fixed number of epochs,
no model selection, and the last epoch's model is the run's model (what `emorec export` takes)."""
import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from emorec.config import CNNConfig, DataConfig, ExperimentConfig, ModelConfig, TrainingConfig, load_config
from emorec.errors import DatasetError
from emorec.training.run_folder import find_run_model
from emorec.training import train_model

REPO_ROOT = Path(__file__).resolve().parents[2]


def config_without_devel(devel_partition=None) -> ExperimentConfig:
    return ExperimentConfig(
        data=DataConfig(sequence_frames=15, hop_frames=15, batch_size=4, shuffle_buffer=8,
                        devel_partition=devel_partition),
        model=ModelConfig(cnn=CNNConfig(filters=(4, 8, 8), dropout=0.0), lstm_units=8, lstm_dropout=0.0),
        training=TrainingConfig(epochs=2, steps_per_epoch=2, learning_rate=1e-2, seed=0,
                                early_stopping_patience=1),
    )


@pytest.fixture(scope="module")
def no_devel_run(train_only_data, tmp_path_factory):
    """(run folder, history) of `config_without_devel()`, post-processing asked for by its config,
    trained on `train_only_data` (tests/conftest.py). Read-only: a test that evaluates copies it."""
    from emorec.config import EvaluationConfig

    config = config_without_devel()
    config.evaluation = EvaluationConfig(postprocess=True, plot_recordings=0)
    run_dir = tmp_path_factory.mktemp("no_devel") / "run"
    return run_dir, train_model(config, train_only_data, run_dir, verbose=0)


@pytest.mark.slow
def test_runs_all_epochs_and_the_last_model_is_the_runs_model(no_devel_run):
    run_dir, history = no_devel_run
    assert history["epoch"] == [0, 1]  # early stopping has nothing to watch: all epochs run
    # Nothing was validated (Keras's CSVLogger still writes empty val_ columns).
    validation = {key: values for key, values in history.items() if key.startswith("val_")}
    assert all(np.isnan(values).all() for values in validation.values()), validation
    assert np.isfinite(history["loss"]).all()
    assert (run_dir / "last.keras").is_file()
    assert not (run_dir / "best.keras").exists() and not (run_dir / "best.json").exists()
    assert json.loads((run_dir / "run.json").read_text())["best_model"] == "last.keras"
    assert find_run_model(run_dir) == run_dir / "last.keras"
    assert load_config(run_dir / "config.yaml").data.devel_partition is None
    model = keras.models.load_model(run_dir / "last.keras", compile=False)
    assert sorted(model.output_names) == ["arousal", "valence"]


@pytest.mark.slow
def test_cli_train_reports_no_development_score(train_only_data, tmp_path):
    from click.testing import CliRunner

    from emorec.cli import cli
    from emorec.config import save_config

    config = config_without_devel()
    save_config(config, tmp_path / "config.yaml")
    result = CliRunner().invoke(cli, ["train", "--config", str(tmp_path / "config.yaml"), "--data",
                                      str(train_only_data), "--run-dir", str(tmp_path / "run"), "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "trained 1 epoch; no development score;" in result.output


def test_a_named_devel_partition_is_still_required(train_only_data, tmp_path):
    with pytest.raises(DatasetError, match="devel"):
        train_model(config_without_devel("devel"), train_only_data, tmp_path / "run", verbose=0)


def test_shipped_model_config_has_no_devel_partition():
    config = load_config(REPO_ROOT / "configs" / "emodb_paralinguistic_all.yaml")
    reference = load_config(REPO_ROOT / "configs" / "emodb_paralinguistic.yaml")
    assert config.data.devel_partition is None
    # The same model, input treatment and optimiser as the speaker-independent run whose scores the
    # card reports; without a devel set nothing can stop early or lower the rate on a plateau, so
    # the epoch count and schedule are the all-speaker run's own.
    assert config.model == reference.model
    assert config.data.augmentation == reference.data.augmentation
    assert config.data.normalisation == reference.data.normalisation
    # Compared as plain data: the config classes refuse placeholder values such as epochs=0.
    selection = ("epochs", "early_stopping_patience", "lr_schedule")
    shipped, split = dataclasses.asdict(config.training), dataclasses.asdict(reference.training)
    assert {k: v for k, v in shipped.items() if k not in selection} == \
        {k: v for k, v in split.items() if k not in selection}


@pytest.mark.slow
def test_evaluate_scores_the_last_model_and_refuses_explicit_postprocessing(no_devel_run, train_only_data, tmp_path):
    import shutil

    from emorec.errors import EmorecError
    from emorec.evaluation import evaluate_run

    run_dir = shutil.copytree(no_devel_run[0], tmp_path / "run")  # evaluate writes into the run
    notes = []
    scores = evaluate_run(run_dir, train_only_data, "train", echo=notes.append)
    assert scores["model"].endswith("last.keras") and scores["ccc_postprocessed"] is None
    assert any("no development partition" in note for note in notes)
    assert np.isfinite(scores["ccc_raw"]["mean"])
    with pytest.raises(EmorecError, match="post-processing is fitted on a development partition"):
        evaluate_run(run_dir, train_only_data, "train", postprocess=True, echo=None)
