"""`--set KEY=VALUE` on the verbs that read a config (train, demo; ablation in
tests/training/test_ablation.py): checked like the YAML before anything runs, and what is trained
is the overridden config."""
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from emorec.cli import cli
from emorec.config import CNNConfig, DataConfig, ExperimentConfig, ModelConfig, TrainingConfig, load_config, save_config
from emorec.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


def tiny_config_file(tmp_path: Path) -> Path:
    config = ExperimentConfig(
        data=DataConfig(sequence_frames=15, hop_frames=15, batch_size=4, shuffle_buffer=8, devel_partition=None),
        model=ModelConfig(cnn=CNNConfig(filters=(4, 8, 8), dropout=0.0), lstm_units=8, lstm_dropout=0.0),
        training=TrainingConfig(epochs=2, steps_per_epoch=2, learning_rate=1e-2, seed=0),
    )
    save_config(config, tmp_path / "config.yaml")
    return tmp_path / "config.yaml"


@pytest.mark.slow
def test_train_set_reaches_the_trained_config(train_only_data, tmp_path):
    """The README's examples: `--set data.sequence_frames=...` and
    `--set model.semantic_features.boundaries=segmenter`."""
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--config", str(tiny_config_file(tmp_path)), "--data",
                                      str(train_only_data), "--run-dir", str(run_dir), "--epochs", "1",
                                      "--set", "data.sequence_frames=10",
                                      "--set", "model.semantic_features.boundaries=segmenter",
                                      "--set", "training.learning_rate=5e-3"])
    assert result.exit_code == 0, result.output
    assert "trained 1 epoch;" in result.output  # singular for one epoch
    saved = load_config(run_dir / "config.yaml")
    assert saved.data.sequence_frames == 10 and saved.data.hop_frames == 15
    assert saved.model.semantic_features.boundaries == "segmenter"
    assert saved.training.learning_rate == 5e-3
    assert saved.training.epochs == 1  # --epochs still applies next to --set


@pytest.mark.e2e
def test_train_unknown_set_key_is_one_line_before_anything_runs(tmp_path):
    """Through the real entry point, as a user sees it: the empty file's warning, then one error line
    naming the key; no run folder. The data folder does not even exist: the config is checked first."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-c", "from emorec.cli import main; main()", "train", "--config", str(empty),
         "--data", str(tmp_path / "no-data"), "--run-dir", str(run_dir), "--set", "training.epochz=3"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"{empty}: the config file is empty, so every value is the default"
    assert len(lines) == 2 and lines[1].startswith("error: --set: training.epochz: unknown key (allowed: "), lines
    assert not run_dir.exists()


@pytest.mark.parametrize("override, key", [("training.learning_rate=.nan", "training.learning_rate"),
                                           ("data.batch_size=-1", "data.batch_size")])
def test_train_set_out_of_range_is_refused_before_training(tmp_path, override, key):
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(cli, ["train", "--config", str(tiny_config_file(tmp_path)), "--data",
                                      str(tmp_path / "no-data"), "--run-dir", str(run_dir), "--set", override])
    assert isinstance(result.exception, ConfigError) and result.exception.key == key
    assert not run_dir.exists()


def test_demo_set_is_checked_before_anything_is_generated(tmp_path):
    workdir = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--workdir", str(workdir), "--set", "model.lstm_unit=8"])
    assert isinstance(result.exception, ConfigError) and result.exception.key == "model.lstm_unit"
    assert not workdir.exists()
