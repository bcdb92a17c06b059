"""Export of the paper's setting: trained on given word boundaries, evaluated on the transcript-free
segmenter's (`model.semantic_features.evaluation_boundaries: segmenter`). The deployed model must be the
evaluated one: audio only, words found by the segmenter of the run's config, no --words."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from scipy.io import wavfile

from emorec.constants import SAMPLE_RATE_HZ

from .conftest import LABEL_NAMES, speech_like
from .test_semantic_export import tiny_encoder

#: Shorter words than the defaults (0.6 s): the segmenter then cuts the test audio otherwise than
#: with its defaults, so only these settings reproduce the evaluated features.
SEGMENTER = {"max_word_s": 0.3, "min_word_s": 0.05}
#: Given word timings of every recording: deliberately unlike what the segmenter finds.
GIVEN_WORDS = [("eins", 0.05, 0.7), ("zwei", 0.8, 1.9)]
RECORDINGS = {"train": 2, "devel": 1, "test": 1}


def write_source(folder):
    """A manifest-layout source: 16-bit WAVs at 22 050 Hz, labels at 10 Hz, a word file each."""
    rows = []
    for partition, count in RECORDINGS.items():
        for index in range(count):
            name = f"{partition}{index}"
            seed = len(rows)
            audio = speech_like(2.2, SAMPLE_RATE_HZ, seed=seed)
            (folder / "audio").mkdir(parents=True, exist_ok=True)
            wavfile.write(folder / "audio" / f"{name}.wav", SAMPLE_RATE_HZ, np.round(audio * 32767).astype(np.int16))
            labels = np.random.default_rng(seed).uniform(-1, 1, (22, len(LABEL_NAMES)))
            with (folder / f"{name}.labels.csv").open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["time_s", *LABEL_NAMES])
                writer.writerows([f"{i / 10:.1f}", *(f"{v:.4f}" for v in row)] for i, row in enumerate(labels))
            with (folder / f"{name}.words.csv").open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["word", "start_s", "end_s"])
                writer.writerows(GIVEN_WORDS)
            rows.append({"audio": f"audio/{name}.wav", "labels": f"{name}.labels.csv", "words": f"{name}.words.csv",
                         "partition": partition, "speaker": "s1"})
    with (folder / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder / "manifest.csv"


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    """(root, converted folder, run folder, test WAV) of a run trained on given boundaries and
    evaluated (raw predictions written) on the segmenter's features."""
    from emorec.config import load_config
    from emorec.evaluation.evaluate import evaluate_run
    from emorec.semantic.features import add_semantic_features
    from emorec.training import train_model
    from tfrecords_tools import convert_dataset

    root = tmp_path_factory.mktemp("paper_run")
    data = root / "data"
    convert_dataset("manifest", write_source(root / "source"), data, progress=False)
    encoder = tiny_encoder(4)
    encoder.save(root / "artefacts" / "speech2vec")
    config_path = root / "config.yaml"
    config_path.write_text(yaml.safe_dump({
        "data": {"sequence_frames": 10, "hop_frames": 10, "batch_size": 2},
        "model": {"cnn": {"filters": [4, 6, 6]}, "lstm_units": 8,
                  "semantic_features": {"source": "speech2vec", "boundaries": "given",
                                        "evaluation_boundaries": "segmenter", "dim": encoder.dim,
                                        "artefacts_dir": str(root / "artefacts")}},
        "training": {"epochs": 1},
        "evaluation": {"postprocess": False},
        "semantic": {"segmenter": SEGMENTER},
    }))
    config = load_config(config_path)
    for boundaries in ("given", "segmenter"):
        add_semantic_features(data, "speech2vec", boundaries, root / "artefacts",
                              segmenter_config=config.semantic.segmenter)
    train_model(config, data, root / "run", verbose=0)
    summary = evaluate_run(root / "run", data, "test", plot=False, report=False, echo=None)
    assert summary["semantic_features"] == str(data / "semantic" / "speech2vec-segmenter")
    return root, data, root / "run", root / "source" / "audio" / "test0.wav"


@pytest.fixture(scope="module")
def paper_export(paper_run):
    """`emorec export --run-dir` of the paper run: its model folder."""
    from emorec.cli import cli

    root, _, run_dir, _ = paper_run
    result = CliRunner().invoke(cli, ["export", "--run-dir", str(run_dir), "--out", str(root / "exported")])
    assert result.exit_code == 0, result.output
    return root / "exported"


def evaluated_predictions(run_dir, data):
    from emorec.evaluation.report import read_avec_predictions

    path = run_dir / "evaluation" / f"{data.name}-test" / "predictions_raw" / "test0.csv"
    return read_avec_predictions(path, LABEL_NAMES)


