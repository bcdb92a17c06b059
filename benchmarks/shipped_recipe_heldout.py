"""How the shipped model's recipe does on speakers it never heard, used the way `emorec predict` is.

    pip install -e ".[bench]"
    python -m benchmarks.shipped_recipe_heldout [--seeds 3]

The shipped model (`saved_models/emodb_paralinguistic`) is trained on all ten EmoDB speakers with
`configs/emodb_paralinguistic_all.yaml` (fixed epochs, no development set), so it has no held-out
score of its own. This trains the *same recipe* (same config, same fixed epochs, last weights
exported) on eight speakers (03 08 09 10 11 12 13 14) over seeds, exports each run as a
SavedModel and predicts the held-out speakers' (15, 16) utterance files one by one with
`emorec.export.predict.predict_files`, i.e. each file on its own, as a user's `emorec predict`
would (the causal normalisation then sees one utterance, not a session). Reported per seed and
mean ± sd: per-utterance CCC (each file's mean prediction against its category's derived target)
and the mean predicted arousal/valence/dominance per EmoDB category.

Writes `benchmarks/results/shipped_recipe_heldout.json` and `.md`.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Dict, List

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SOURCE = Path("../shared/data/emodb")
DATA = Path("converted/emodb_8speakers")
CONFIG = Path("configs/emodb_paralinguistic_all.yaml")
RUNS = Path("runs/shipped_recipe_heldout")
TRAIN_SPEAKERS = "03,08,09,10,11,12,13,14"
TEST_SPEAKERS = ("15", "16")
RESULTS_JSON = Path("benchmarks/results/shipped_recipe_heldout.json")
RESULTS_MD = Path("benchmarks/results/shipped_recipe_heldout.md")
DIMENSIONS = ("arousal", "valence", "dominance")
NEGATIVE_CATEGORIES = ("anger", "fear", "sadness", "boredom")


def category_targets() -> Dict[str, List[float]]:
    """{category: [arousal, valence, dominance]} of EmoDB's categories in the converter's label map."""
    from tfrecords_tools.categorical import DEFAULT_LABEL_MAP, load_label_map
    from tfrecords_tools.layouts.emodb import CATEGORIES

    return {category: [float(v) for v in values] for category, values in
            load_label_map(DEFAULT_LABEL_MAP).items() if category in CATEGORIES}


def main() -> None:
    import pandas as pd

    from emorec.config import load_config
    from emorec.evaluation.ccc import ccc_per_dimension
    from emorec.export.predict import ExportedModel, predict_files
    from emorec.export.saved_model import export_saved_model
    from emorec.training.seeds import format_mean_sd, mean_sd, seed_run_dir, train_seeds
    from tfrecords_tools import convert_dataset

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()

    convert_dataset("emodb", SOURCE, DATA, sessions=10, progress=False, train_speakers=TRAIN_SPEAKERS.split(","),
                    devel_speakers=[], test_speakers=list(TEST_SPEAKERS))
    config = load_config(CONFIG)
    trained = train_seeds(config, DATA, RUNS, args.seeds, verbose=2)

    labels = pd.read_csv(SOURCE / "labels.csv", dtype={"speaker": str})
    held_out = labels[labels["speaker"].isin(TEST_SPEAKERS)].sort_values("file")
    paths = [SOURCE / "wav" / name for name in held_out["file"]]
    targets = category_targets()
    gold = np.array([targets[c] for c in held_out["emotion"]])
    per_seed = {}
    for seed in trained["seeds"]:
        export_dir = RUNS / f"export-seed-{seed}"
        if not export_dir.exists():
            export_saved_model(seed_run_dir(RUNS, seed), export_dir, check_ops=False)
        report = predict_files(paths, ExportedModel(export_dir))
        if report.errors:
            raise SystemExit(f"prediction failed: {report.errors}")
        means = np.array([report.tables[str(p)][list(DIMENSIONS)].to_numpy().mean(axis=0) for p in paths])
        scores = ccc_per_dimension(gold, means, list(DIMENSIONS))
        by_category = {category: {d: round(float(v), 4) for d, v in zip(DIMENSIONS, means[rows].mean(axis=0))}
                       for category, rows in held_out.groupby("emotion").indices.items()}
        per_seed[seed] = {"per_utterance_ccc": {k: round(float(v), 4) for k, v in scores.items()},
                          "mean_prediction_by_category": by_category}

    def rounded(mean, sd):
        return {"mean": round(mean, 4), "sd": None if sd is None else round(sd, 4)}

    keys = [*DIMENSIONS, "mean"]
    summary_ccc = {k: rounded(*mean_sd([per_seed[s]["per_utterance_ccc"][k] for s in per_seed])) for k in keys}
    categories = sorted(targets)
    by_category = {c: {d: round(float(np.mean([per_seed[s]["mean_prediction_by_category"][c][d] for s in per_seed])), 4)
                       for d in DIMENSIONS} for c in categories}
    happy = by_category["happiness"]["valence"]
    result = {
        "command": f"python -m benchmarks.shipped_recipe_heldout --seeds {args.seeds}",
        "config": str(CONFIG), "train_speakers": TRAIN_SPEAKERS, "test_speakers": list(TEST_SPEAKERS),
        "epochs": config.training.epochs, "seeds": trained["seeds"], "utterances": len(paths),
        "per_utterance_ccc": summary_ccc, "per_seed": {str(s): v for s, v in per_seed.items()},
        "mean_prediction_by_category": by_category, "targets": {c: dict(zip(DIMENSIONS, targets[c])) for c in categories},
        "happiness_valence_above": {c: happy > by_category[c]["valence"] for c in NEGATIVE_CATEGORIES},
        "wall_s": round(time.perf_counter() - started, 1),
    }
    RESULTS_JSON.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# The shipped model's recipe on held-out speakers, predicted file by file",
        "",
        f"`{result['command']}`: `{CONFIG}` ({result['epochs']} fixed epochs, no devel set, last weights) trained "
        f"on EmoDB speakers {TRAIN_SPEAKERS} over seeds {', '.join(map(str, result['seeds']))}, exported, and "
        f"each of the {len(paths)} utterance files of speakers {', '.join(TEST_SPEAKERS)} predicted on its own "
        "with `predict_files` (as `emorec predict` does). Derived targets (NRC VAD lexicon). Mean ± sd over seeds.",
        "",
        "| per-utterance CCC | " + " | ".join(keys) + " |",
        "|---" * (len(keys) + 1) + "|",
        "| held-out speakers | " + " | ".join(format_mean_sd(summary_ccc[k]["mean"], summary_ccc[k]["sd"])
                                              for k in keys) + " |",
        "",
        "| category | target valence | mean predicted valence | target arousal | mean predicted arousal |",
        "|---|---|---|---|---|",
    ]
    for c in sorted(categories, key=lambda c: -by_category[c]["valence"]):
        lines.append(f"| {c} | {targets[c][1]:+.3f} | {by_category[c]['valence']:+.3f} | {targets[c][0]:+.3f} | "
                     f"{by_category[c]['arousal']:+.3f} |")
    lines += ["", "Happiness above " + ", ".join(
        f"{c}: {'yes' if above else 'no'}" for c, above in result["happiness_valence_above"].items()) + ".",
        f"Wall time: {result['wall_s'] / 60:.1f} min (finished runs are reused)."]
    RESULTS_MD.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
