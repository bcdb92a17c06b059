"""Leave one corpus out over EmoDB, RAVDESS, nEMO and ASED -> benchmarks/results/cross_corpus.json.

    python -m benchmarks.cross_corpus [--corpora-dir ../corpora] [--emodb ../shared/data/emodb]
                                      [--work work/cross_corpus] [--json benchmarks/results/cross_corpus.json]

Protocol: for each corpus in turn, train on the other three, choose settings on their
held-out speakers (devel: each corpus layout's default devel speakers), and test on every file of
the held-out corpus, one output per file. Targets are derived from the categories (NRC VAD map).
Per held-out corpus:
  * CCC of arousal and of valence against the derived targets, over files;
  * AUC of arousal, {anger, happiness} against {neutral, sadness}, and AUC of valence,
    {happiness, neutral} against {anger, sadness}: the four categories all four corpora share.

The four corpora are converted once into one dataset (`emorec convert --layout corpora`, the list
written to WORK/corpora.yaml), and reused by every later run. Systems:
  * eGeMAPS (openSMILE, 88 functionals at 16 kHz) + LinearSVR, one regressor per dimension, C
    from the AVEC grid chosen on devel by CCC, then refit on train + devel, as that community does
    (`benchmarks/baseline_egemaps.py`); features standardised with the training rows' statistics,
    or each corpus with its own (transductive for the held-out corpus: its unlabelled features are
    read before predicting; no label is).
  * model recipes (`--systems model --recipe CONFIG --seeds ...`): the recipe trained per fold on
    the three training corpora (their utterances joined into sessions, `--train-minutes` capping
    each corpus's training audio, balanced by speaker and category), its best epoch chosen on
    their devel speakers; one output per file is the mean of its frames. A rerun adds or replaces
    its row; `chosen` marks the recipe with the best devel CCC, never read from a held-out corpus.
Runs are kept under WORK/runs/<recipe>/<held-out corpus>/seed<N> and reused when finished.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks.baseline_egemaps import (COMPLEXITIES, FEATURE_SET, Corpus, load_corpus,  # noqa: E402
                                         make_regressor, standardise_with_rows)

CORPORA = ("emodb", "ravdess", "nemo", "ased")
DIMENSIONS = ("arousal", "valence")
#: (positive categories, negative categories) of each AUC.
AUC_GROUPS = {"arousal": (("anger", "happiness"), ("neutral", "sadness")),
              "valence": (("happiness", "neutral"), ("anger", "sadness"))}
METRICS = ("ccc_arousal", "ccc_valence", "auc_arousal", "auc_valence")
STATISTICS = {"training": "training statistics", "corpus": "per-corpus statistics"}
DEFAULT_JSON = Path("benchmarks/results/cross_corpus.json")
COMMAND = "python -m benchmarks.cross_corpus"


def corpus_sources(emodb: Path, corpora_dir: Path) -> Dict[str, Path]:
    """Each corpus's folder, or SystemExit naming those that are missing and how to get them."""
    sources = {"emodb": emodb, **{name: corpora_dir / name for name in CORPORA[1:]}}
    missing = [f"{name} ({path})" for name, path in sources.items() if not path.is_dir()]
    if missing:
        raise SystemExit(f"corpora not found: {', '.join(missing)}; fetch them as ../shared/data/README.md says "
                         "(git -C MIRROR archive HEAD PATH | tar -x) or pass --corpora-dir / --emodb")
    return {name: path.resolve() for name, path in sources.items()}


def corpora_list(sources: Dict[str, Path], parts: Optional[Dict[str, dict]] = None) -> str:
    """The `corpora` layout's YAML of `sources`, each part with the extra keys `parts` gives it
    (default: its layout's default split)."""
    parts = parts if parts is not None else {name: {} for name in sources}
    return "corpora:\n" + "".join(
        f"  - {json.dumps({'layout': name, 'source': str(sources[name]), **extra})}\n" for name, extra in parts.items())


