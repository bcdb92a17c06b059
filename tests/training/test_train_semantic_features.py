"""Training refuses semantic features that its config does not describe, before anything is written."""
import dataclasses

import pytest

from emorec.config import SEGMENTER_ALGORITHM, SegmenterConfig, SemanticFeaturesConfig, SemanticTrainingConfig
from emorec.data.semantic_features import write_metadata
from emorec.errors import ConfigError
from emorec.training import train_model

DIM = 8


def segmenter_features(folder, segmenter: SegmenterConfig):
    """A complete segmenter-boundaries features folder as far as resolving it goes (its metadata)."""
    folder.mkdir(parents=True)
    write_metadata(folder, {"source": "speech2vec", "boundaries": "segmenter", "dim": DIM,
                            "segmenter": segmenter.to_dict(), "segmenter_algorithm": SEGMENTER_ALGORITHM,
                            "complete": True, "partitions": {}})
    return folder


def test_training_refuses_features_segmented_with_other_settings(tiny_run_data, tiny_experiment, tmp_path):
    features = segmenter_features(tmp_path / "features", SegmenterConfig(max_gap_s=0.1))
    experiment = tiny_experiment()
    experiment = dataclasses.replace(
        experiment, name="segmented",
        model=dataclasses.replace(experiment.model, semantic_features=SemanticFeaturesConfig(
            source="speech2vec", boundaries="segmenter", dim=DIM)),
        semantic=SemanticTrainingConfig(segmenter=SegmenterConfig(max_gap_s=0.02)))
    with pytest.raises(ConfigError) as error:
        train_model(experiment, tiny_run_data, tmp_path / "run", semantic_dir=features, verbose=0)
    assert error.value.key == "semantic.segmenter" and "config 'segmented'" in str(error.value)
    assert "max_gap_s: config 0.02, features 0.1" in str(error.value) and f"--out {features}" in str(error.value)
    assert not (tmp_path / "run").exists()
