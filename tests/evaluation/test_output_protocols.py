"""Output protocols of `emorec evaluate` (`--pool recording`, `--output-statistics speaker`):
the functions against hand-computed values, and the CLI on a real run, its scores recomputed from
the files it writes and the training targets read straight from the TFRecords."""
import json

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from emorec.cli import cli
from emorec.data.schema import example_to_recording
from emorec.evaluation.ccc import ccc
from emorec.evaluation.outputs import output_protocol_name, pool_recordings, standardise_per_speaker

from tests.evaluation.test_evaluate import read_avec, read_gold


def test_pooling_gives_every_frame_its_recordings_mean():
    pooled = pool_recordings([np.array([[1.0, 0.0], [3.0, 4.0]]), np.array([[-2.0, 6.0]])])
    np.testing.assert_allclose(pooled[0], [[2.0, 2.0], [2.0, 2.0]])
    np.testing.assert_allclose(pooled[1], [[-2.0, 6.0]])


def test_speaker_standardisation_uses_all_of_a_speakers_frames_and_the_target_statistics():
    # Speaker a: frames 1, 3, 5 over two recordings (mean 3, population sd sqrt(8/3)); speaker b
    # does not move (its mean of 0.1s is not exactly 0.1 in binary: sd ~1e-17): centred only.
    # Targets: mean 0.5, sd 2.
    out = standardise_per_speaker([np.array([[1.0], [3.0]]), np.full((3, 1), 0.1), np.array([[5.0]])],
                                  ["a", "b", "a"], np.array([0.5]), np.array([2.0]))
    sd = np.sqrt(8 / 3)
    np.testing.assert_allclose(out[0][:, 0], [-2 / sd * 2 + 0.5, 0.5])
    np.testing.assert_allclose(out[1][:, 0], [0.5, 0.5, 0.5])
    np.testing.assert_allclose(out[2][:, 0], [2 / sd * 2 + 0.5])
    with pytest.raises(ValueError, match="2 recordings but 1 speaker ids"):
        standardise_per_speaker([np.zeros((1, 1))] * 2, ["a"], np.zeros(1), np.ones(1))


def test_protocol_names():
    assert output_protocol_name("frame", "none") == ""
    assert output_protocol_name("recording", "speaker") == "recording-mean-speaker-outputs"
    with pytest.raises(ValueError, match="pool must be one of"):
        output_protocol_name("utterance", "none")


def read_speakers(data, partition):
    files = [str(p) for p in sorted(data.glob(f"{partition}-*.tfrecord"))]
    return {r.name: r.speaker for r in (example_to_recording(s) for s in
                                        tf.data.TFRecordDataset(files).as_numpy_iterator())}


def test_evaluate_scores_recording_means_standardised_per_speaker(trained):
    data, run = trained
    plain = run / "evaluation" / f"{data.name}-test"
    before = (plain / "scores.json").read_text() if (plain / "scores.json").is_file() else None
    # The fixture's config turns post-processing on: asked for explicitly it is refused ...
    refused = CliRunner().invoke(cli, ["evaluate", "--run-dir", str(run), "--data", str(data), "--pool", "recording",
                                       "--postprocess"])
    assert refused.exit_code != 0 and "post-processing is fitted on frame outputs" in str(refused.exception)
    # ... and left out with a note when it is only the config's default.
    result = CliRunner().invoke(cli, ["evaluate", "--run-dir", str(run), "--data", str(data), "--no-plots",
                                      "--pool", "recording", "--output-statistics", "speaker"])
    assert result.exit_code == 0, result.output
    assert "no post-processing" in result.output and "test recording-mean-speaker-outputs" in result.output

    out = run / "evaluation" / f"{data.name}-test-recording-mean-speaker-outputs"
    scores = json.loads((out / "scores.json").read_text())
    assert scores["predictions"] == {"raw": "predictions_recording_mean_speaker_outputs", "postprocessed": None}
    assert scores["outputs"]["pool"] == "recording" and scores["outputs"]["output_statistics"] == "speaker"
    report = (out / "report.html").read_text()
    assert "predictions, recording means, standardised per speaker" in report and "raw predictions" not in report
    # The frame outputs' evaluation, if any, is not touched.
    assert before is None or (plain / "scores.json").read_text() == before

    train = np.concatenate(list(read_gold(data, "train").values()))
    np.testing.assert_allclose([scores["outputs"]["target_mean"][n] for n in ("arousal", "valence")],
                               train.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose([scores["outputs"]["target_sd"][n] for n in ("arousal", "valence")],
                               train.std(axis=0), atol=1e-5)

    gold, speakers = read_gold(data), read_speakers(data, "test")
    folder = out / "predictions_recording_mean_speaker_outputs"
    predictions = {name: read_avec(folder / f"{name}.csv", name) for name in gold}
    for values in predictions.values():  # one output per recording
        np.testing.assert_allclose(values, np.broadcast_to(values[0], values.shape), atol=1e-4)
    for speaker in set(speakers.values()):  # each speaker's outputs carry the training targets' mean
        frames = np.concatenate([predictions[n] for n in gold if speakers[n] == speaker])
        np.testing.assert_allclose(frames.mean(axis=0), train.mean(axis=0), atol=1e-3)
    names = sorted(gold)
    labels = np.concatenate([gold[n] for n in names])
    pred = np.concatenate([predictions[n] for n in names])
    for d, dimension in enumerate(["arousal", "valence"]):
        assert scores["ccc_raw"][dimension] == pytest.approx(ccc(labels[:, d], pred[:, d]), abs=1e-4)
