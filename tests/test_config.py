"""Config loading: every key and type checked, errors name the file and the key."""
from pathlib import Path

import pytest

from emorec.config import ExperimentConfig, config_from_dict, load_config, save_config
from emorec.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_follow_the_paper():
    config = ExperimentConfig()
    assert config.training.learning_rate == pytest.approx(1e-4)
    assert config.training.clip_norm == pytest.approx(5.0)
    assert config.data.batch_size == 25
    assert config.model.cnn.filters == (50, 125, 125)
    assert config.model.cnn.kernel_sizes == (8, 6, 6)
    assert config.model.cnn.pool_sizes == (10, 5, 5)


def test_nested_values_load_with_types(tmp_path):
    path = write(tmp_path, "training:\n  epochs: 3\n  learning_rate: 1\nmodel:\n  cnn:\n    filters: [50, 125, 250]\n")
    config = load_config(path)
    assert config.training.epochs == 3
    assert isinstance(config.training.learning_rate, float)
    assert config.model.cnn.filters == (50, 125, 250)


def test_unknown_key_names_file_and_dotted_key(tmp_path):
    path = write(tmp_path, "training:\n  epochz: 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and "training.epochz" in message and "unknown key" in message


@pytest.mark.parametrize(
    "text, key",
    [
        ("training:\n  epochs: three\n", "training.epochs"),
        ("training:\n  epochs: 2.5\n", "training.epochs"),
        ("training:\n  precision: float64\n", "training.precision"),
        ("model:\n  cnn:\n    filters: [1, 2]\n", "model.cnn.filters"),
        ("data: 5\n", "data"),
        ("model:\n  paralinguistic: 1\n", "model.paralinguistic"),
    ],
)
def test_wrong_types_are_errors(tmp_path, text, key):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert f": {key}: " in str(info.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: config file not found"  # no "<file>:" in between
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "training: [unclosed\n"))


def test_save_and_load_round_trip(tmp_path):
    config = config_from_dict({"name": "x", "training": {"seed": 7}, "model": {"cnn": {"filters": [4, 5, 6]}}})
    save_config(config, tmp_path / "resolved.yaml")
    assert load_config(tmp_path / "resolved.yaml") == config
