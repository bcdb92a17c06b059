"""Leave one corpus out over EmoDB, RAVDESS, nEMO and ASED -> benchmarks/results/cross_corpus.json.

    python -m benchmarks.cross_corpus [--corpora-dir ../corpora] [--emodb ../shared/data/emodb]
                                      [--work work/cross_corpus] [--json benchmarks/results/cross_corpus.json]

Protocol (issue 21): for each corpus in turn, train on the other three, choose settings on their
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
Model recipes are added to `systems` by their own runs (`kind: model`); none has been run yet.
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


def corpora_list(emodb: Path, corpora_dir: Path) -> str:
    """The `corpora` layout's YAML for the four corpora, each with its layout's default split."""
    sources = {"emodb": emodb, **{name: corpora_dir / name for name in CORPORA[1:]}}
    missing = [f"{name} ({path})" for name, path in sources.items() if not path.is_dir()]
    if missing:
        raise SystemExit(f"corpora not found: {', '.join(missing)}; fetch them as issue 21 says "
                         "(git -C MIRROR archive HEAD PATH | tar -x) or pass --corpora-dir / --emodb")
    return "corpora:\n" + "".join(f"  - {{layout: {name}, source: {sources[name].resolve()}}}\n" for name in CORPORA)


def convert_corpora(work: Path, emodb: Path, corpora_dir: Path) -> Path:
    """WORK/converted: the four corpora in one dataset (converted once, up to date afterwards)."""
    from tfrecords_tools import convert_dataset

    work.mkdir(parents=True, exist_ok=True)
    listing = work / "corpora.yaml"
    listing.write_text(corpora_list(emodb, corpora_dir), encoding="utf-8")
    report = convert_dataset("corpora", listing, work / "converted", progress=sys.stderr.isatty())
    print(report.summary(), file=sys.stderr)
    return work / "converted"


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


def mean_over_corpora(held_out: Dict[str, Dict[str, float]]) -> Dict[str, float]:
    return {key: round(float(np.mean([scores[key] for scores in held_out.values()])), 4) for key in METRICS}


def machine() -> dict:
    from emorec.training.precision import SPEED_RELEVANT_CPU_FLAGS, read_cpu_flags

    flags = read_cpu_flags()
    return {"cpu_flags": sorted(set(SPEED_RELEVANT_CPU_FLAGS) & flags), "cpus": os.cpu_count()}


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
    parser.add_argument("--work", type=Path, default=Path("work/cross_corpus"))
    parser.add_argument("--systems", choices=("baseline",), default="baseline")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)

    data = convert_corpora(args.work, args.emodb, args.corpora_dir)
    corpus = load_corpus(data, args.work / "egemaps_functionals.npz")
    systems = [baseline_system(corpus, statistics) for statistics in STATISTICS]
    result = {"corpora": list(CORPORA), "protocol": __doc__.split("Protocol (issue 21): ")[1].split("\n\n")[0],
              "features": FEATURE_SET, "files": {name: int((corpus.corpora == name).sum()) for name in CORPORA},
              "command": COMMAND, "date": datetime.date.today().isoformat(), "machine": machine(),
              "systems": systems}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    args.json.with_suffix(".md").write_text(format_table(result), encoding="utf-8")
    print(format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
