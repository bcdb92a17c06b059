"""Which partition a table scores: the one the configs name (the paper's tables:
devel), and never one without labels (a SEWA release's test set), which is refused in one line.
And `--seeds N` (item 7): each cell is the mean ± sd over N seeds."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from emorec.cli import cli
from emorec.config import (CNNConfig, DataConfig, ExperimentConfig, ModelConfig, TrainingConfig, config_to_dict,
                           load_config)
from emorec.data.manifest import read_manifest
from emorec.errors import DatasetError, EmorecError
from emorec.evaluation.evaluate import evaluate_run
from emorec.experiments.ablation import run_ablation
from emorec.experiments.demo import synthetic_recordings
from tfrecords_tools.writer import write_recordings


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Train and devel labelled, test converted as SEWA converts a test set without labels: masks 0."""
    recordings = []
    for rec in synthetic_recordings(recordings={"train": 1, "devel": 1, "test": 2}, duration_s=(1, 1.5), seed=3):
        if rec.partition == "test":
            rec = dataclasses.replace(rec, label_mask=np.zeros_like(rec.label_mask))
        recordings.append(rec)
    return write_recordings(recordings, tmp_path_factory.mktemp("labelless") / "converted")


def write_config(folder, name, experiment=None, **evaluation):
    config = experiment or ExperimentConfig(name=name)
    config = dataclasses.replace(config, evaluation=dataclasses.replace(config.evaluation, **evaluation))
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(config)))
    return path


def test_the_converted_test_partition_has_no_labels(data):
    assert read_manifest(data)["partitions"]["test"]["labelled_frames"] == 0  # what the refusal reads


def test_ablation_refuses_a_labelless_partition_before_training(data, tmp_path):
    config = write_config(tmp_path, "default")  # no evaluation.partition: the test partition
    runs = tmp_path / "runs"
    with pytest.raises(DatasetError, match="partition 'test' has no labels"):
        run_ablation([config], data, runs, echo=None)
    assert not runs.exists()  # nothing trained, no table of n/a
    result = CliRunner().invoke(cli, ["ablation", "--configs", str(config), "--data", str(data), "--runs", str(runs)])
    assert result.exit_code != 0 and "\n" not in str(result.exception)  # one line


def test_evaluation_refuses_a_labelless_partition(data, tmp_path):
    # Refused on the manifest, before any run or model is read.
    with pytest.raises(DatasetError, match="no labels.*--partition devel"):
        evaluate_run(tmp_path / "run", data, "test", echo=None)


def test_the_partition_comes_from_the_configs(data, tmp_path):
    devel = write_config(tmp_path, "devel", partition="devel")
    assert load_config(devel).scored_partition == "devel"
    test = write_config(tmp_path, "test")
    with pytest.raises(EmorecError, match="different partitions"):
        run_ablation([devel, test], data, tmp_path / "runs", echo=None)
    # An explicit partition wins over the configs' (here: the labelless one, refused).
    with pytest.raises(DatasetError, match="'test' has no labels"):
        run_ablation([devel], data, tmp_path / "runs", partition="test", echo=None)


@pytest.mark.slow
def test_seeds_give_mean_and_sd_per_cell(data, tmp_path):
    import json

    tiny = ExperimentConfig(
        name="tiny", data=DataConfig(sequence_frames=5, hop_frames=5, batch_size=2, shuffle_buffer=4),
        model=ModelConfig(cnn=CNNConfig(filters=(2, 2, 2), dropout=0.0), lstm_units=2, lstm_dropout=0.0),
        training=TrainingConfig(epochs=1, steps_per_epoch=1, learning_rate=1e-2, seed=7))
    config = write_config(tmp_path, "tiny", tiny, partition="devel")
    runs = tmp_path / "runs"
    table = run_ablation([config], data, runs, seeds=2, echo=None)
    assert sorted(p.name for p in (runs / "tiny").glob("seed-*")) == ["seed-7", "seed-8"]
    per_seed = [json.loads(path.read_text())["ccc_raw"]
                for path in sorted((runs / "tiny").glob("seed-*/evaluation/*-devel/scores.json"))]
    assert len(per_seed) == 2
    row = next(line for line in table.splitlines() if line.startswith("| tiny"))
    cells = row.strip("| ").split(" | ")
    for cell, key in zip(cells[4:7], ("arousal", "valence", "mean")):
        values = [scores[key] for scores in per_seed]
        assert cell == f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"
    assert "over seeds 7, 8" in table
    # The seed runs are kept: a second call scores them again without training.
    mtimes = [p.stat().st_mtime for p in sorted((runs / "tiny").glob("seed-*/last.keras"))]
    assert run_ablation([config], data, runs, seeds=2, echo=None) == table
    assert [p.stat().st_mtime for p in sorted((runs / "tiny").glob("seed-*/last.keras"))] == mtimes
    with pytest.raises(EmorecError, match="several seeds"):
        run_ablation([config], data, runs, echo=None)
