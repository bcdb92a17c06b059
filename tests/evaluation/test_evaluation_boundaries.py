"""Training and evaluation boundaries named apart: a model trained on given word
boundaries is evaluated on the features of its `evaluation_boundaries` (the paper: the segmenter,
the text discarded), read from `<data>/semantic/<source>-<boundaries>/`."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Optional

import pytest

from emorec.config import (SEGMENTER_ALGORITHM, ExperimentConfig, ModelConfig, SegmenterConfig, SemanticFeaturesConfig,
                           SemanticTrainingConfig)
from emorec.data.semantic_features import FEATURES_METADATA, semantic_features_dir
from emorec.errors import ConfigError, DatasetError
from emorec.evaluation.evaluate import _semantic_dir

DIM = 8


def fake_features(data_dir: Path, source: str, boundaries: str, segmenter: Optional[SegmenterConfig] = None) -> Path:
    """A complete features folder as far as resolving it goes (its metadata). Like the writer, it
    records the segmenter's settings (default: the defaults) for segmenter boundaries only."""
    folder = semantic_features_dir(data_dir, source, boundaries)
    folder.mkdir(parents=True)
    recorded = (segmenter or SegmenterConfig()).to_dict() if boundaries == "segmenter" else None
    (folder / FEATURES_METADATA).write_text(json.dumps(
        {"source": source, "boundaries": boundaries, "dim": DIM, "segmenter": recorded,
         "segmenter_algorithm": SEGMENTER_ALGORITHM if boundaries == "segmenter" else None, "complete": True,
         "partitions": {}}))
    return folder


def config(**semantic) -> ExperimentConfig:
    features = SemanticFeaturesConfig(source="speech2vec", dim=DIM, **semantic)
    return ExperimentConfig(model=ModelConfig(semantic_features=features))


def test_evaluation_reads_the_evaluation_boundaries_folder(tmp_path):
    given = fake_features(tmp_path, "speech2vec", "given")
    segmenter = fake_features(tmp_path, "speech2vec", "segmenter")
    # The run trained on the given-boundaries folder of this very data folder ...
    info = {"semantic_features": str(given), "data_dir": str(tmp_path)}
    trained_given = config(boundaries="given", evaluation_boundaries="segmenter")
    # ... and is still evaluated on the segmenter's features, not the run's own folder.
    assert _semantic_dir(info, trained_given, tmp_path, None, tmp_path / "run") == segmenter
    # Unset evaluation boundaries are the training ones (the run's own folder).
    assert _semantic_dir(info, config(boundaries="given"), tmp_path, None, tmp_path / "run") == given


def test_missing_evaluation_features_name_the_command(tmp_path):
    given = fake_features(tmp_path, "speech2vec", "given")
    info = {"semantic_features": str(given), "data_dir": str(tmp_path)}
    with pytest.raises(DatasetError) as error:
        _semantic_dir(info, config(boundaries="given", evaluation_boundaries="segmenter"), tmp_path, None,
                      tmp_path / "run")
    assert "speech2vec-segmenter" in str(error.value)
    assert "emorec semantic features" in str(error.value) and "--boundaries segmenter" in str(error.value)


def with_segmenter(experiment: ExperimentConfig, **settings) -> ExperimentConfig:
    return dataclasses.replace(experiment, semantic=SemanticTrainingConfig(segmenter=SegmenterConfig(**settings)))


def test_evaluation_refuses_segmenter_features_of_other_settings(tmp_path):
    """The paper's setting: trained on given boundaries, scored on the segmenter's features, which
    must be segmented as the run's config says (otherwise its scores are of other words)."""
    given = fake_features(tmp_path, "speech2vec", "given")
    segmenter = fake_features(tmp_path, "speech2vec", "segmenter", SegmenterConfig(threshold_db=20.0))
    info = {"semantic_features": str(given), "data_dir": str(tmp_path)}
    paper = config(boundaries="given", evaluation_boundaries="segmenter")
    with pytest.raises(ConfigError) as error:
        _semantic_dir(info, paper, tmp_path, None, tmp_path / "run")
    assert error.value.key == "semantic.segmenter"
    assert "threshold_db: config 30.0, features 20.0" in str(error.value) and str(segmenter) in str(error.value)
    assert str(tmp_path / "run" / "config.yaml") in str(error.value)  # whose config disagrees
    assert _semantic_dir(info, with_segmenter(paper, threshold_db=20.0), tmp_path, None, tmp_path / "run") == segmenter
    # Given boundaries at evaluation: no segmenter, so its settings do not matter.
    assert _semantic_dir(info, with_segmenter(config(boundaries="given"), threshold_db=40.0), tmp_path, None,
                         tmp_path / "run") == given


