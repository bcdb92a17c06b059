"""benchmarks/accuracy_emodb.py: session predictions are cut back into utterances exactly, a frame
mismatch between the two converted folders stops the run, the table renders every protocol, and
every trained system is a recipe of configs/emodb/ that loads and that the results file names."""

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import accuracy_emodb as bench
from emorec.config import apply_overrides, config_to_dict, load_config
from emorec.evaluation.report import write_avec_predictions

REPO_ROOT = Path(__file__).resolve().parents[2]

LABELS = ["arousal", "valence", "dominance"]


def write_session(tmp_path, predictions):
    folder = tmp_path / "eval"
    write_avec_predictions(folder / "predictions_raw" / "15_session00.csv", "15_session00", predictions, LABELS)
    scores = tmp_path / "scores.json"
    scores.write_text('{"output_dir": "%s", "predictions": {"raw": "predictions_raw"}}' % folder)
    return scores


def utterances(frames):
    return {"15_session00": [bench.Utterance(f"u{i}", "anger", np.zeros(3), n) for i, n in enumerate(frames)]}


def test_session_predictions_are_split_at_the_utterance_boundaries(tmp_path):
    predictions = np.concatenate([np.full((3, 3), 1.0), np.full((2, 3), -1.0), np.arange(12.0).reshape(4, 3)])
    out = bench.utterance_predictions(write_session(tmp_path, predictions), LABELS, utterances([3, 2, 4]))
    np.testing.assert_allclose(out["u0"], [1, 1, 1])
    np.testing.assert_allclose(out["u1"], [-1, -1, -1])
    np.testing.assert_allclose(out["u2"], predictions[5:].mean(axis=0))


def test_a_frame_count_unlike_the_utterance_folder_stops_the_run(tmp_path):
    with pytest.raises(SystemExit, match="do not hold the same frames"):
        bench.utterance_predictions(write_session(tmp_path, np.zeros((9, 3))), LABELS, utterances([3, 2, 5]))


def test_category_means_and_markdown_name_each_protocol():
    predictions = {"a": np.array([0, 0.5, 0]), "b": np.array([0, -0.5, 0]), "c": np.array([0, 0.1, 0])}
    categories = {"a": "happiness", "b": "anger", "c": "happiness"}
    assert bench.by_category(predictions, categories, 1) == {"anger": -0.5, "happiness": 0.3}
    scores = {n: 0.5 for n in LABELS}
    model = {
        "system": "causal", "name": "model", "kind": "model", "normalisation": "causal", "speaker_statistics": False, "seeds": [42, 43],
        "epochs": 12, "test_ccc": scores, "test_ccc_sd": {n: 0.01 for n in LABELS}, "test_ccc_mean": 0.5,
        "test_ccc_mean_sd": 0.01, "per_utterance_test_ccc_mean": 0.49,
        "test_ccc_postprocessed": {**scores, "mean": 0.6}, "test_ccc_postprocessed_sd": {n: 0.02 for n in [*LABELS, "mean"]},
        "runs": {"42": {"epochs_trained": 12, "best_epoch": 9, "training_wall_s": 600},
                 "43": {"epochs_trained": 12, "best_epoch": 11, "training_wall_s": 660}},
        "valence_by_category": {"anger": -0.5, "happiness": 0.3}, "devel_ccc_mean": 0.4,
        "command": "python -m benchmarks.accuracy_emodb --systems causal", "cli_commands": ["emorec train", "emorec evaluate"],
    }
    baseline = {
        "system": "baseline", "name": "baseline", "kind": "baseline", "speaker_statistics": True,
        "refit_on_devel": False, "seeds": [], "test_ccc": scores, "test_ccc_sd": {n: 0.0 for n in LABELS},
        "test_ccc_mean": 0.5, "per_utterance_test_ccc_mean": 0.5, "valence_by_category": {"anger": 0, "happiness": 0.1},
        "command": "python -m benchmarks.accuracy_emodb --systems baseline", "baseline_command": "python b.py",
        "wall_s_this_invocation": 15,
    }
    assert bench.best_model([model, baseline]) is model
    # Chosen by devel within one protocol: a better model that needs speaker statistics is not the headline.
    speaker_model = {**model, "name": "speaker model", "speaker_statistics": True, "devel_ccc_mean": 0.9}
    assert bench.best_model([model, speaker_model, baseline]) is model
    assert bench.best_model([model, speaker_model], speaker_statistics=True) is speaker_model
    assert bench.happiness_above({"anger": 0.2, "fear": -0.1, "happiness": 0.1}) == {"anger": False, "fear": True}
    result = {"label_names": LABELS, "systems": [baseline, model], "command": "python -m benchmarks.accuracy_emodb",
              "machine": "2 CPU cores", "best_model": "model", "valence_targets": {"anger": -0.6, "happiness": 0.9},
              "happiness_valence_above": {"anger": True}, "wall_s": 60}
    table = bench.markdown(result)
    assert "| model | no speaker statistics, scored on sessions, trained on train, 2 seeds (42, 43), budget 12 " \
           "epochs" in table
    assert "0.500 ± 0.010" in table and "| baseline | speaker statistics, scored per utterance, trained on train" in table
    # Without speaker statistics first, so each group compares like with like.
    assert table.index("| model |") < table.index("| baseline |")


