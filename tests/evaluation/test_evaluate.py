"""`emorec train` and `emorec evaluate` through the CLI; scores recomputed from the written files."""
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from emorec.cli import cli
from emorec.data.schema import example_to_recording
from emorec.errors import InputFileError, OutputExistsError
from emorec.evaluation.ccc import ccc


def read_gold(data, partition="test"):
    """{name: labels [frames, dims]} read straight from the TFRecords, not through evaluate."""
    files = [str(p) for p in sorted(data.glob(f"{partition}-*.tfrecord"))]
    recordings = (example_to_recording(r) for r in tf.data.TFRecordDataset(files).as_numpy_iterator())
    return {recording.name: recording.labels for recording in recordings}


def read_avec(path, name):
    rows = [line.split(";") for line in path.read_text().strip().splitlines()]  # AVEC layout: no header
    assert rows[0][0] == f"'{name}'" and rows[1][1] == "0.10"
    return np.array([[float(v) for v in r[2:]] for r in rows])


def test_evaluate_writes_raw_and_postprocessed_predictions_side_by_side(trained):
    data, run = trained
    result = CliRunner().invoke(cli, ["evaluate", "--run-dir", str(run), "--data", str(data), "--partition", "test"])
    assert result.exit_code == 0, result.output
    assert "test raw" in result.output and "test post-processed" in result.output and "mean" in result.output
    # Keyed by data folder and partition, so another --data cannot land here.
    out = run / "evaluation" / f"{data.name}-test"
    scores = json.loads((out / "scores.json").read_text())
    assert scores["recordings"] == 2 and (run / f"postprocess-{data.name}.json").is_file()
    assert "ccc" not in scores, "a neutral name would hide which score set it is"
    assert scores["predictions"] == {"raw": "predictions_raw", "postprocessed": "predictions_postprocessed"}
    assert set(scores["postprocessing"]["dimensions"]) == {"arousal", "valence"}
    assert not (out / "predictions").exists()
    assert len(list((out / "plots").glob("*.png"))) == 1 and (out / "report.html").is_file()

    # Recompute pooled CCC of each folder's files against the gold read back from the TFRecords:
    # each folder must hold exactly the predictions its score set was computed from.
    gold = read_gold(data)
    names = sorted(gold)
    for folder, key in (("predictions_raw", "ccc_raw"), ("predictions_postprocessed", "ccc_postprocessed")):
        assert sorted(p.stem for p in (out / folder).glob("*.csv")) == names
        pred = np.concatenate([read_avec(out / folder / f"{name}.csv", name) for name in names])
        labels = np.concatenate([gold[name] for name in names])
        for d, dimension in enumerate(["arousal", "valence"]):
            assert scores[key][dimension] == pytest.approx(ccc(labels[:, d], pred[:, d]), abs=1e-5)
    # Post-processing moved the values (fitted offsets/scales on devel), so the two sets differ.
    raw = read_avec(out / "predictions_raw" / f"{names[0]}.csv", names[0])
    processed = read_avec(out / "predictions_postprocessed" / f"{names[0]}.csv", names[0])
    assert raw.shape == processed.shape and not np.allclose(raw, processed)


def test_another_data_folder_gets_its_own_evaluation_and_existing_ones_are_refused(trained, tmp_path):
    data, run = trained
    other = tmp_path / "data_copy"
    shutil.copytree(data, other)
    runner = CliRunner()
    out = tmp_path / "eval"
    args = ["evaluate", "--run-dir", str(run), "--data", str(data), "--partition", "test", "--out", str(out)]
    assert runner.invoke(cli, args).exit_code == 0
    first_scores = (out / "scores.json").read_text()

    result = runner.invoke(cli, ["evaluate", "--run-dir", str(run), "--data", str(other), "--partition", "test"])
    assert result.exit_code == 0, result.output
    assert (run / "evaluation" / "data_copy-test" / "scores.json").is_file()

    # Same output again: refused, and the first evaluation is untouched.
    refused = runner.invoke(cli, args)
    assert isinstance(refused.exception, OutputExistsError), refused.output
    assert "--overwrite" in str(refused.exception) and str(out) in str(refused.exception)
    assert (out / "scores.json").read_text() == first_scores

    # --overwrite replaces what evaluate wrote (a stale prediction goes) and nothing else (notes stay).
    (out / "predictions_raw" / "stale.csv").write_text("'stale';0.00;0;0\n")
    (out / "notes.txt").write_text("mine")
    result = runner.invoke(cli, args + ["--overwrite"])
    assert result.exit_code == 0, result.output
    assert not (out / "predictions_raw" / "stale.csv").exists() and (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "scores.json").read_text())["ccc_raw"] == json.loads(first_scores)["ccc_raw"]


def test_post_processing_is_fitted_per_data_folder_and_model(trained, tmp_path):
    """Scoring another folder fits its own post-processing on that folder's devel and leaves the
    first folder's alone; another model file of the run is refitted, not given the best's."""
    from emorec.experiments.demo import synthetic_recordings
    from tfrecords_tools.writer import write_recordings

    data, run = trained
    runner = CliRunner()
    first = ["evaluate", "--run-dir", str(run), "--data", str(data), "--out", str(tmp_path / "a")]
    assert runner.invoke(cli, first).exit_code == 0
    own = run / f"postprocess-{data.name}.json"
    fitted = json.loads(own.read_text())
    assert fitted["fitted_on"]["data_dir"] == str(data.resolve()) and fitted["fitted_on"]["partition"] == "devel"

    other = write_recordings(synthetic_recordings(recordings={"train": 1, "devel": 2, "test": 2}, duration_s=(2, 3),
                                                 seed=7), tmp_path / "other")
    result = runner.invoke(cli, ["evaluate", "--run-dir", str(run), "--data", str(other), "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    theirs = json.loads((run / "postprocess-other.json").read_text())
    assert theirs["fitted_on"]["data_dir"] == str(other.resolve())
    assert theirs["dimensions"] != fitted["dimensions"]  # other devel data, other parameters ...
    assert json.loads(own.read_text()) == fitted  # ... and the first folder's are untouched
    again = runner.invoke(cli, first[:-1] + [str(tmp_path / "a2")])
    assert json.loads((tmp_path / "a2" / "scores.json").read_text())["postprocessing"] == \
        {k: v for k, v in fitted.items() if k != "fitted_on"}
    # Another model of the run: refitted with that model, never the best's parameters reused.
    from emorec.evaluation import evaluate_run

    evaluate_run(run, data, "test", model_file="last.keras", output_dir=tmp_path / "last", plot=False, echo=None)
    assert json.loads(own.read_text())["fitted_on"]["model"] == str((run / "last.keras").resolve())


def test_evaluate_errors_name_the_problem(trained, tmp_path):
    data, _ = trained
    result = CliRunner().invoke(cli, ["evaluate", "--run-dir", str(tmp_path), "--data", str(data)])
    assert isinstance(result.exception, InputFileError) and "run.json" in str(result.exception)
