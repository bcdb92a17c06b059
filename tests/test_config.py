"""Config loading: every key, type and range checked, errors name the file and the key; `--set`
overrides go through the same checks."""
import dataclasses
import logging
from pathlib import Path

import pytest

from emorec.config import (CNNConfig, DataConfig, EvaluationConfig, ExperimentConfig, SegmenterConfig, TrainingConfig,
                           apply_overrides, config_from_dict, load_config, save_config)
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


@pytest.mark.parametrize(
    "text, key, problem",
    [
        ("data:\n  batch_size: -4\n", "data.batch_size", "must be >= 1 and <= 4096, got -4"),
        ("data:\n  sequence_frames: 0\n", "data.sequence_frames", "must be >= 1"),
        ("data:\n  hop_frames: 0\n", "data.hop_frames", "must be >= 1"),
        ("model:\n  cnn:\n    dropout: 1.5\n", "model.cnn.dropout", "must be >= 0 and < 1, got 1.5"),
        ("model:\n  lstm_dropout: 1.0\n", "model.lstm_dropout", "< 1"),
        ("model:\n  lstm_units: 0\n", "model.lstm_units", ">= 1"),
        ("model:\n  cnn:\n    filters: [8, 0, 8]\n", "model.cnn.filters[1]", ">= 1"),
        ("model:\n  fusion:\n    head_units: 0\n", "model.fusion.head_units", ">= 1"),
        ("training:\n  epochs: -1\n", "training.epochs", "must be >= 1, got -1"),
        ("training:\n  learning_rate: 0\n", "training.learning_rate", "must be > 0"),
        ("training:\n  learning_rate: .nan\n", "training.learning_rate", "must be a finite number, got nan"),
        ("training:\n  clip_norm: .inf\n", "training.clip_norm", "must be a finite number, got inf"),
        ("training:\n  clip_norm: 0.0\n", "training.clip_norm", "must be > 0"),
        ("training:\n  early_stopping_patience: -1\n", "training.early_stopping_patience", ">= 0"),
        ("training:\n  steps_per_epoch: 0\n", "training.steps_per_epoch", ">= 1"),
        ("evaluation:\n  median_windows: [3, -5]\n", "evaluation.median_windows[1]", ">= 1"),
        ("semantic:\n  segmenter:\n    hop_s: 0\n", "semantic.segmenter.hop_s", "must be > 0, got 0"),
        ("semantic:\n  segmenter:\n    window_s: -0.025\n", "semantic.segmenter.window_s", "must be > 0"),
        ("semantic:\n  segmenter:\n    max_gap_s: -0.01\n", "semantic.segmenter.max_gap_s", "must be >= 0"),
        ("semantic:\n  segmenter:\n    threshold_db: .nan\n", "semantic.segmenter.threshold_db", "finite"),
        ("semantic:\n  segmenter:\n    smoothing_frames: 0\n", "semantic.segmenter.smoothing_frames", ">= 1"),
        # Across fields (problems()): a hop past the window, a minimum word over half the maximum.
        ("semantic:\n  segmenter:\n    hop_s: 0.03\n", "semantic.segmenter.hop_s", "must be <= window_s (0.025)"),
        ("semantic:\n  segmenter:\n    min_word_s: 0.32\n", "semantic.segmenter.min_word_s",
         "must be at most about half of max_word_s (0.6), got 0.32: runs of 61 to 63 hops"),
        ("semantic:\n  segmenter:\n    floor_db: -120\n", "semantic.segmenter.floor_db", "must be > -120"),
        # Post-processing is fitted on frame outputs: not with other output protocols.
        ("evaluation:\n  postprocess: true\n  pool: recording\n", "evaluation.postprocess",
         "must be false with pool 'recording'"),
        ("evaluation:\n  pool: utterance\n", "evaluation.pool", "frame"),
    ],
)
def test_values_out_of_range_name_file_and_dotted_key(tmp_path, text, key, problem):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: {key}: ")
    assert problem in info.value.problem


def test_range_edges_and_unset_optionals_are_accepted(tmp_path):
    config = load_config(write(tmp_path, "model:\n  cnn:\n    dropout: 0\n  lstm_dropout: 0.99\n"
                                         "training:\n  early_stopping_patience: 0\n  steps_per_epoch: null\n"))
    assert config.model.cnn.dropout == 0 and config.training.early_stopping_patience == 0
    assert config.training.steps_per_epoch is None