@pytest.mark.slow
def test_the_test_audio_tells_the_segmenter_settings_apart(paper_run):
    """Without this, equal predictions below would not show which settings were used."""
    from emorec.data.audio import load_audio
    from emorec.semantic.segmenter import SegmenterConfig, segment_words

    *_, wav = paper_run
    audio = load_audio(wav)
    assert segment_words(audio, SegmenterConfig(**SEGMENTER)) != segment_words(audio, SegmenterConfig())
    assert segment_words(audio, SegmenterConfig(**SEGMENTER)) != [(start, end) for _, start, end in GIVEN_WORDS]


@pytest.mark.slow
def test_exported_model_predicts_from_audio_alone_as_evaluated(paper_run, paper_export):
    from emorec.cli import cli

    root, data, run_dir, wav = paper_run
    result = CliRunner().invoke(cli, ["predict", str(wav), "--model", str(paper_export),
                                      "--out", str(root / "predicted"), "--quiet"])
    assert result.exit_code == 0, result.output
    metadata = json.loads((paper_export / "1" / "assets.extra" / "emorec_export.json").read_text())
    assert metadata["semantic"]["boundaries"] == "segmenter"
    assert metadata["semantic"]["training_boundaries"] == "given"
    assert {key: metadata["semantic"]["segmenter"][key] for key in SEGMENTER} == SEGMENTER
    predicted = pd.read_csv(root / "predicted" / "test0.wav.csv")
    evaluated = evaluated_predictions(run_dir, data)
    assert len(predicted) == len(evaluated) == 22
    # To the last of the 6 decimals both CSVs write although the signature takes word times as
    # float32: the segmenter's times are whole samples, which float32 keeps, so the graph cuts the
    # samples evaluation's float64 times cut. Two paths' float32 sums may differ in the 8th digit
    # and round apart by one unit of the 6th (seen on an AVX2 EPYC), hence 1.5e-6. Other words move
    # the outputs by tenths (checked below).
    for name in LABEL_NAMES:
        np.testing.assert_allclose(predicted[name].to_numpy(), evaluated[name].to_numpy(), atol=1.5e-6, rtol=0)

    from emorec.data.audio import load_audio
    from emorec.export.predict import ExportedModel
    from emorec.semantic.segmenter import SegmenterConfig, segment_words

    default_words = segment_words(load_audio(wav), SegmenterConfig())
    with_defaults = ExportedModel(paper_export).predict_waveform(load_audio(wav), words=default_words)
    assert max(np.max(np.abs(with_defaults[name] - evaluated[name].to_numpy())) for name in LABEL_NAMES) > 1e-2


@pytest.mark.slow
def test_words_given_to_a_segmenter_export_replace_the_segmenter(paper_run, paper_export):
    """The graph takes word boundaries as inputs whatever the export's default: given words (the
    training condition of this run) are served as given, and the outputs then differ from the
    evaluated ones, which shows the comparison above can tell the features apart."""
    from emorec.cli import cli

    root, data, run_dir, wav = paper_run
    words = root / "words.csv"
    words.write_text("file,word,start_s,end_s\n" + "".join(f"test0,{w},{s},{e}\n" for w, s, e in GIVEN_WORDS))
    result = CliRunner().invoke(cli, ["predict", str(wav), "--model", str(paper_export), "--words", str(words),
                                      "--out", str(root / "with_words"), "--quiet"])
    assert result.exit_code == 0, result.output
    with_words = pd.read_csv(root / "with_words" / "test0.wav.csv")
    evaluated = evaluated_predictions(run_dir, data)
    assert max(np.max(np.abs(with_words[name].to_numpy() - evaluated[name].to_numpy())) for name in LABEL_NAMES) > 1e-2


@pytest.mark.slow
def test_a_run_evaluated_on_given_boundaries_still_needs_words(paper_run, tmp_path):
    """The same run with `evaluation_boundaries` unset trains and evaluates on given boundaries:
    its export serves given words and `predict` without --words is refused."""
    from emorec.cli import cli

    root, data, run_dir, wav = paper_run
    given_run = tmp_path / "run"
    shutil.copytree(run_dir, given_run)
    config = yaml.safe_load((given_run / "config.yaml").read_text())
    config["model"]["semantic_features"]["evaluation_boundaries"] = None
    (given_run / "config.yaml").write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(cli, ["export", "--run-dir", str(given_run), "--out", str(tmp_path / "exported")])
    assert result.exit_code == 0, result.output
    metadata = json.loads((tmp_path / "exported" / "1" / "assets.extra" / "emorec_export.json").read_text())
    assert metadata["semantic"]["boundaries"] == "given" and metadata["semantic"]["segmenter"] is None
    result = CliRunner().invoke(cli, ["predict", str(wav), "--model", str(tmp_path / "exported"),
                                      "--out", str(tmp_path / "predicted"), "--quiet"])
    assert result.exit_code != 0 and "given word boundaries" in result.output


