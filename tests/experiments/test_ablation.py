"""Semantic features in training and evaluation, and the ablation table, on tiny real TFRecords
whose semantic feature shards are written by `emorec.semantic.features` from a real Word2Vec."""
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml
from click.testing import CliRunner

from emorec.cli import cli
from emorec.config import (CNNConfig, DataConfig, ExperimentConfig, FusionConfig, ModelConfig, SemanticFeaturesConfig,
                           TrainingConfig, config_to_dict)
from emorec.data.pipeline import make_dataset, recordings_for_prediction
from emorec.data.semantic_features import read_semantic_features, resolve_semantic_features
from emorec.experiments.demo import synthetic_recordings
from tfrecords_tools.writer import write_recordings
from emorec.errors import ConfigError, DatasetError, EmorecError
from emorec.semantic.features import add_semantic_features
from emorec.semantic.word2vec import save_keyed_vectors, train_word2vec
from emorec.config import apply_overrides
from emorec.experiments.ablation import run_ablation

VOCABULARY = ["heute", "morgen", "ja", "nein", "haus", "tisch"]
SEMANTIC_DIM = 8


def with_words(recording, rng):
    """Words of 0.3-0.6 s with pauses, so that some frames have no word (zeros)."""
    words, starts, ends, t = [], [], [], 0.1
    duration_s = recording.num_frames / 10
    while t + 0.3 < duration_s:
        length = float(rng.uniform(0.3, 0.6))
        words.append(str(rng.choice(VOCABULARY)))
        starts.append(t)
        ends.append(min(t + length, duration_s))
        t += length + float(rng.uniform(0.1, 0.4))
    return dataclasses.replace(recording, words=words, word_start_s=starts, word_end_s=ends)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Converted folder (train 4, devel 2, test 2 recordings of 2-3 s, with words) and its
    word2vec-given semantic features."""
    rng = np.random.default_rng(0)
    recordings = [with_words(r, rng) for r in synthetic_recordings(
        recordings={"train": 4, "devel": 2, "test": 2}, duration_s=(2, 3), seed=5)]
    root = tmp_path_factory.mktemp("semantic_data")
    folder = write_recordings(recordings, root / "converted")
    vectors = train_word2vec([r.words for r in recordings if r.partition == "train"], vector_size=SEMANTIC_DIM,
                             min_count=1, epochs=5, seed=0)
    save_keyed_vectors(vectors, root / "artefacts" / "word2vec.bin")
    add_semantic_features(folder, "word2vec", "given", root / "artefacts")
    return folder


def semantic_config(**model) -> SemanticFeaturesConfig:
    return SemanticFeaturesConfig(source="word2vec", boundaries="given", dim=SEMANTIC_DIM, **model)


def tiny_experiment(paralinguistic=True, semantic=True, fusion="attention", **training) -> ExperimentConfig:
    values = dict(epochs=1, steps_per_epoch=2, learning_rate=1e-2, seed=0)
    values.update(training)
    return ExperimentConfig(
        name="tiny",
        data=DataConfig(sequence_frames=10, hop_frames=10, batch_size=4, shuffle_buffer=8),
        model=ModelConfig(paralinguistic=paralinguistic, cnn=CNNConfig(filters=(4, 4, 4), dropout=0.0),
                          semantic_features=semantic_config() if semantic else SemanticFeaturesConfig(),
                          fusion=FusionConfig(kind=fusion, projection_units=8), lstm_units=4, lstm_dropout=0.0),
        training=TrainingConfig(**values),
    )


def test_windows_carry_the_semantic_features_of_their_recording(data):
    folder, dim = resolve_semantic_features(data, semantic_config())
    assert dim == SEMANTIC_DIM
    reference = read_semantic_features(folder)  # numpy reader, independent of the tf.data join
    dataset = make_dataset(data, "devel", DataConfig(sequence_frames=10, hop_frames=10, batch_size=64),
                           training=False, semantic_dir=folder)
    inputs, _ = next(iter(dataset))
    semantic = inputs["semantic"].numpy()
    assert semantic.shape[1:] == (10, SEMANTIC_DIM)
    # Window order = recording order: rebuild the expected windows from whole recordings.
    whole = next(iter(recordings_for_prediction(data, "devel", batch_recordings=8, semantic_dir=folder)))
    names = [n.decode() for n in whole["name"].numpy()]
    row = 0
    for i, name in enumerate(names):
        frames = int(whole["num_frames"][i])
        np.testing.assert_array_equal(whole["semantic"].numpy()[i, :frames], reference[name])
        padded = np.zeros((-(-frames // 10) * 10, SEMANTIC_DIM), np.float32)
        padded[:frames] = reference[name]
        for start in range(0, frames, 10):
            np.testing.assert_array_equal(semantic[row], padded[start:start + 10])
            row += 1
    assert row == semantic.shape[0]
    # Frames without a word are zeros, and real vectors are not.
    assert (np.abs(semantic).sum(-1) == 0).any() and (np.abs(semantic).sum(-1) > 0).any()


def test_feature_shards_out_of_step_with_the_recordings_fail_loudly(data, tmp_path):
    folder, _ = resolve_semantic_features(data, semantic_config())
    copy = tmp_path / "reordered"
    shutil.copytree(folder, copy)
    shard = copy / "devel-00000-of-00001.tfrecord"
    records = list(tf.data.TFRecordDataset(str(shard)).as_numpy_iterator())
    with tf.io.TFRecordWriter(str(shard)) as writer:
        for record in reversed(records):
            writer.write(record)
    dataset = make_dataset(data, "devel", DataConfig(sequence_frames=10, hop_frames=10), training=False,
                           semantic_dir=copy)
    with pytest.raises(tf.errors.InvalidArgumentError, match="out of step"):
        list(dataset)


def test_missing_or_mismatched_features_are_clear_errors(data, tmp_path):
    with pytest.raises(DatasetError, match="emorec semantic features"):
        resolve_semantic_features(data, SemanticFeaturesConfig(source="speech2vec", dim=SEMANTIC_DIM))
    with pytest.raises(ConfigError, match="model.semantic_features.dim"):
        resolve_semantic_features(data, SemanticFeaturesConfig(source="word2vec", dim=100))
    assert resolve_semantic_features(data, SemanticFeaturesConfig()) is None


def test_overrides_are_validated_like_a_config_file():
    # speech2vec: word2vec features cannot have segmenter boundaries (they look up the transcript).
    config = apply_overrides(tiny_experiment(), ["training.learning_rate=5e-4", "data.batch_size=8",
                                                 "model.semantic_features.source=speech2vec",
                                                 "model.semantic_features.boundaries=segmenter"])
    assert config.training.learning_rate == 5e-4 and config.data.batch_size == 8
    assert config.model.semantic_features.boundaries == "segmenter"
    with pytest.raises(ConfigError, match="training.learning_rat"):
        apply_overrides(config, ["training.learning_rat=1"])
    with pytest.raises(ConfigError, match="model.fusion.kind"):
        apply_overrides(config, ["model.fusion.kind=sum"])


@pytest.mark.slow
def test_ablation_trains_evaluates_and_writes_one_row_per_config(data, tmp_path):
    """Two configs through `emorec ablation`: the full model (attention fusion) and the semantic
    branch alone, trained a step each on the tiny TFRecords with their semantic feature shards."""
    configs = []
    for name, experiment in [("attention", tiny_experiment(fusion="attention")),
                             ("semantic_only", tiny_experiment(paralinguistic=False))]:
        path = tmp_path / "configs" / f"{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(config_to_dict(dataclasses.replace(experiment, name=name))))
        configs.append(path)
    runs = tmp_path / "runs"
    out = tmp_path / "table.md"
    result = CliRunner().invoke(cli, ["ablation", "--configs", str(tmp_path / "configs" / "*.yaml"), "--data", str(data),
                                      "--runs", str(runs), "--epochs", "1", "--set", "training.steps_per_epoch=1",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output

    # The runs read the semantic shards in training and in evaluation.
    for name in ("attention", "semantic_only"):
        info = json.loads((runs / name / "run.json").read_text())
        assert info["semantic_dim"] == SEMANTIC_DIM
        assert info["semantic_features"].endswith("semantic/word2vec-given")
        # Evaluations are keyed by data folder and partition.
        scores = json.loads((runs / name / "evaluation" / f"{Path(data).name}-test" / "scores.json").read_text())
        assert scores["recordings"] == 2 and scores["semantic_features"] == info["semantic_features"]
        assert np.isfinite(float(np.genfromtxt(runs / name / "history.csv", delimiter=",", names=True)["loss"]))

    table = out.read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| config")]
    assert [row.split(" | ")[0][2:] for row in rows] == ["attention", "semantic_only"]
    header = next(line for line in table.splitlines() if line.startswith("| config"))
    assert header.split(" | ")[4:7] == ["arousal", "valence", "mean"]
    recorded = json.loads((runs / "ablation.json").read_text())["rows"]
    for row, line in zip(recorded, rows):
        evaluation = runs / row["name"] / "evaluation" / f"{Path(data).name}-test"
        scores = json.loads((evaluation / "scores.json").read_text())["ccc_raw"]
        cells = line.strip("| ").split(" | ")
        assert cells[4:7] == [f"{scores[k]:.3f}" if scores[k] == scores[k] else "n/a"
                              for k in ("arousal", "valence", "mean")]
    assert rows[0].split(" | ")[1:4] == ["Word2Vec (text), given boundaries", "yes",
                                         "disentangled attention (d_u 8, heads linear 8, order paper)"]
    assert rows[1].split(" | ")[1:4] == ["Word2Vec (text), given boundaries", "-", "-"]
    assert "semantic/word2vec-given" in table

    # Rerun: a finished run is scored again, not retrained; another config in its folder is refused.
    mtime = (runs / "semantic_only" / "last.keras").stat().st_mtime
    again = run_ablation(configs[1:], data, runs, epochs=1, overrides=["training.steps_per_epoch=1"], echo=None)
    assert again.splitlines()[-3] == rows[1]
    assert (runs / "semantic_only" / "last.keras").stat().st_mtime == mtime
    with pytest.raises(EmorecError, match="another config"):
        run_ablation(configs[1:], data, runs, epochs=2, overrides=["training.steps_per_epoch=1"], echo=None)

    # Missing semantic features of any config stop the table before anything is trained.
    with pytest.raises(DatasetError, match="speech2vec-given"):
        run_ablation(configs, data, tmp_path / "other_runs", overrides=["model.semantic_features.source=speech2vec"],
                     echo=None)
    assert not (tmp_path / "other_runs").exists()