@pytest.mark.parametrize("revision", [None, SEGMENTER_ALGORITHM - 1])
def test_features_of_an_older_segmenter_are_refused_even_with_the_same_settings(tmp_path, revision):
    """Same settings, other algorithm: words (and so features) differ from what an export of the
    run would segment, so they are refused and the rewrite command named."""
    fake_features(tmp_path, "speech2vec", "given")
    segmenter = fake_features(tmp_path, "speech2vec", "segmenter")
    meta = json.loads((segmenter / FEATURES_METADATA).read_text())
    meta["segmenter_algorithm"] = revision
    (segmenter / FEATURES_METADATA).write_text(json.dumps(meta))
    with pytest.raises(ConfigError) as error:
        _semantic_dir({}, config(boundaries="given", evaluation_boundaries="segmenter"), tmp_path, None,
                      tmp_path / "run")
    assert error.value.key == "semantic.segmenter" and str(segmenter) in str(error.value)
    assert f"this emorec's (revision {SEGMENTER_ALGORITHM})" in str(error.value)
    assert "rewrite them with `emorec semantic features" in str(error.value)


def test_a_run_folder_names_the_folder_it_is_evaluated_on(tmp_path):
    """`evaluation_semantic_dir`: what `emorec export` deploys, from the run folder alone (its
    config and the data folder run.json records)."""
    from emorec.config import save_config
    from emorec.errors import InputFileError
    from emorec.evaluation.evaluate import evaluation_semantic_dir

    given = fake_features(tmp_path, "speech2vec", "given")
    segmenter = fake_features(tmp_path, "speech2vec", "segmenter")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"semantic_features": str(given), "data_dir": str(tmp_path)}))
    save_config(config(boundaries="given", evaluation_boundaries="segmenter"), run_dir / "config.yaml")
    assert evaluation_semantic_dir(run_dir) == segmenter
    save_config(config(boundaries="given"), run_dir / "config.yaml")
    assert evaluation_semantic_dir(run_dir) == given
    (run_dir / "run.json").write_text(json.dumps({"semantic_features": str(given)}))
    with pytest.raises(InputFileError, match="records no data_dir"):
        evaluation_semantic_dir(run_dir)


def test_model_selection_reads_the_evaluation_boundaries_folder_too(tmp_path):
    """An audio-only row (given boundaries in training, the segmenter's at evaluation) chooses its
    epoch on devel features of the segmenter's boundaries: the transcript never reaches model selection."""
    from emorec.training.train import _devel_semantic_dir

    given = fake_features(tmp_path, "speech2vec", "given")
    segmenter = fake_features(tmp_path, "speech2vec", "segmenter")
    paper = config(boundaries="given", evaluation_boundaries="segmenter")
    assert _devel_semantic_dir(paper, tmp_path, given) == segmenter.resolve()
    assert _devel_semantic_dir(config(boundaries="given"), tmp_path, given) == given
    assert _devel_semantic_dir(config(boundaries="given", evaluation_boundaries="given"), tmp_path, given) == given


def test_training_refuses_to_start_without_the_evaluation_boundaries_features(tmp_path):
    from emorec.training.train import _devel_semantic_dir

    given = fake_features(tmp_path, "speech2vec", "given")
    with pytest.raises(DatasetError, match="--boundaries segmenter"):
        _devel_semantic_dir(config(boundaries="given", evaluation_boundaries="segmenter"), tmp_path, given)
