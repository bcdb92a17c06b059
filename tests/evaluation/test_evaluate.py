"""`emorec train` and `emorec evaluate` through the CLI; scores recomputed from the written files."""
import json

import numpy as np
import pytest
import tensorflow as tf
import yaml
from click.testing import CliRunner

from emorec.cli import cli
from emorec.data.schema import example_to_recording
from emorec.experiments.demo import synthetic_recordings, write_tfrecords
from emorec.errors import InputFileError
from emorec.evaluation.ccc import ccc

CONFIG = {
    "data": {"sequence_frames": 10, "hop_frames": 10, "batch_size": 4},
    "model": {"cnn": {"filters": [4, 8, 8]}, "lstm_units": 8},
    "training": {"epochs": 1, "learning_rate": 0.003},
    "evaluation": {"plot_recordings": 1, "postprocess": True, "max_delay_frames": 3, "median_windows": [3]},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = write_tfrecords(synthetic_recordings(recordings={"train": 3, "devel": 2, "test": 2}, duration_s=(2, 3)),
                           root / "data")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    result = CliRunner().invoke(cli, ["train", "--config", str(config), "--data", str(data), "--run-dir",
                                      str(root / "run"), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert "trained 2 epochs" in result.output
    return data, root / "run"


def test_evaluate_writes_avec_predictions_scores_and_plots(trained):
    data, run = trained
    result = CliRunner().invoke(cli, ["evaluate", "--run-dir", str(run), "--data", str(data), "--partition", "test"])
    assert result.exit_code == 0, result.output
    assert "arousal" in result.output and "mean" in result.output
    out = run / "evaluation" / "test"
    scores = json.loads((out / "scores.json").read_text())
    assert scores["recordings"] == 2 and (run / "postprocess.json").is_file()
    assert len(list((out / "plots").glob("*.png"))) == 1
    # Recompute pooled CCC from the AVEC files and the gold read back from the TFRecords.
    golds, preds = [], []
    for record in tf.data.TFRecordDataset([str(p) for p in sorted(data.glob("test-*.tfrecord"))]).as_numpy_iterator():
        recording = example_to_recording(record)
        lines = (out / "predictions" / f"{recording.name}.csv").read_text().strip().splitlines()
        rows = [line.split(";") for line in lines]  # AVEC layout: no header
        assert rows[0][0] == f"'{recording.name}'" and rows[1][1] == "0.10"
        preds.append(np.array([[float(v) for v in r[2:]] for r in rows]))
        golds.append(recording.labels)
    gold, pred = np.concatenate(golds), np.concatenate(preds)
    for d, name in enumerate(["arousal", "valence"]):
        assert scores["ccc_postprocessed"][name] == pytest.approx(ccc(gold[:, d], pred[:, d]), abs=1e-5)


def test_evaluate_errors_name_the_problem(trained, tmp_path):
    data, _ = trained
    result = CliRunner().invoke(cli, ["evaluate", "--run-dir", str(tmp_path), "--data", str(data)])
    assert isinstance(result.exception, InputFileError) and "run.json" in str(result.exception)