def test_configs_built_in_python_are_checked_too():
    with pytest.raises(ConfigError, match=r"^DataConfig: batch_size: must be >= 1 and <= 4096, got 0$"):
        DataConfig(batch_size=0)
    with pytest.raises(ConfigError, match=r"^CNNConfig: dropout: "):
        CNNConfig(dropout=-0.1)
    # dataclasses.replace is how the command-line flags (--epochs) reach a config.
    with pytest.raises(ConfigError, match=r"^TrainingConfig: learning_rate: must be a finite number"):
        dataclasses.replace(TrainingConfig(), learning_rate=float("nan"))
    # The checks across fields as well, not only those of a YAML file.
    with pytest.raises(ConfigError, match=r"^SegmenterConfig: min_word_s: must be at most about half"):
        SegmenterConfig(min_word_s=0.04, max_word_s=0.05)
    with pytest.raises(ConfigError, match=r"^EvaluationConfig: postprocess: must be false with pool"):
        dataclasses.replace(EvaluationConfig(postprocess=True), pool="recording")


def test_exponent_without_a_dot_is_a_number_in_a_file_too(tmp_path):
    # PyYAML (YAML 1.1) returns "5e-4" as a string; a float field takes it as the number it is.
    assert load_config(write(tmp_path, "training:\n  learning_rate: 5e-4\n")).training.learning_rate == 5e-4
    with pytest.raises(ConfigError, match="training.epochs: expected an integer"):
        load_config(write(tmp_path, "training:\n  epochs: 1e3\n"))


@pytest.mark.parametrize("text", ["", "\n# only a comment\n", "{}\n"])
def test_empty_file_loads_defaults_with_one_warning(tmp_path, caplog, text):
    path = write(tmp_path, text)
    with caplog.at_level(logging.WARNING, logger="emorec.config"):
        config = load_config(path)
    assert config == ExperimentConfig()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"{path}: the config file is empty, so every value is the default"]


def test_a_non_empty_file_loads_without_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="emorec.config"):
        load_config(write(tmp_path, "name: x\n"))
    assert not caplog.records


def test_overrides_are_typed_and_reach_nested_sections():
    config = apply_overrides(ExperimentConfig(), ["data.sequence_frames=300",
                                                  "model.semantic_features.boundaries=segmenter",
                                                  "training.learning_rate=5e-4", "model.cnn.filters=[4, 5, 6]",
                                                  "data.devel_partition=null", "name=1e3", "training.epochs=3",
                                                  "training.epochs=4"])
    assert config.data.sequence_frames == 300 and config.model.semantic_features.boundaries == "segmenter"
    assert config.training.learning_rate == 5e-4 and config.model.cnn.filters == (4, 5, 6)
    assert config.data.devel_partition is None
    assert config.name == "1e3"  # a string field keeps a numeric-looking string
    assert config.training.epochs == 4  # the last override of a key wins
    assert ExperimentConfig().data.sequence_frames == 100  # a copy: the input is left alone


@pytest.mark.parametrize(
    "override, key, problem",
    [
        ("training.epochz=3", "training.epochz", "unknown key (allowed: clip_norm, "),
        ("trainin.epochs=3", "trainin.epochs", "'trainin' is not a config section"),
        ("training.epochs.x=3", "training.epochs.x", "'training.epochs' is not a config section"),
        ("training.epochs=three", "training.epochs", "expected an integer, got 'three'"),
        ("model.semantic_features.boundaries=words", "model.semantic_features.boundaries", "'words' is not one of"),
        ("training.learning_rate=.nan", "training.learning_rate", "must be a finite number"),
        ("data.batch_size=0", "data.batch_size", "must be >= 1 and <= 4096, got 0"),
        ("name=[x", "name", "not a YAML value"),
        ("training.epochs", "training.epochs", "expected KEY=VALUE"),
    ],
)
def test_bad_overrides_name_the_source_and_the_key(override, key, problem):
    with pytest.raises(ConfigError) as info:
        apply_overrides(ExperimentConfig(), [override], source="--set")
    assert info.value.source == "--set" and info.value.key == key
    assert problem in info.value.problem
