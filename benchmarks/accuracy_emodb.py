"""One accuracy benchmark on EmoDB: the model configs over seeds against the eGeMAPS baseline.

    pip install -e ".[bench]"
    python -m benchmarks.accuracy_emodb [--epochs E] [--seeds N] [--systems baseline,causal,speaker]

Steps, each through the package's own API (nothing re-implemented here):
  1. converts EmoDB twice with the README's commands (`benchmarks.emodb_folders`; a folder
     already converted with the same options is reused):
       converted/emodb      sessions of 10 utterances, what `configs/emodb_paralinguistic.yaml`
                            trains on (labels change inside a sequence, as in continuous corpora);
       converted/emodb_utt  one recording per utterance, what the baseline reads (one functionals
                            vector and one target per recording).
     Both hold the same speakers in the same partitions (train 03 08 09 10 12 13 / devel 11 14 /
     test 15 16) and the same labelled frames: each utterance is padded to whole 0.1 s frames in
     both, so the frame-pooled CCC (order-free) is computed over the same frames with the same
     targets. This is checked, utterance by utterance, before any model row is scored. One folder
     for both would cost either the baseline (a session holds ten categories, so a per-recording
     target is meaningless) or the model's training setup (the config's sessions).
  2. trains each model system's recipe, `configs/emodb/<system>.yaml`, over seeds
     (`emorec.training.seeds.train_seeds`, into `RUNS/paralinguistic_<system>/seed-<s>/`; a finished
     seed is reused, an unfinished one resumes), early stopping and model selection on devel mean
     CCC as the recipe says; `emorec train --config configs/emodb/<system>.yaml` trains the same;
  3. scores test (`emorec.evaluation.evaluate_run`: CCC pooled over the test frames, raw and
     post-processed on devel), per seed, and mean ± sd over seeds;
  4. scores each test utterance (the mean of its frames' predictions against its target) for the
     per-utterance CCC and the mean predicted valence per EmoDB category;
  5. runs the baseline (`benchmarks.baseline_egemaps`' `load_corpus` / `run_protocol`), with
     and without per-speaker statistics, trained on train and refit on train + devel.

Writes `benchmarks/results/accuracy_emodb.json` (`systems`: one entry per system; a run over a
subset with `--systems` replaces those systems' entries and keeps the others, each entry stating
its own seeds, epochs and command) and `benchmarks/results/accuracy_emodb.md`, the table the README
quotes. The "best model" for `valence_by_category` is chosen by devel mean CCC, never by test.

Systems (`--systems`, comma-separated); each model system is the recipe of its name in configs/emodb/:
  baseline  eGeMAPS functionals + LinearSVR, the four protocols of baseline_egemaps.py
  causal    paralinguistic CNN + LSTM, augmentation, causal waveform normalisation (each frame scaled
            by the RMS of its recording so far): no speaker statistics, exportable, streams
  speaker   the same with per-speaker waveform normalisation (each speaker's RMS over their
            recordings in the partition): speaker statistics, transductive for test speakers
  none      the same without normalisation (the former default)
  speaker_features  per-speaker waveform RMS and, inside the model, the CNN's frame features
            standardised with each speaker's own statistics (`model.feature_statistics: speaker`)
  speech2vec_speaker_features, attention_speaker_features  the Speech2Vec and attention rows with
            per-speaker feature standardisation (speaker statistics)
  speech2vec_transcript_free, attention_transcript_free  the paper's semantic branch alone and the
            full model (disentangled attention), given word timings in training and the
            transcript-free segmenter's at evaluation; their runs are paper_tables_emodb's
            (run `--epochs 12` as it does)
  <system>_utterances  the runs of <system> scored as the baseline is: each test utterance its
            own recording (converted/emodb_utt) and one output per utterance, its frames' mean
            (`emorec evaluate --pool recording`); for speaker-statistics systems (and
            speech2vec_transcript_free_utterances_speaker_outputs) each speaker's outputs are also
            standardised over their utterances (`--output-statistics speaker`). Devel is scored the
            same way for model selection. Nothing is trained for them: pass the base system's
            --seeds/--epochs.
Targets are derived from categories (NRC VAD lexicon), not annotated: every figure says so.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import shlex
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import baseline_egemaps, paper_tables_emodb  # noqa: E402  (their functions, not copies)
from benchmarks.emodb_folders import SESSION_DATA, SOURCE, UTTERANCE_DATA, convert_folders  # noqa: E402

if TYPE_CHECKING:
    from emorec.config import ExperimentConfig

COMMAND = "python -m benchmarks.accuracy_emodb"
RECIPES = Path("configs/emodb")
RUNS = Path("runs/accuracy_emodb")
RESULTS_JSON = Path("benchmarks/results/accuracy_emodb.json")
RESULTS_MD = Path("benchmarks/results/accuracy_emodb.md")
TEST = "test"
#: Categories whose mean predicted valence happiness should exceed.
NEGATIVE_CATEGORIES = ("anger", "fear", "sadness", "boredom")


@dataclasses.dataclass(frozen=True)
class ModelSystem:
    """One model row of the table: the runs of a recipe, scored one way.

    Everything about the model is its recipe, `configs/emodb/<trained>.yaml` (`emorec train
    --config` runs it); the row's name is the recipe's `description`, and whether it reads speaker
    statistics and which word boundaries it evaluates with are read from the recipe too.

    Args:
        key: the system's id (`--systems`), also the table's short name.
        note: what the table's notes say of it (statistics read, exportable or not).
        trained: the system whose recipe and runs it scores (default: its own, `key`).
        run_dir: its run folder when another benchmark trains it (paper_tables_emodb's), else
            `RUNS/paralinguistic_<trained>`.
        scored_on: `sessions` (SESSION_DATA, the folder it trains on) or `utterances`
            (UTTERANCE_DATA, one recording per utterance: the baseline's input).
        pool, output_statistics: `emorec evaluate --pool` and `--output-statistics`.

    Example:
        >>> MODEL_SYSTEMS["speaker_features"].recipe
        PosixPath('configs/emodb/speaker_features.yaml')
    """

    key: str
    note: str
    trained: str = ""
    run_dir: Optional[Path] = None
    scored_on: str = "sessions"
    pool: str = "frame"
    output_statistics: str = "none"

    @property
    def recipe(self) -> Path:
        return RECIPES / f"{self.trained or self.key}.yaml"

    @functools.cached_property
    def config(self) -> ExperimentConfig:
        """The recipe, loaded (relative paths: run from the repository root, as the script is)."""
        from emorec.config import load_config

        return load_config(self.recipe)

    @property
    def name(self) -> str:
        if self.scored_on == "sessions":
            return self.config.description
        return (f"{self.config.description}; scored per utterance (one recording each, recording-mean outputs"
                + (", per-speaker output standardisation)" if self.output_statistics == "speaker" else ")"))

    @property
    def speaker_statistics(self) -> bool:
        """Whether it reads statistics of a speaker's other recordings (per-speaker waveform
        normalisation, feature or output standardisation): transductive for test speakers."""
        return "speaker" in (self.config.data.normalisation.kind, self.config.model.feature_statistics,
                             self.output_statistics)

    @property
    def boundaries(self) -> str:
        """Word boundaries at evaluation: `none` (no semantic branch), `given` or `transcript-free`."""
        semantic = self.config.model.semantic_features
        if semantic.source == "none":
            return "none"
        return "transcript-free" if semantic.at_evaluation().boundaries == "segmenter" else "given"

    @property
    def semantic(self) -> bool:
        return self.boundaries != "none"


def utterance_system(key: str, trained: str, output_statistics: str = "none") -> ModelSystem:
    """The runs of `trained` scored the way the baseline is: each test utterance its own recording
    (UTTERANCE_DATA, as the baseline reads it) and one output per utterance, its frames' mean
    (`emorec evaluate --pool recording`); with `output_statistics` `speaker`, each speaker's outputs
    standardised over their utterances and mapped onto the training targets' mean and sd."""
    note = (f"the runs of `--systems {trained}`, scored on {UTTERANCE_DATA}: each test utterance predicted on its "
            "own, and its frames' mean prediction given to all of its frames, as the baseline's one prediction per "
            "utterance is")
    if output_statistics == "speaker":
        note += ("; then each speaker's outputs z-scored over their utterances and mapped onto the training targets' "
                 "mean and sd (speaker statistics, transductive, no test label read)")
    return ModelSystem(key, note, trained=trained, scored_on="utterances", pool="recording",
                       output_statistics=output_statistics)


_TRANSCRIPT_FREE = ("the transcript's word timings in training only, the energy segmenter's at evaluation: no text "
                    "and no speaker statistics at evaluation; exportable, audio only")
_SPEAKER_FEATURES = ("(model.feature_statistics speaker; each batch one speaker's): speaker statistics, transductive "
                     "for test speakers, not exportable")
#: The systems trained here or by paper_tables_emodb, each `configs/emodb/<key>.yaml`. The paper
#: rows' runs are paper_tables_emodb's (the same recipe: the paper config with the EmoDB batch
#: size and rate), so its Tables and these rows are the same models.
MODEL_SYSTEMS = {system.key: system for system in (
    ModelSystem("causal", "each frame scaled by the RMS of its recording so far: no speaker statistics; exportable, "
                          "streams"),
    ModelSystem("speaker", "each speaker's waveform scaled by their RMS over their recordings in the partition (a gain, "
                           "not a feature standardisation): speaker statistics, transductive for test speakers, not "
                           "exportable"),
    ModelSystem("none", "raw waveform, no statistics"),
    ModelSystem("speaker_features", "each speaker's waveform scaled by their RMS, and the CNN's frame features "
                                    "standardised with the speaker's own mean and sd over their recordings "
                                    + _SPEAKER_FEATURES),
    ModelSystem("speech2vec_transcript_free", "Speech2Vec (audio of each word) features; " + _TRANSCRIPT_FREE,
                run_dir=paper_tables_emodb.RUNS / "table2" / "table2_speech2vec"),
    ModelSystem("attention_transcript_free", "the full model of the paper: CNN and aligned Speech2Vec features fused by "
                                             "disentangled attention; " + _TRANSCRIPT_FREE,
                run_dir=paper_tables_emodb.RUNS / "table3" / "table3_attention"),
    ModelSystem("speech2vec_speaker_features", "the Speech2Vec row with its word features z-scored per speaker over the "
                                               "speaker's recordings " + _SPEAKER_FEATURES
                                               + "; the transcript's word timings in training only"),
    ModelSystem("attention_speaker_features", "the Table 3 attention row with the CNN's and the word features z-scored "
                                              "per speaker over the speaker's recordings " + _SPEAKER_FEATURES
                                              + "; the transcript's word timings in training only"),
)}
for _system in (utterance_system("causal_utterances", "causal"),
                utterance_system("speech2vec_transcript_free_utterances", "speech2vec_transcript_free"),
                utterance_system("attention_transcript_free_utterances", "attention_transcript_free"),
                utterance_system("speaker_features_utterances", "speaker_features", "speaker"),
                utterance_system("speech2vec_speaker_features_utterances", "speech2vec_speaker_features", "speaker"),
                utterance_system("attention_speaker_features_utterances", "attention_speaker_features", "speaker"),
                utterance_system("speech2vec_transcript_free_utterances_speaker_outputs", "speech2vec_transcript_free",
                                 "speaker")):
    MODEL_SYSTEMS[_system.key] = _system
SYSTEM_IDS = ("baseline", *MODEL_SYSTEMS)
DEFAULT_SYSTEMS = ("baseline", "causal", "speaker")


def cli(*parts: str) -> str:
    return " ".join(parts)


# --- data -----------------------------------------------------------------------------------------

@dataclasses.dataclass
class Utterance:
    stem: str
    category: str
    target: np.ndarray  # [D]
    frames: int


def session_utterances(data_dir: Path, utterance_frames: Dict[str, int]) -> Dict[str, List[Utterance]]:
    """{recording name: its utterances in order} of a converted EmoDB folder, from the converter's
    own listing with the options in its manifest (the manifest keeps no utterance boundaries)."""
    from emorec.data.manifest import read_manifest
    from tfrecords_tools.layouts import emodb

    manifest = read_manifest(data_dir)
    items = emodb.list_items(Path(manifest["source"]), manifest["options"]["layout_options"])
    return {item.name: [Utterance(Path(u["file"]).stem, u["emotion"], np.asarray(u["target"], float),
                                  utterance_frames[Path(u["file"]).stem])
                        for u in item.payload["utterances"]]
            for item in items}


def categories_of(corpus: "baseline_egemaps.Corpus") -> Dict[str, str]:
    """{utterance name: EmoDB category} for the recordings of the utterance folder."""
    listing = session_utterances(UTTERANCE_DATA, dict.fromkeys(corpus.names.tolist(), 0))
    return {name: utterances[0].category for name, utterances in listing.items()}


# --- model systems --------------------------------------------------------------------------------

def check_reused_runs(run_dir: Path, config, epochs: Optional[int]) -> None:
    """A finished seed is reused by train_seeds; refuse one trained with other settings."""
    from emorec.config import load_config
    from emorec.training.run_folder import CONFIG_FILENAME
    from emorec.training.seeds import seed_run_dirs

    budget = epochs or config.training.epochs
    for seed, folder in seed_run_dirs(run_dir).items():
        saved = load_config(folder / CONFIG_FILENAME)
        if saved.training.epochs != budget or saved.data.normalisation != config.data.normalisation or \
                saved.data.augmentation != config.data.augmentation or saved.model != config.model:
            raise SystemExit(f"{folder}: trained with other settings (epochs {saved.training.epochs}, normalisation "
                             f"{saved.data.normalisation.kind}); use another --runs folder or delete it")


def seed_run_facts(folder: Path) -> dict:
    """Epochs trained, the best devel epoch and the training wall time (from the run's files: the
    config is written when training starts, last.keras after every epoch)."""
    from emorec.training.run_folder import CONFIG_FILENAME, LAST_MODEL_FILENAME, read_history

    history = read_history(folder)
    devel = np.asarray(history.get("val_mean_ccc", []), float)
    return {
        "epochs_trained": len(history.get("epoch", [])),
        "best_epoch": int(np.nanargmax(devel)) + 1 if np.isfinite(devel).any() else None,
        "best_devel_ccc_mean": round(float(np.nanmax(devel)), 4) if np.isfinite(devel).any() else None,
        "training_wall_s": round((folder / LAST_MODEL_FILENAME).stat().st_mtime
                                 - (folder / CONFIG_FILENAME).stat().st_mtime, 1),
    }


def utterance_predictions(scores_path: Path, label_names: List[str],
                          utterances: Dict[str, List[Utterance]]) -> Dict[str, np.ndarray]:
    """{utterance: mean raw prediction over its frames `[D]`} from one evaluation's prediction files."""
    from emorec.evaluation.report import read_avec_predictions

    scores = json.loads(scores_path.read_text())
    folder = Path(scores["output_dir"]) / scores["predictions"]["raw"]
    out = {}
    for path in sorted(folder.glob("*.csv")):
        predictions = read_avec_predictions(path, label_names)[label_names].to_numpy()
        parts = utterances[path.stem]
        if sum(u.frames for u in parts) != len(predictions):
            raise SystemExit(f"{path}: {len(predictions)} frames, but its utterances in {UTTERANCE_DATA} hold "
                             f"{sum(u.frames for u in parts)}: the two folders do not hold the same frames")
        start = 0
        for u in parts:
            out[u.stem] = predictions[start:start + u.frames].mean(axis=0)
            start += u.frames
    return out


def by_category(predictions: Dict[str, np.ndarray], categories: Dict[str, str], dimension: int) -> Dict[str, float]:
    grouped = defaultdict(list)
    for name, prediction in predictions.items():
        grouped[categories[name]].append(prediction[dimension])
    return {category: round(float(np.mean(values)), 4) for category, values in sorted(grouped.items())}


def utterance_features(config) -> List[str]:
    """The semantic features folder a semantic run reads on UTTERANCE_DATA (the segmenter's, as at
    evaluation), written with the paper's artefacts when missing; the command that writes it."""
    from emorec.data.semantic_features import semantic_features_dir

    evaluated = config.model.semantic_features.at_evaluation()
    command = paper_tables_emodb.features_args(UTTERANCE_DATA, evaluated.source, evaluated.boundaries)
    if not semantic_features_dir(UTTERANCE_DATA, evaluated.source, evaluated.boundaries).exists():
        subprocess.run(paper_tables_emodb.emorec_command(*command), check=True)
    return ["emorec", *command]


def run_model_system(key: str, *, seeds: int, epochs: Optional[int], runs: Path,
                     utterances: Dict[str, List[Utterance]], categories: Dict[str, str],
                     single_utterances: Dict[str, List[Utterance]]) -> dict:
    from emorec.evaluation import evaluate_run
    from emorec.evaluation.ccc import ccc_per_dimension
    from emorec.training.seeds import aggregate_ccc, format_seed_summary, seed_run_dir, train_seeds

    system = MODEL_SYSTEMS[key]
    trained_as = MODEL_SYSTEMS[system.trained or key]
    config = system.config
    run_dir = trained_as.run_dir or runs / f"paralinguistic_{trained_as.key}"
    scored = UTTERANCE_DATA if system.scored_on == "utterances" else SESSION_DATA
    if system.scored_on == "utterances":
        utterances = single_utterances
    if system.semantic:  # the paper's artefacts and feature folders, built (or reused) as its Tables do
        paper_tables_emodb.build_artefacts(paper_tables_emodb.RUNS)
    check_reused_runs(run_dir, config, epochs)
    started = time.perf_counter()
    trained = train_seeds(config, SESSION_DATA, run_dir, seeds, epochs=epochs, verbose=2)
    # Each of this run's seeds on its own (evaluate_run on the parent folder would also score any
    # other seed-<s>/ there, e.g. one still training), then mean ± sd the one way training does.
    features_command = utterance_features(config) if system.semantic and system.scored_on == "utterances" else None
    protocol_options = dict(pool=system.pool, output_statistics=system.output_statistics)
    evaluations = {seed: evaluate_run(seed_run_dir(run_dir, seed), scored, TEST, overwrite=True, plot=False,
                                      echo=None, **protocol_options) for seed in trained["seeds"]}
    devel = None if trained["devel"] is None else trained["devel"]["ccc"]["mean"]["mean"]
    if system.scored_on == "utterances" and devel is not None:
        # Chosen within its protocol: devel scored the same way as test.
        devel = float(np.mean([evaluate_run(seed_run_dir(run_dir, seed), scored, config.data.devel_partition,
                                            overwrite=True, plot=False, echo=None, **protocol_options)
                               ["ccc_raw"]["mean"] for seed in trained["seeds"]]))
    label_names = trained["label_names"]
    raw = aggregate_ccc({seed: e["ccc_raw"] for seed, e in evaluations.items()}, label_names)["ccc"]
    processed = aggregate_ccc({seed: e["ccc_postprocessed"] for seed, e in evaluations.items()}, label_names)["ccc"] \
        if all(e["ccc_postprocessed"] for e in evaluations.values()) else None
    print(format_seed_summary({"seeds": trained["seeds"], "ccc": raw}, f"{key}: test"))

    targets = {u.stem: u.target for parts in utterances.values() for u in parts}
    per_utterance_scores, utterance_means = {}, []
    for seed, evaluation in evaluations.items():
        predicted = utterance_predictions(Path(evaluation["output_dir"]) / "scores.json", label_names, utterances)
        names = sorted(predicted)
        per_utterance_scores[seed] = ccc_per_dimension(
            np.array([targets[n] for n in names]), np.array([predicted[n] for n in names]), label_names)
        utterance_means.append(predicted)
    per_utterance = aggregate_ccc(per_utterance_scores, label_names)["ccc"]
    averaged = {n: np.mean([m[n] for m in utterance_means], axis=0) for n in utterance_means[0]}
    budget = epochs or config.training.epochs
    seed_count = len(trained["seeds"])
    command = f"{COMMAND} --systems {key} --seeds {seed_count} --epochs {budget}"
    evaluate_options = ([f"--pool {system.pool}"] if system.pool != "frame" else []) + \
        ([f"--output-statistics {system.output_statistics}"] if system.output_statistics != "none" else [])
    return {
        "system": key,
        "name": system.name,
        "kind": "model",
        "speaker_statistics": system.speaker_statistics,
        "boundaries": system.boundaries,
        "scored_on": system.scored_on,
        "pool": system.pool,
        "output_statistics": system.output_statistics,
        "normalisation": config.data.normalisation.kind,
        "short_name": system.key,
        "seeds": trained["seeds"],
        "epochs": budget,
        "early_stopping_patience": config.training.early_stopping_patience,
        "test_ccc": {n: round(raw[n]["mean"], 4) for n in label_names},
        "test_ccc_sd": {n: None if raw[n]["sd"] is None else round(raw[n]["sd"], 4) for n in label_names},
        "test_ccc_mean": round(raw["mean"]["mean"], 4),
        "test_ccc_mean_sd": None if raw["mean"]["sd"] is None else round(raw["mean"]["sd"], 4),
        "test_ccc_by_seed": {n: [round(v, 4) for v in raw[n]["values"]] for n in [*label_names, "mean"]},
        "per_utterance_test_ccc": {n: round(per_utterance[n]["mean"], 4) for n in label_names},
        "per_utterance_test_ccc_mean": round(per_utterance["mean"]["mean"], 4),
        "test_ccc_postprocessed": None if processed is None else
        {n: round(processed[n]["mean"], 4) for n in [*label_names, "mean"]},
        "test_ccc_postprocessed_sd": None if processed is None else
        {n: None if processed[n]["sd"] is None else round(processed[n]["sd"], 4) for n in [*label_names, "mean"]},
        "devel_ccc_mean": None if devel is None else round(devel, 4),
        "devel_scored_on": system.scored_on,
        "runs": {str(seed): seed_run_facts(seed_run_dir(run_dir, seed)) for seed in trained["seeds"]},
        "mean_prediction_by_category": {n: by_category(averaged, categories, d) for d, n in enumerate(label_names)},
        "valence_by_category": by_category(averaged, categories, label_names.index("valence")),
        "note": system.note,
        "command": command,
        "cli_commands": [
            cli("emorec train --config", str(system.recipe), "--data", str(SESSION_DATA), "--run-dir", str(run_dir),
                "--epochs", str(budget), "--seeds", str(seed_count)),
            *([shlex.join(features_command)] if features_command else []),
            cli("emorec evaluate --run-dir", str(run_dir), "--data", str(scored), "--partition", TEST,
                *evaluate_options),
        ],
        "wall_s_this_invocation": round(time.perf_counter() - started, 1),
    }


# --- baseline -------------------------------------------------------------------------------------

def run_baseline(corpus, categories: Dict[str, str], feature_wall_s: float) -> List[dict]:
    started = time.perf_counter() - feature_wall_s
    systems = []
    test_names = corpus.names[corpus.rows(TEST)]
    for speaker_statistics in (False, True):
        for result in baseline_egemaps.run_protocol(corpus, speaker_statistics=speaker_statistics):
            entry = baseline_egemaps.system_entry(
                result, kernel="linear", speaker_statistics=speaker_statistics, label_names=corpus.label_names,
                command=f"{COMMAND} --systems baseline")
            entry["baseline_command"] = f"{baseline_egemaps.COMMAND} --data {UTTERANCE_DATA}"
            predictions = dict(zip(test_names, result["test_predictions"]))
            entry["valence_by_category"] = by_category(predictions, categories, corpus.label_names.index("valence"))
            systems.append({"system": "baseline", **entry})
    for entry in systems:
        entry["wall_s_this_invocation"] = round(time.perf_counter() - started, 1)
        entry["feature_wall_s"] = round(feature_wall_s, 1)  # eGeMAPS extraction, or reading its cache
    return systems


# --- report ---------------------------------------------------------------------------------------

def check_same_frames(corpus, utterances: Dict[str, List[Utterance]]) -> None:
    """Every test utterance of the session folder has the baseline folder's frames and target."""
    targets = dict(zip(corpus.names, corpus.recording_targets()))
    test = set(corpus.names[corpus.rows(TEST)])
    in_sessions = {u.stem: u for us in utterances.values() for u in us}
    missing = test - set(in_sessions)
    if missing:
        raise SystemExit(f"{SESSION_DATA} lacks test utterances of {UTTERANCE_DATA}: {sorted(missing)[:5]}")
    for name in test:
        if not np.allclose(in_sessions[name].target, targets[name], atol=1e-6):
            raise SystemExit(f"{name}: target differs between {SESSION_DATA} and {UTTERANCE_DATA}")


#: Protocol groups in the order the headline is taken from: scored per utterance as the baseline
#: is first (like with like), then the continuous session scoring.
PROTOCOL_GROUPS = (("utterances", False), ("sessions", False), ("utterances", True), ("sessions", True))


def best_model(systems: List[dict], speaker_statistics: bool = False, scored_on: str = "sessions") -> Optional[dict]:
    """The model system of one protocol (speaker statistics or not, scored per session or per
    utterance) with the best devel mean CCC, devel scored as its test is (never chosen by test)."""
    models = [s for s in systems if s["kind"] == "model" and s.get("devel_ccc_mean") is not None
              and s["speaker_statistics"] == speaker_statistics and s.get("scored_on", "sessions") == scored_on]
    return max(models, key=lambda s: s["devel_ccc_mean"]) if models else None


def best_models(systems: List[dict]) -> List[dict]:
    """The best model of each protocol group, with its valence check."""
    out = []
    for scored_on, speaker_statistics in PROTOCOL_GROUPS:
        best = best_model(systems, speaker_statistics, scored_on)
        if best is not None:
            out.append({"name": best["name"], "scored_on": scored_on, "speaker_statistics": speaker_statistics,
                        "chosen_by": f"devel mean CCC among the systems {'with' if speaker_statistics else 'without'} "
                                     f"speaker statistics scored per {scored_on[:-1]}",
                        "test_ccc_mean": best["test_ccc_mean"], "test_ccc_mean_sd": best.get("test_ccc_mean_sd"),
                        "valence_by_category": best["valence_by_category"],
                        "happiness_valence_above": happiness_above(best["valence_by_category"])})
    return out


def happiness_above(valence_by_category: Dict[str, float]) -> Dict[str, bool]:
    happiness = valence_by_category.get("happiness")
    return {c: bool(happiness > valence_by_category[c]) for c in NEGATIVE_CATEGORIES if c in valence_by_category}


def _cell(value: float, sd: Optional[float]) -> str:
    from emorec.training.seeds import format_mean_sd

    return format_mean_sd(value, sd)


def protocol(system: dict) -> str:
    statistics = "speaker statistics" if system["speaker_statistics"] else "no speaker statistics"
    if system["kind"] == "baseline":
        fitted = "refit on train + devel" if system["refit_on_devel"] else "trained on train"
        return f"{statistics}, scored per utterance, {fitted}, deterministic"
    if system.get("scored_on", "sessions") == "utterances":
        statistics += ", scored per utterance" + (
            " (per-speaker output standardisation)" if system.get("output_statistics") == "speaker" else "")
    else:
        statistics += ", scored on sessions"
    seeds = system["seeds"]
    trained = [r["epochs_trained"] for r in system["runs"].values()]
    best = [r["best_epoch"] for r in system["runs"].values()]
    return (f"{statistics}, trained on train, {len(seeds)} seed{'s' if len(seeds) > 1 else ''} "
            f"({', '.join(map(str, seeds))}), budget {system['epochs']} epochs (trained {', '.join(map(str, trained))}; "
            f"best devel epoch {', '.join(map(str, best))})")


def short_name(system: dict) -> str:
    if system["kind"] == "model":
        label = system.get("short_name", system["normalisation"]).replace("_", " ")
        return f"model, {label}" if system.get("boundaries", "none") != "none" else f"model, {label} normalisation"
    return "baseline, " + ("per-speaker" if system["speaker_statistics"] else "train") + " statistics"


def markdown(result: dict) -> str:
    label_names = result["label_names"]
    # Grouped by protocol: the baseline, then the models scored as it is, then the session scoring.
    systems = sorted(result["systems"], key=lambda s: (s["speaker_statistics"], s.get("scored_on") == "sessions",
                                                       s["kind"] != "baseline"))
    lines = [
        "# EmoDB accuracy: models against the eGeMAPS baseline",
        "",
        "Derived targets (EmoDB categories mapped to arousal/valence/dominance through the NRC VAD lexicon), "
        "speaker-independent split train 03 08 09 10 12 13 / devel 11 14 / test 15 16. Test CCC pooled over "
        "the test frames (population variance); *utt*: one point per test utterance. Models: mean ± sd over "
        "seeds (a single seed has no sd); rows are grouped by protocol (without, then with speaker statistics) "
        "so that like is compared with like. *Scored per utterance*: each test utterance is its own recording "
        "(the baseline's input) and all its frames get one output, the mean of the model's frame predictions "
        "(`emorec evaluate --pool recording`), as the baseline gives one prediction per utterance; *scored on "
        "sessions*: the model's frame outputs on sessions of 10 utterances, the continuous protocol it trains in. Last written by `" + result["command"] + "` (each row's own command is listed below) on "
        + result["machine"] + ".",
        "",
        f"| system | protocol | {' | '.join(label_names)} | mean | utt mean |",
        "|---|---|" + "---|" * (len(label_names) + 2),
    ]
    for s in systems:
        sd = s.get("test_ccc_sd", {})
        cells = [_cell(s["test_ccc"][n], sd.get(n) if s["kind"] == "model" else None) for n in label_names]
        mean = _cell(s["test_ccc_mean"], s.get("test_ccc_mean_sd"))
        lines.append(f"| {s['name']} | {protocol(s)} | {' | '.join(cells)} | {mean} | "
                     f"{s['per_utterance_test_ccc_mean']:.3f} |")
        processed = s.get("test_ccc_postprocessed")
        if processed:
            psd = s["test_ccc_postprocessed_sd"]
            cells = [_cell(processed[n], psd[n]) for n in label_names]
            lines.append(f"| same, post-processed (fitted on devel) | as above | {' | '.join(cells)} | "
                         f"{_cell(processed['mean'], psd['mean'])} | - |")
    bests = result.get("best_models", [])
    if bests:
        by_name = {s["name"]: s for s in result["systems"]}
        headline = by_name[bests[0]["name"]]
        categories = sorted(headline["valence_by_category"], key=lambda c: -headline["valence_by_category"][c])
        columns = [by_name[b["name"]] for b in bests] + [
            s for s in systems if s["kind"] == "baseline" and not s["refit_on_devel"] and "valence_by_category" in s]
        lines += [
            "",
            "Mean predicted valence per category on the test speakers (per-utterance means, averaged over seeds) "
            "for the best model of each protocol (by devel mean CCC, devel scored as test is) and the baseline, "
            "beside each category's target:",
            "",
            "| category | target | " + " | ".join(f"{i + 1}" for i in range(len(bests))) + " | "
            + " | ".join(short_name(s) for s in columns[len(bests):]) + " |",
            "|---|---|" + "---|" * len(columns),
        ]
        for category in categories:
            lines.append(f"| {category} | {result['valence_targets'][category]:+.3f} | "
                         + " | ".join(f"{s['valence_by_category'][category]:+.3f}" for s in columns) + " |")
        lines.append("")
        for i, best in enumerate(bests):
            statistics = "with" if best["speaker_statistics"] else "without"
            lines.append(f"{i + 1}. best {statistics} speaker statistics, scored per {best['scored_on'][:-1]}: "
                         f"{best['name']} (test mean CCC {_cell(best['test_ccc_mean'], best['test_ccc_mean_sd'])}); "
                         "happiness above " + ", ".join(f"{c}: {'yes' if ok else 'no'}"
                                                        for c, ok in best["happiness_valence_above"].items()) + ".")
    lines += ["", "Commands (from the repository root, after `pip install -e \".[bench]\"`):", ""]
    commands: Dict[str, List[str]] = defaultdict(list)
    for s in systems:
        same = " then ".join(f"`{c}`" for c in s.get("cli_commands", [])) or f"`{s['baseline_command']}`"
        commands[f"`{s['command']}` (the same as {same})"].append(s["name"])
    lines += [f"- {command}: {'; '.join(names)}" for command, names in commands.items()]
    lines += ["", "Wall time on this machine:"]
    for s in systems:
        if s["kind"] == "model":
            walls = ", ".join(f"seed {seed} {r['training_wall_s'] / 60:.0f} min" for seed, r in s["runs"].items())
            lines.append(f"- {s['name']}: training {walls} ({s.get('concurrency', '')})".replace(" ()", ""))
    baseline = next((s for s in systems if s["kind"] == "baseline"), None)
    if baseline is not None:
        lines.append(f"- baseline: {baseline['wall_s_this_invocation']:.0f} s, of which eGeMAPS features "
                     f"{baseline.get('feature_wall_s', float('nan')):.0f} s (extracted, or read from the cache "
                     f"`{UTTERANCE_DATA}/{baseline_egemaps.CACHE_FILENAME}` when it matches)")
    lines.append(f"- this invocation: {result['wall_s'] / 60:.1f} min (runs already trained are reused, not timed again)")
    notes: Dict[str, List[str]] = defaultdict(list)
    for s in systems:
        if s.get("note"):
            notes[s["note"]].append(s["name"])
    return "\n".join(lines + ["", "Notes:", *(f"- {'; '.join(names)}: {note}" for note, names in notes.items())]) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS),
                        help=f"comma-separated, of {', '.join(SYSTEM_IDS)} (default {','.join(DEFAULT_SYSTEMS)})")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per model system (default 3)")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"epoch budget (default: the recipe's, {RECIPES}/<system>.yaml, stopped early on "
                             "devel mean CCC)")
    parser.add_argument("--source", type=Path, default=SOURCE, help=f"the EmoDB folder (default {SOURCE})")
    parser.add_argument("--runs", type=Path, default=RUNS, help=f"run folders (default {RUNS})")
    parser.add_argument("--json", type=Path, default=RESULTS_JSON)
    parser.add_argument("--markdown", type=Path, default=RESULTS_MD)
    parser.add_argument("--concurrency-note", default="",
                        help="how the machine was shared while training (written beside the wall times)")
    args = parser.parse_args(argv)
    requested = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(requested) - set(SYSTEM_IDS)
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}; choose from {', '.join(SYSTEM_IDS)}")

    from emorec.training.hardware import machine_summary

    started = time.perf_counter()
    convert_folders(args.source)
    features_started = time.perf_counter()
    corpus = baseline_egemaps.load_corpus(UTTERANCE_DATA, UTTERANCE_DATA / baseline_egemaps.CACHE_FILENAME)
    feature_wall_s = time.perf_counter() - features_started
    utterance_frames = {name: int(e - s) for name, s, e in
                        zip(corpus.names, corpus.frame_offsets[:-1], corpus.frame_offsets[1:])}
    utterances = session_utterances(SESSION_DATA, utterance_frames)
    check_same_frames(corpus, utterances)
    categories = categories_of(corpus)

    systems: List[dict] = []
    if "baseline" in requested:
        systems += run_baseline(corpus, categories, feature_wall_s)
    for key in requested:
        if key in MODEL_SYSTEMS:
            entry = run_model_system(key, seeds=args.seeds, epochs=args.epochs, runs=args.runs,
                                     utterances=utterances, categories=categories,
                                     single_utterances=session_utterances(UTTERANCE_DATA, utterance_frames))
            if args.concurrency_note:
                entry["concurrency"] = args.concurrency_note
            systems.append(entry)

    previous = json.loads(args.json.read_text())["systems"] if args.json.is_file() else []
    systems = [s for s in previous if s.get("system") not in requested] + systems
    # A stable order whatever subset this call ran: the table does not move between calls.
    systems.sort(key=lambda s: SYSTEM_IDS.index(s["system"]) if s.get("system") in SYSTEM_IDS else len(SYSTEM_IDS))
    targets = dict(zip(corpus.names, corpus.recording_targets()))
    valence = corpus.label_names.index("valence")
    result = {
        "command": shlex.join([*shlex.split(COMMAND), *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_summary(),
        "derived_targets": True,
        "split": {"train": "03 08 09 10 12 13", "devel": "11 14", "test": "15 16"},
        "data": {"model": str(SESSION_DATA), "baseline": str(UTTERANCE_DATA)},
        "label_names": corpus.label_names,
        "systems": systems,
        "valence_targets": {c: round(float(np.mean([targets[n][valence] for n in targets if categories[n] == c])), 4)
                            for c in sorted(set(categories.values()))},
    }
    result["best_models"] = best_models(systems)
    without = [b for b in result["best_models"] if not b["speaker_statistics"]]
    if without:  # the headline: scored as the baseline is when such a row exists (PROTOCOL_GROUPS' order)
        result["best_model"] = without[0]["name"]
        result["best_model_chosen_by"] = without[0]["chosen_by"]
        result["valence_by_category"] = without[0]["valence_by_category"]
        result["happiness_valence_above"] = without[0]["happiness_valence_above"]
    with_statistics = [b for b in result["best_models"] if b["speaker_statistics"]]
    if with_statistics:
        result["best_model_with_speaker_statistics"] = with_statistics[0]
    result["wall_s"] = round(time.perf_counter() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    args.markdown.write_text(markdown(result))
    print(args.markdown.read_text())
    print(f"{args.json} and {args.markdown} written in {result['wall_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