def test_models_scored_as_the_baseline_is_are_a_protocol_of_their_own():
    model = {"name": "m", "kind": "model", "speaker_statistics": False, "scored_on": "sessions", "devel_ccc_mean": 0.6,
             "test_ccc_mean": 0.5, "valence_by_category": {"anger": -0.5, "happiness": 0.3}}
    per_utterance = {**model, "name": "u", "scored_on": "utterances", "devel_ccc_mean": 0.4,
                     "valence_by_category": {"anger": 0.4, "happiness": 0.3}}
    # Devel scores of two protocols are not compared: each group has its best.
    assert bench.best_model([model, per_utterance]) is model
    assert bench.best_model([model, per_utterance], scored_on="utterances") is per_utterance
    bests = bench.best_models([model, per_utterance])
    assert [b["name"] for b in bests] == ["u", "m"]  # the baseline's scoring first: the headline
    assert bests[0]["happiness_valence_above"] == {"anger": False}
    # Every model system scored per utterance reuses a trained system's runs and pools recordings.
    derived = [s for s in bench.MODEL_SYSTEMS.values() if s.scored_on == "utterances"]
    assert derived and all(s.trained in TRAINED and s.pool == "recording" for s in derived)
    assert all(s.speaker_statistics for s in derived if s.output_statistics == "speaker")


#: The trained systems, each a recipe `configs/emodb/<name>.yaml` that `emorec train --config` runs.
TRAINED = ("causal", "speaker", "none", "speaker_features", "speech2vec_transcript_free", "attention_transcript_free",
           "speech2vec_speaker_features", "attention_speaker_features")
#: The same runs scored per utterance (`--pool recording`), and with per-speaker output statistics.
SCORED_PER_UTTERANCE = ("causal_utterances", "speech2vec_transcript_free_utterances",
                        "attention_transcript_free_utterances", "speaker_features_utterances",
                        "speech2vec_speaker_features_utterances", "attention_speaker_features_utterances",
                        "speech2vec_transcript_free_utterances_speaker_outputs")


@pytest.fixture
def at_repo_root(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)  # recipes and results are named relative to the checkout, as the script runs


def test_every_trained_system_is_a_recipe_that_loads(at_repo_root):
    assert sorted(path.stem for path in (REPO_ROOT / "configs" / "emodb").glob("*.yaml")) == sorted(TRAINED)
    assert tuple(bench.MODEL_SYSTEMS) == TRAINED + SCORED_PER_UTTERANCE
    for name in TRAINED:
        system = bench.MODEL_SYSTEMS[name]
        assert system.recipe == Path("configs/emodb") / f"{name}.yaml"
        config = load_config(system.recipe)
        assert system.name == config.description and config.name == f"emodb_{name}"
    for name in SCORED_PER_UTTERANCE:  # nothing trained of their own: a trained system's recipe and runs
        assert bench.MODEL_SYSTEMS[name].recipe == bench.MODEL_SYSTEMS[bench.MODEL_SYSTEMS[name].trained].recipe


def test_the_paper_rows_are_the_runs_paper_tables_trains(at_repo_root):
    # Their run folders are paper_tables_emodb's: the recipe must be that script's config and --set.
    from benchmarks import paper_tables_emodb

    for name, paper_config in (("speech2vec_transcript_free", "configs/paper/table2_speech2vec.yaml"),
                               ("attention_transcript_free", "configs/paper/table3_attention.yaml")):
        recipe = config_to_dict(load_config(bench.MODEL_SYSTEMS[name].recipe))
        paper = config_to_dict(apply_overrides(load_config(paper_config), paper_tables_emodb.EMODB_OVERRIDES))
        for key in ("name", "description"):
            recipe.pop(key), paper.pop(key)
        assert recipe == paper
        assert bench.MODEL_SYSTEMS[name].run_dir.parent.parent == paper_tables_emodb.RUNS


def test_the_results_file_states_what_the_recipes_say(at_repo_root):
    # The committed results are what the script writes for each system: its name, protocol and
    # the `emorec train --config configs/emodb/...` command that trains it.
    result = json.loads(bench.RESULTS_JSON.read_text(encoding="utf-8"))
    models = [s for s in result["systems"] if s["kind"] == "model"]
    assert {s["system"] for s in models} == set(bench.MODEL_SYSTEMS)
    for entry in models:
        system = bench.MODEL_SYSTEMS[entry["system"]]
        assert (entry["name"], entry["speaker_statistics"], entry["boundaries"], entry["note"]) == \
            (system.name, system.speaker_statistics, system.boundaries, system.note)
        assert entry["normalisation"] == system.config.data.normalisation.kind
        assert entry["cli_commands"][0].startswith(f"emorec train --config {system.recipe} --data {bench.SESSION_DATA}")
        assert entry["command"].startswith(f"{bench.COMMAND} --systems {entry['system']}")
    if bench.RESULTS_MD.is_file():
        assert bench.markdown(result) == bench.RESULTS_MD.read_text(encoding="utf-8")