def convert_list(folder: Path, listing: str) -> Path:
    """FOLDER/converted from the corpora list `listing` (written to FOLDER/corpora.yaml; converted
    once, up to date afterwards)."""
    from tfrecords_tools import convert_dataset

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpora.yaml").write_text(listing, encoding="utf-8")
    report = convert_dataset("corpora", folder / "corpora.yaml", folder / "converted", progress=sys.stderr.isatty())
    print(report.summary().splitlines()[0], file=sys.stderr)
    return folder / "converted"


def ccc(gold: np.ndarray, predicted: np.ndarray) -> float:
    from emorec.evaluation.ccc import ccc_per_dimension

    return float(ccc_per_dimension(gold[:, None], predicted[:, None], ["x"])["x"])


def held_out_scores(categories: np.ndarray, targets: np.ndarray, predictions: np.ndarray) -> Dict[str, float]:
    """The four figures of one held-out corpus. targets, predictions: `[files, 2]` (arousal, valence)."""
    from sklearn.metrics import roc_auc_score

    scores = {f"ccc_{name}": ccc(targets[:, d], predictions[:, d]) for d, name in enumerate(DIMENSIONS)}
    for d, name in enumerate(DIMENSIONS):
        positive, negative = AUC_GROUPS[name]
        rows = np.isin(categories, positive + negative)
        scores[f"auc_{name}"] = float(roc_auc_score(np.isin(categories[rows], positive), predictions[rows, d]))
    return {key: round(scores[key], 4) for key in METRICS}


def standardised(corpus: Corpus, statistics: str, training_rows: np.ndarray) -> np.ndarray:
    """Features z-scored with the training rows' statistics, or each corpus with its own."""
    if statistics == "training":
        return np.nan_to_num(standardise_with_rows(corpus.features, training_rows))
    out = np.zeros_like(corpus.features)
    for name in np.unique(corpus.corpora):
        rows = corpus.corpora == name
        out[rows] = standardise_with_rows(corpus.features, rows)[rows]
    return np.nan_to_num(out)


def baseline_predictions(corpus: Corpus, held_out: str, statistics: str) -> np.ndarray:
    """`[files of held_out, 2]`: C per dimension chosen on the other corpora's devel (CCC over
    files), then refit on their train + devel. The held-out corpus's labels are never read."""
    others = corpus.corpora != held_out
    train, devel = others & corpus.rows("train"), others & corpus.rows("devel")
    test = corpus.corpora == held_out
    targets = corpus.recording_targets()
    columns = [corpus.label_names.index(name) for name in DIMENSIONS]
    x = standardised(corpus, statistics, train)
    refit_x = standardised(corpus, statistics, train | devel)
    predictions = []
    for column in columns:
        scores = [ccc(targets[devel, column], make_regressor("linear", c).fit(x[train], targets[train, column])
                      .predict(x[devel])) for c in COMPLEXITIES]
        best = COMPLEXITIES[int(np.argmax(scores))]
        model = make_regressor("linear", best).fit(refit_x[train | devel], targets[train | devel, column])
        predictions.append(model.predict(refit_x[test]))
    return np.column_stack(predictions)


def baseline_system(corpus: Corpus, statistics: str) -> dict:
    held_out = {}
    targets = corpus.recording_targets()[:, [corpus.label_names.index(n) for n in DIMENSIONS]]
    for name in CORPORA:
        test = corpus.corpora == name
        held_out[name] = held_out_scores(corpus.categories[test], targets[test],
                                         baseline_predictions(corpus, name, statistics))
    return {"name": f"eGeMAPS + LinearSVR, {STATISTICS[statistics]}", "kind": "baseline", "seeds": [],
            "chosen": False, "statistics": statistics, "command": f"{COMMAND} --systems baseline",
            "held_out": held_out, "mean": mean_over_corpora(held_out)}


# --- model recipes --------------------------------------------------------------------------------