def fake_run(tmp_path, **semantic):
    """A run folder as far as choosing its front end goes: run.json, config.yaml and the given
    features folder it trained on (metadata only)."""
    from emorec.data.semantic_features import write_metadata

    data = tmp_path / "data"
    given = data / "semantic" / "speech2vec-given"
    given.mkdir(parents=True)
    write_metadata(given, {"source": "speech2vec", "boundaries": "given", "dim": 5, "segmenter": None,
                           "artefacts_dir": str(tmp_path / "artefacts"), "complete": True, "partitions": {}})
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"label_names": list(LABEL_NAMES), "data_dir": str(data),
                                                  "semantic_dim": 5, "semantic_features": str(given)}))
    (run_dir / "config.yaml").write_text(yaml.safe_dump(
        {"model": {"semantic_features": {"source": "speech2vec", "dim": 5, **semantic}}}))
    return run_dir, data


def test_export_without_the_evaluation_features_names_the_command(tmp_path):
    """The segmenter's settings and artefacts come from the features the run was scored on: when
    they are missing, the export says how to write them rather than falling back to given words."""
    from emorec.errors import DatasetError
    from emorec.export.saved_model import run_semantic_front_end

    run_dir, data = fake_run(tmp_path, boundaries="given", evaluation_boundaries="segmenter")
    with pytest.raises(DatasetError) as error:
        run_semantic_front_end(run_dir)
    assert str(data / "semantic" / "speech2vec-segmenter") in str(error.value)
    assert "emorec semantic features" in str(error.value) and "--boundaries segmenter" in str(error.value)


def test_export_refuses_evaluation_features_segmented_otherwise(tmp_path):
    """As evaluation does: features segmented with other settings than the run's config were not
    what its config describes, so neither is deployed."""
    from emorec.data.semantic_features import write_metadata
    from emorec.errors import ConfigError
    from emorec.export.saved_model import run_semantic_front_end

    run_dir, data = fake_run(tmp_path, boundaries="given", evaluation_boundaries="segmenter")
    segmenter = data / "semantic" / "speech2vec-segmenter"
    segmenter.mkdir()
    write_metadata(segmenter, {"source": "speech2vec", "boundaries": "segmenter", "dim": 5,
                               "segmenter": {"threshold_db": 20.0}, "artefacts_dir": str(tmp_path / "artefacts"),
                               "complete": True, "partitions": {}})
    with pytest.raises(ConfigError) as error:
        run_semantic_front_end(run_dir)
    assert error.value.key == "semantic.segmenter" and str(run_dir / "config.yaml") in str(error.value)


@pytest.mark.slow
def test_evaluate_with_the_transcripts_boundaries_scores_the_same_run_apart(paper_run):
    """`emorec evaluate --boundaries given`: the matched protocol beside the paper's, same model,
    its own output folder, the run's segmenter scores left as they were."""
    from emorec.cli import cli
    from emorec.evaluation.report import read_avec_predictions

    _, data, run_dir, _ = paper_run
    own = run_dir / "evaluation" / f"{data.name}-test"
    before = (own / "scores.json").read_text()
    result = CliRunner().invoke(cli, ["evaluate", "--run-dir", str(run_dir), "--data", str(data), "--partition",
                                      "test", "--boundaries", "given", "--no-plots"])
    assert result.exit_code == 0, result.output
    given = run_dir / "evaluation" / f"{data.name}-test-given-boundaries"
    scores = json.loads((given / "scores.json").read_text())
    assert scores["semantic_features"] == str(data / "semantic" / "speech2vec-given")
    assert (own / "scores.json").read_text() == before
    with_words = read_avec_predictions(given / "predictions_raw" / "test0.csv", LABEL_NAMES)
    segmented = evaluated_predictions(run_dir, data)
    assert not np.allclose(with_words["arousal"], segmented["arousal"], atol=1e-4)  # other features, other outputs
    refused = CliRunner().invoke(cli, ["evaluate", "--run-dir", str(run_dir), "--data", str(data), "--partition",
                                       "test", "--boundaries", "given", "--postprocess", "--overwrite"])
    assert refused.exit_code != 0  # main() prints an EmorecError as one line; CliRunner keeps the exception
    assert "post-processing is fitted with the run's own evaluation boundaries" in str(refused.exception)
