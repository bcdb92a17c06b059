"""A tiny trained run shared by the evaluation tests (training it is the slow part)."""
import pytest
import yaml
from click.testing import CliRunner

from emorec.cli import cli
from emorec.experiments.demo import synthetic_recordings
from tfrecords_tools.writer import write_recordings

CONFIG = {
    "data": {"sequence_frames": 10, "hop_frames": 10, "batch_size": 4},
    "model": {"cnn": {"filters": [4, 8, 8]}, "lstm_units": 8},
    "training": {"epochs": 1, "learning_rate": 0.003},
    "evaluation": {"plot_recordings": 1, "postprocess": True, "max_delay_frames": 3, "median_windows": [3]},
}


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """(converted folder, run folder) of a 2-epoch run with post-processing on."""
    root = tmp_path_factory.mktemp("cli")
    data = write_recordings(synthetic_recordings(recordings={"train": 3, "devel": 2, "test": 2}, duration_s=(2, 3)),
                           root / "data")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    result = CliRunner().invoke(cli, ["train", "--config", str(config), "--data", str(data), "--run-dir",
                                      str(root / "run"), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert "trained 2 epochs" in result.output
    return data, root / "run"