def fold_data(work: Path, sources: Dict[str, Path], held_out: str, sessions: int, train_minutes: int) -> Path:
    """The dataset of one fold: the three training corpora with their default devel speakers (one
    recording per file, scored as the held-out corpus is), every other speaker training (joined
    into sessions, training audio capped at `train_minutes` per corpus), and the held-out corpus
    whole in test, one recording per file."""
    # The training corpora's own test speakers train too: the fold's test partition is the held-out corpus.
    training = {"options": {"sessions": sessions, "session_partitions": ["train"], "train_minutes": train_minutes,
                            "test_speakers": []}}
    parts = {name: ({"partition": "test"} if name == held_out else training) for name in sources}
    return convert_list(work / "folds" / held_out, corpora_list(sources, parts))


def train_run(recipe: Path, data: Path, run_dir: Path, seed: int) -> Path:
    """`run_dir` trained with the recipe at `seed`, or as an earlier run left it when finished."""
    import dataclasses

    from emorec.config import load_config
    from emorec.training import train_model
    from emorec.training.run_folder import run_finished

    if not run_finished(run_dir):
        config = load_config(recipe)
        config = dataclasses.replace(config, training=dataclasses.replace(config.training, seed=seed))
        train_model(config, data, run_dir, verbose=0)
    return run_dir


def file_outputs(run_dir: Path, data: Path, *partitions: str):
    """Per partition, (categories, targets `[files, 2]`, predictions `[files, 2]`): the run's model
    (loaded once) on every file, one output per file (the mean over its frames, `emorec evaluate
    --pool recording`). One partition gives its triple alone."""
    from emorec.config import load_config
    from emorec.training.run_folder import CONFIG_FILENAME, load_run_model

    config, model = load_config(run_dir / CONFIG_FILENAME), load_run_model(run_dir)
    outputs = [_partition_outputs(model, config, data, partition) for partition in partitions]
    return outputs[0] if len(outputs) == 1 else outputs


def _partition_outputs(model, config, data: Path, partition: str):
    import tensorflow as tf

    from emorec.data.pipeline import partition_files
    from emorec.data.schema import FEATURE_SPEC
    from emorec.evaluation.evaluate import predict_partition

    results = predict_partition(model, data, partition, list(DIMENSIONS), normalisation=config.data.normalisation,
                                group_by_speaker=config.model.feature_statistics == "speaker")
    spec = {key: FEATURE_SPEC[key] for key in ("name", "category")}
    categories = {}
    for record in tf.data.TFRecordDataset(partition_files(data, partition)).map(lambda r: tf.io.parse_single_example(r, spec)):
        categories[record["name"].numpy().decode()] = record["category"].numpy().decode()
    names = [result["name"] for result in results]
    targets = np.array([result["gold"][result["mask"] > 0].mean(axis=0) for result in results])
    predictions = np.array([result["predictions"].mean(axis=0) for result in results])
    return np.array([categories[name] for name in names]), targets, predictions


def model_system(recipe: Path, work: Path, sources: Dict[str, Path], seeds: Sequence[int], sessions: int,
                 train_minutes: int) -> dict:
    """A recipe's row: per held-out corpus, the mean over seeds of its four figures (and their sd),
    and its devel CCC (the other corpora's held-out speakers), on which recipes are chosen."""
    held_out, spread, devel = {}, {}, []
    for name in CORPORA:
        data = fold_data(work, sources, name, sessions, train_minutes)
        per_seed, devel_seed = [], []
        for seed in seeds:
            run_dir = train_run(recipe, data, work / "runs" / recipe.stem / name / f"seed{seed}", seed)
            test, (_, gold, predicted) = file_outputs(run_dir, data, "test", "devel")
            per_seed.append(held_out_scores(*test))
            devel_seed.append(np.mean([ccc(gold[:, d], predicted[:, d]) for d in range(len(DIMENSIONS))]))
        held_out[name] = {key: round(float(np.mean([s[key] for s in per_seed])), 4) for key in METRICS}
        spread[name] = {key: round(float(np.std([s[key] for s in per_seed])), 4) for key in METRICS}
        devel.append(float(np.mean(devel_seed)))
    command = (f"{COMMAND} --systems model --recipe {recipe} --seeds {' '.join(map(str, seeds))} "
               f"--sessions {sessions} --train-minutes {train_minutes}")
    return {"name": f"model: {recipe.stem}", "kind": "model", "seeds": list(seeds), "chosen": False,
            "command": command, "recipe": str(recipe), "held_out": held_out, "held_out_sd": spread,
            "devel_mean_ccc": round(float(np.mean(devel)), 4), "mean": mean_over_corpora(held_out),
            "training": {"sessions": sessions, "train_minutes_per_corpus": train_minutes}}


