"""Configs that inherit: a `base:` key overlays one YAML file on another, merged before every
check, and the shipped configs are small overlays whose merged values are the recipes'."""
from pathlib import Path

import pytest

from emorec.config import apply_overrides, load_config
from emorec.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_overlay_is_merged_onto_its_base(tmp_path):
    write(tmp_path, "base.yaml", "name: base\ntraining: {epochs: 3, learning_rate: 0.001}\n"
                                 "model: {cnn: {filters: [8, 8, 8], dropout: 0.25}, lstm_units: 16}\n")
    overlay = write(tmp_path, "run.yaml", "base: base.yaml\nname: run\ntraining: {epochs: 4}\n"
                                          "model: {cnn: {filters: [4, 5, 6]}}\n")
    config = load_config(overlay)
    assert config.name == "run"
    assert (config.training.epochs, config.training.learning_rate) == (4, 0.001)  # mappings merge
    assert config.model.cnn.filters == (4, 5, 6)  # a list replaces the base's whole
    assert (config.model.cnn.dropout, config.model.lstm_units) == (0.25, 16)
    assert config.model.cnn.kernel_sizes == (8, 6, 6)  # set in neither file: the default


def test_a_base_can_have_a_base(tmp_path):
    write(tmp_path, "common/root.yaml", "training: {epochs: 2, seed: 7}\ndata: {batch_size: 4}\n")
    write(tmp_path, "common/middle.yaml", "base: root.yaml\ntraining: {epochs: 5}\n")  # relative to its folder
    top = write(tmp_path, "runs/top.yaml", "base: ../common/middle.yaml\ndata: {batch_size: 6}\n")
    config = load_config(top)
    assert (config.training.epochs, config.training.seed, config.data.batch_size) == (5, 7, 6)


def test_a_null_overlay_value_replaces_the_base_value(tmp_path):
    write(tmp_path, "base.yaml", "data: {devel_partition: dev}\n")
    config = load_config(write(tmp_path, "run.yaml", "base: base.yaml\ndata: {devel_partition: null}\n"))
    assert config.data.devel_partition is None


def test_set_overrides_apply_on_top_of_the_merged_config(tmp_path):
    write(tmp_path, "base.yaml", "training: {epochs: 3, learning_rate: 0.001}\n")
    overlay = write(tmp_path, "run.yaml", "base: base.yaml\ntraining: {epochs: 4}\n")
    config = apply_overrides(load_config(overlay), ["training.epochs=9"])
    assert (config.training.epochs, config.training.learning_rate) == (9, 0.001)


def test_a_cycle_is_an_error_naming_the_files(tmp_path):
    first = write(tmp_path, "a.yaml", "base: b.yaml\n")
    write(tmp_path, "b.yaml", "base: a.yaml\n")
    with pytest.raises(ConfigError, match="circle") as info:
        load_config(first)
    message = str(info.value)
    assert str(tmp_path / "a.yaml") in message and str(tmp_path / "b.yaml") in message
    assert len(message.splitlines()) == 1


def test_a_file_that_is_its_own_base_is_a_cycle(tmp_path):
    with pytest.raises(ConfigError, match="circle"):
        load_config(write(tmp_path, "self.yaml", "base: ./self.yaml\n"))


def test_a_missing_base_is_one_line_naming_the_file(tmp_path):
    overlay = write(tmp_path, "run.yaml", "base: nowhere/base.yaml\ntraining: {epochs: 4}\n")
    with pytest.raises(ConfigError) as info:
        load_config(overlay)
    assert str(info.value) == f"{overlay}: base: {tmp_path / 'nowhere' / 'base.yaml'}: base config file not found"


@pytest.mark.parametrize("value", ["[a.yaml, b.yaml]", "3", "''"])
def test_base_must_name_one_file(tmp_path, value):
    with pytest.raises(ConfigError, match=r": base: expected the path of a YAML file"):
        load_config(write(tmp_path, "run.yaml", f"base: {value}\n"))


def test_every_check_applies_to_the_merged_config(tmp_path):
    write(tmp_path, "base.yaml", "training: {epochs: 3}\nsemantic: {segmenter: {window_s: 0.02}}\n")
    # A bad value in the overlay: the error names the overlay and the key.
    overlay = write(tmp_path, "run.yaml", "base: base.yaml\ntraining: {epochs: 0}\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: training\.epochs: must be >= 1"):
        load_config(overlay)
    # A check across fields whose values come from two files: hop_s above the base's window_s.
    overlay = write(tmp_path, "run.yaml", "base: base.yaml\nsemantic: {segmenter: {hop_s: 0.03}}\n")
    with pytest.raises(ConfigError, match=r"semantic\.segmenter\.hop_s: must be <= window_s \(0\.02\)"):
        load_config(overlay)
    # An unknown key in the base: the error names the base (where it is fixed) and the overlay.
    base = write(tmp_path, "base.yaml", "training: {epochz: 3}\n")
    overlay = write(tmp_path, "run.yaml", "base: base.yaml\nname: run\n")
    with pytest.raises(ConfigError) as info:
        load_config(overlay)
    assert str(info.value).startswith(f"{base} (base of {overlay}): training.epochz: unknown key")


