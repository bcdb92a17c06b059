"""The semantic recipe in YAML: `semantic.word2vec|speech2vec|alignment|segmenter`
sections, read by `emorec semantic ... --config` with `--set` over them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from emorec.cli import cli
from emorec.config import (AlignmentConfig, ExperimentConfig, MfccConfig, SegmenterConfig, SemanticTrainingConfig,
                           Speech2VecConfig, Word2VecConfig, config_from_dict, load_config)
from emorec.errors import ConfigError

PAPER_CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "paper").glob("table*.yaml"))
SECTIONS = {"word2vec": Word2VecConfig, "speech2vec": Speech2VecConfig, "alignment": AlignmentConfig,
            "segmenter": SegmenterConfig}


def test_there_are_paper_configs():
    assert len(PAPER_CONFIGS) == 6  # else the parametrised test below could pass on nothing


@pytest.mark.parametrize("path", PAPER_CONFIGS, ids=lambda p: p.stem)
def test_paper_configs_hold_the_papers_semantic_recipe(path):
    config = load_config(path)
    for name, cls in SECTIONS.items():
        assert isinstance(getattr(config.semantic, name), cls)
    # The recipe is emorec's defaults, stated once (configs/paper/base.yaml says so), not per file.
    assert config.semantic == SemanticTrainingConfig()
    assert config.semantic.alignment.supervised is False  # the paper's method is unsupervised
    assert config.scored_partition == "devel"  # Tables 2 and 3 are development-set results
    features = config.model.semantic_features
    if features.source in ("speech2vec", "aligned_speech2vec"):
        # Text in training, discarded at evaluation (the paper).
        assert (features.boundaries, features.at_evaluation().boundaries) == ("given", "segmenter")
    dims = {"word2vec": config.semantic.word2vec.vector_size, "aligned_speech2vec": config.semantic.word2vec.vector_size,
            "speech2vec": config.semantic.speech2vec.dim}
    if features.source in dims:
        assert features.dim == dims[features.source]


def test_semantic_sections_are_checked_like_the_rest():
    with pytest.raises(ConfigError, match=r"semantic\.alignment\.adversarial_epochs"):
        config_from_dict({"semantic": {"alignment": {"adversarial_epochs": 0}}})
    with pytest.raises(ConfigError, match=r"semantic\.speech2vec\.mfcc\.num_coefficients"):
        config_from_dict({"semantic": {"speech2vec": {"mfcc": {"num_coefficients": 80}}}})
    with pytest.raises(ConfigError, match=r"semantic\.word2vec\.windw"):
        config_from_dict({"semantic": {"word2vec": {"windw": 3}}})
    with pytest.raises(ConfigError, match=r"model\.semantic_features\.evaluation_boundaries"):
        config_from_dict({"model": {"semantic_features": {"source": "word2vec", "evaluation_boundaries": "segmenter"}}})
    with pytest.raises(ConfigError, match=r"semantic\.segmenter\.smoothing_frames: expected an integer"):
        config_from_dict({"semantic": {"segmenter": {"smoothing_frames": 2.5}}})
    with pytest.raises(ConfigError, match=r"semantic\.segmenter\.treshold_db: unknown key"):
        config_from_dict({"semantic": {"segmenter": {"treshold_db": 20}}})


def test_the_segmenter_section_loads_from_yaml(tmp_path):
    path = tmp_path / "experiment.yaml"
    path.write_text("semantic:\n  segmenter:\n    threshold_db: 20\n    hop_s: 0.025\n    max_gap_s: 0\n"
                    "    smoothing_frames: 3\n", encoding="utf-8")
    segmenter = load_config(path).semantic.segmenter
    # The edges are allowed: a hop equal to the window, and no merging of runs at all.
    assert (segmenter.threshold_db, segmenter.hop_s, segmenter.max_gap_s, segmenter.smoothing_frames) == (20.0, 0.025,
                                                                                                         0.0, 3)
    assert isinstance(segmenter.threshold_db, float)
    assert (segmenter.window_s, segmenter.min_word_s, segmenter.max_word_s) == (0.025, 0.08, 0.6)  # not in the file


def test_segmenter_settings_built_in_python_are_checked_too():
    with pytest.raises(ConfigError, match=r"^SegmenterConfig: min_word_s: must be > 0, got 0$"):
        SegmenterConfig(min_word_s=0)


def test_the_semantic_modules_use_the_config_classes():
    # One home per hyper-parameter: the modules' names are the config's classes, not copies.
    from emorec.semantic import alignment, mfcc, segmenter, speech2vec

    assert segmenter.SegmenterConfig is SegmenterConfig
    assert alignment.AlignmentConfig is AlignmentConfig
    assert speech2vec.Speech2VecConfig is Speech2VecConfig
    assert mfcc.MfccConfig is MfccConfig
    assert ExperimentConfig().semantic == SemanticTrainingConfig()


def _vectors(tmp_path, runner):
    rng = np.random.default_rng(0)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    vocabulary = [f"w{i}" for i in range(30)]
    (corpus / "a.txt").write_text("\n\n".join(" ".join(rng.choice(vocabulary, size=10)) for _ in range(200)))
    config = tmp_path / "experiment.yaml"
    config.write_text("semantic:\n  word2vec:\n    vector_size: 6\n    min_count: 1\n    epochs: 1\n"
                      "  alignment:\n    adversarial_epochs: 3\n    iterations_per_epoch: 7\n")
    result = runner.invoke(cli, ["semantic", "word2vec", str(corpus), str(tmp_path / "w2v.bin"),
                                 "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["vector_size"] == 6 and report["settings"]["min_count"] == 1  # from the file
    return config


def test_set_reaches_the_alignment(tmp_path, monkeypatch):
    runner = CliRunner()
    config_path = _vectors(tmp_path, runner)
    seen = []

    def fake_align(source, target, config, **kwargs):  # the settings align() itself receives
        seen.append(config)
        return np.eye(source.shape[1], dtype=np.float32)

    monkeypatch.setattr("emorec.semantic.alignment.align", fake_align)
    vectors = str(tmp_path / "w2v.bin")
    result = runner.invoke(cli, ["semantic", "align", vectors, vectors, str(tmp_path / "W.npy"), "--config",
                                 str(config_path), "--set", "semantic.alignment.adversarial_epochs=1",
                                 "--set", "semantic.alignment.refinement_iterations=9",
                                 "--set", "semantic.alignment.refinement_iterations=2", "--json"])
    assert result.exit_code == 0, result.output
    (config,) = seen
    assert config.adversarial_epochs == 1  # --set over the file's 3
    assert config.iterations_per_epoch == 7  # the file over the default 1000
    assert config.refinement_iterations == 2  # the last --set of a key wins
    report = json.loads(result.output[result.output.index("{"):])
    assert report["settings"]["adversarial_epochs"] == 1


def test_a_bad_set_names_the_key(tmp_path):
    result = CliRunner().invoke(cli, ["semantic", "align", __file__, __file__, str(tmp_path / "W.npy"),
                                      "--set", "semantic.alignment.adversarial_epochz=1"])
    assert result.exit_code != 0
    assert "semantic.alignment.adversarial_epochz" in str(result.exception)