def merged(previous: List[dict], systems: List[dict]) -> List[dict]:
    """`previous` with `systems` replacing those of the same name; `chosen` marks the model with the
    best devel CCC (the training corpora's held-out speakers: never a held-out corpus)."""
    names = {system["name"] for system in systems}
    out = [system for system in previous if system["name"] not in names] + systems
    models = [system for system in out if system["kind"] == "model"]
    best = max(models, key=lambda system: system["devel_mean_ccc"], default=None)
    for system in models:
        system["chosen"] = system is best
    return out


def mean_over_corpora(held_out: Dict[str, Dict[str, float]]) -> Dict[str, float]:
    return {key: round(float(np.mean([scores[key] for scores in held_out.values()])), 4) for key in METRICS}


def machine() -> dict:
    from emorec.training.hardware import speed_relevant_cpu_flags

    return {"cpu_flags": sorted(speed_relevant_cpu_flags()), "cpus": os.cpu_count()}


def format_table(result: dict) -> str:
    """The markdown table of a results file: one row per system and held-out corpus, and the mean."""
    lines = [f"Leave one corpus out ({', '.join(result['corpora'])}); one output per file; derived targets.",
             f"Written by `{result['command']}` on {result['date']} ({', '.join(result['machine']['cpu_flags'])}).",
             "", "| system | held-out corpus | CCC arousal | CCC valence | AUC arousal | AUC valence |",
             "|---|---|---|---|---|---|"]
    for system in result["systems"]:
        seeds = f" ({len(system['seeds'])} seeds)" if system["seeds"] else ""
        for corpus, scores in [*system["held_out"].items(), ("**mean**", system["mean"])]:
            lines.append(f"| {system['name']}{seeds} | {corpus} | " + " | ".join(f"{scores[k]:.3f}" for k in METRICS) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora-dir", type=Path, default=Path("../corpora"),
                        help="folder holding ravdess/, nemo/ and ased/ as their releases lay them out")
    parser.add_argument("--emodb", type=Path, default=Path("../shared/data/emodb"))
    parser.add_argument("--work", type=Path, default=Path("work/cross_corpus"),
                        help="converted data, feature cache and runs; reruns reuse what it holds")
    parser.add_argument("--systems", choices=("baseline", "model"), default="baseline")
    parser.add_argument("--recipe", type=Path, default=Path("configs/cross_corpus/paralinguistic.yaml"),
                        help="model: the training config of the recipe")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--sessions", type=int, default=10, help="model: training utterances joined per session")
    parser.add_argument("--train-minutes", type=int, default=0, help="model: cap on training audio per corpus")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)

    sources = corpus_sources(args.emodb, args.corpora_dir)
    if args.systems == "baseline":
        corpus = load_corpus(convert_list(args.work, corpora_list(sources)), args.work / "egemaps_functionals.npz")
        systems = [baseline_system(corpus, statistics) for statistics in STATISTICS]
    else:
        systems = [model_system(args.recipe, args.work, sources, args.seeds, args.sessions, args.train_minutes)]
    previous = json.loads(args.json.read_text(encoding="utf-8")) if args.json.is_file() else {}
    files = ({name: int((corpus.corpora == name).sum()) for name in CORPORA} if args.systems == "baseline"
             else previous.get("files"))
    result = {"corpora": list(CORPORA), "protocol": __doc__.split("Protocol: ")[1].split("\n\n")[0],
              "features": FEATURE_SET, "files": files, "command": COMMAND, "date": datetime.date.today().isoformat(),
              "machine": machine(), "systems": merged(previous.get("systems", []), systems)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    args.json.with_suffix(".md").write_text(format_table(result), encoding="utf-8")
    print(format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