def test_a_base_is_parsed_as_strictly_as_any_config(tmp_path):
    write(tmp_path, "base.yaml", "training: &t {epochs: 3}\nevaluation: *t\n")
    with pytest.raises(ConfigError, match="anchors and aliases"):
        load_config(write(tmp_path, "run.yaml", "base: base.yaml\n"))
    write(tmp_path, "base.yaml", "- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_config(write(tmp_path, "run.yaml", "base: base.yaml\n"))


# The shipped overlays, with values written out here (not computed by the loader under test).
PAPER = REPO_ROOT / "configs" / "paper"


@pytest.mark.parametrize("stem, paralinguistic, source, evaluation_boundaries, fusion", [
    ("table2_paralinguistic", True, "none", None, "concat"),
    ("table2_word2vec", False, "word2vec", "given", "concat"),
    ("table2_speech2vec", False, "speech2vec", "segmenter", "concat"),
    ("table2_aligned_speech2vec", False, "aligned_speech2vec", "segmenter", "concat"),
    ("table3_concatenation", True, "aligned_speech2vec", "segmenter", "concat"),
    ("table3_attention", True, "aligned_speech2vec", "segmenter", "attention"),
])
def test_paper_overlays_load_the_papers_rows(stem, paralinguistic, source, evaluation_boundaries, fusion):
    config = load_config(PAPER / f"{stem}.yaml")
    assert config.name == stem
    model = config.model
    assert (model.paralinguistic, model.semantic_features.source, model.semantic_features.boundaries,
            model.semantic_features.evaluation_boundaries, model.fusion.kind) == (
        paralinguistic, source, "given", evaluation_boundaries, fusion)
    # From configs/paper/base.yaml:
    assert (config.training.precision, config.evaluation.partition, config.evaluation.plot_recordings) == (
        "float32", "devel", 0)
    # The paper's settings, emorec's defaults:
    assert (config.data.sequence_frames, config.data.batch_size, config.training.learning_rate,
            config.training.epochs, config.model.cnn.filters, config.model.lstm_units) == (
        100, 25, 0.0001, 50, (50, 125, 125), 256)
    assert (config.semantic.alignment.adversarial_epochs, config.semantic.segmenter.threshold_db) == (4, 30.0)
    assert config.model.fusion.projection_units == 1024


def test_paper_overlays_are_small():
    import yaml

    for path in sorted(PAPER.glob("table*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert raw["base"] == "base.yaml", path
        assert set(raw) <= {"base", "name", "description", "model"}, path  # the rest is the base's


def test_emodb_overlays_load_their_recipes():
    split = load_config(REPO_ROOT / "configs" / "emodb_paralinguistic.yaml")
    assert (split.data.batch_size, split.data.normalisation.kind, split.data.augmentation.enabled) == (
        8, "causal", True)
    assert (split.training.epochs, split.training.early_stopping_patience, split.training.lr_schedule.kind,
            split.training.lr_schedule.patience, split.training.learning_rate) == (60, 10, "reduce_on_plateau", 4,
                                                                                   0.0005)
    shipped = load_config(REPO_ROOT / "configs" / "emodb_paralinguistic_all.yaml")
    assert (shipped.name, shipped.data.devel_partition, shipped.data.batch_size, shipped.data.normalisation.kind) == (
        "emodb_paralinguistic_all", None, 8, "causal")
    assert (shipped.training.epochs, shipped.training.early_stopping_patience, shipped.training.lr_schedule.kind,
            shipped.training.lr_schedule.patience, shipped.training.lr_schedule.min_learning_rate,
            shipped.training.learning_rate, shipped.training.precision) == (10, None, "constant", 3, 1e-6, 0.0005,
                                                                            "float32")
    assert shipped.evaluation.postprocess is True
    cross = load_config(REPO_ROOT / "configs" / "cross_corpus" / "paralinguistic.yaml")
    assert (cross.name, cross.data.devel_partition, cross.data.augmentation.enabled) == (
        "cross_corpus_paralinguistic", "devel", True)
    assert (cross.training.epochs, cross.training.early_stopping_patience, cross.training.lr_schedule.kind,
            cross.training.precision, cross.evaluation.postprocess) == (10, 4, "constant", "auto", False)
