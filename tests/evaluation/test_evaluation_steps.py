"""`evaluate_run`'s steps on their own: the plan (no model loaded) and the writing of given scores."""
import json

import numpy as np
import pytest

from emorec.errors import EmorecError, OutputExistsError
from emorec.evaluation import evaluate
from emorec.evaluation.evaluate import PartitionScores, default_output_dir, plan_evaluation, write_evaluation


def test_the_plan_settles_protocol_folder_and_post_processing_without_loading_the_model(trained, monkeypatch):
    data, run = trained

    def no_model(*args, **kwargs):
        raise AssertionError("planning loaded the model")

    monkeypatch.setattr(evaluate, "load_run_model", no_model)
    plan = plan_evaluation(run, data, "test", echo=None, overwrite=True)
    assert plan.output_dir == default_output_dir(run, data, "test") and plan.postprocess and plan.protocol == ""
    assert plan.folders == {"raw": "predictions_raw", "postprocessed": "predictions_postprocessed"}
    assert plan.label_names == ["arousal", "valence"] and plan.model_path == run / "best.keras"

    notes = []
    plan = plan_evaluation(run, data, "test", pool="recording", echo=notes.append, overwrite=True)
    assert plan.output_dir.name == f"{data.name}-test-recording-mean" and not plan.postprocess
    assert plan.folders == {"raw": "predictions_recording_mean", "postprocessed": None}
    assert notes == ["no post-processing: it is fitted on frame outputs, and these are scored as recording-mean"]
    with pytest.raises(EmorecError, match="post-processing is fitted on frame outputs"):
        plan_evaluation(run, data, "test", pool="recording", postprocess=True, echo=None)
    with pytest.raises(EmorecError, match="no semantic branch"):
        plan_evaluation(run, data, "test", boundaries="segmenter", echo=None)


def test_writing_given_scores_replaces_the_previous_evaluation(trained, tmp_path):
    data, run = trained
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "plots" / "stale.png").write_bytes(b"")
    with pytest.raises(OutputExistsError, match="holds an evaluation"):
        plan_evaluation(run, data, "test", output_dir=out, postprocess=False, echo=None)
    plan = plan_evaluation(run, data, "test", output_dir=out, postprocess=False, echo=None, overwrite=True)
    assert plan.existing == ["plots"]
    frames = np.linspace(-0.5, 0.5, 6)[:, None] * np.ones((1, 2))
    results = [{"name": "rec", "predictions": frames, "gold": frames, "mask": np.ones(6, np.float32)}]
    scores = {"arousal": 1.0, "valence": 1.0, "mean": 1.0}
    lines = []
    summary = write_evaluation(plan, PartitionScores(results, scores, None, None, None, None, {"test raw": scores}),
                               plot=False, report=False, echo=lines.append)
    assert not (out / "plots").exists() and not (out / "report.html").exists()
    assert json.loads((out / "scores.json").read_text()) == summary
    assert summary["recordings"] == 1 and summary["frames"] == 6 and summary["ccc_raw"] == scores
    assert (out / "predictions_raw" / "rec.csv").read_text().startswith("'rec';0.00;")
    assert lines[-1] == f"predictions (predictions_raw), scores.json in {out}"
