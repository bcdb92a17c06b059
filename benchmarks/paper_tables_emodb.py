"""The paper's Tables 2 and 3 on EmoDB, from `configs/paper/`, as the paper runs them.

    pip install -e ".[bench]"
    python -m benchmarks.paper_tables_emodb [--seeds 3] [--epochs 12]

Steps, each the README's own command (artefacts) or the package's API (tables):
  1. converts EmoDB into `converted/emodb` (sessions of 10 utterances, speakers train 03 08 09 10
     12 13 / devel 11 14 / test 15 16; reused when already converted: `benchmarks.emodb_folders`);
  2. trains the semantic artefacts on the TRAIN partition with the paper configs' `semantic:`
     sections (`emorec semantic word2vec|speech2vec|align --config`): the alignment is the
     paper's unsupervised one (adversarial, then Procrustes refinement), never the supervised
     stand-in; then writes the frame features with given boundaries (the converted word timings)
     and with the transcript-free segmenter's (`emorec semantic features --config`). Artefacts
     already in `RUNS/artefacts` are reused;
  3. `emorec ablation --seeds N` over `configs/paper/table2_*.yaml` and `table3_*.yaml`: each row
     trained on train with given boundaries, its epoch chosen on devel, and scored on the partition
     the configs name (**devel**, as the paper's tables) with **segmenter** boundaries: the text is
     discarded at evaluation (the Word2Vec row cannot be: its features look the transcript's words
     up, so it is scored with given boundaries and says so). The same runs are also scored on test;
  4. the *matched* protocol beside it: each semantic run scored again with given boundaries at
     evaluation too (text at evaluation), so the cost of discarding the text is measured, not assumed.

EmoDB stands in for SEWA (licensed, absent), with the batch size and learning rate of
`configs/emodb_paralinguistic.yaml` (8 and 5e-4: EmoDB gives few steps per epoch) and an epoch
budget that fits a 2-core CPU (`--epochs`); everything else is the paper configs'. Targets are
derived from EmoDB's categories (NRC VAD lexicon), not annotated.

Writes `benchmarks/results/paper_tables_emodb.json` (`tables`: {"2", "3"}: rows with mean and sd
per dimension over seeds for devel (segmenter boundaries at evaluation), devel with given
boundaries (matched), and test) and `benchmarks/results/paper_tables_emodb.md`.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.emodb_folders import SESSION_DATA, SOURCE, convert_folders  # noqa: E402

DATA = SESSION_DATA
COMMAND = "python -m benchmarks.paper_tables_emodb"
RUNS = Path("runs/paper_emodb")
RESULTS_JSON = Path("benchmarks/results/paper_tables_emodb.json")
RESULTS_MD = Path("benchmarks/results/paper_tables_emodb.md")
TABLES = {"2": "configs/paper/table2_*.yaml", "3": "configs/paper/table3_*.yaml"}
#: The config whose `semantic:` sections train the artefacts (all paper configs hold the same ones).
ARTEFACT_CONFIG = Path("configs/paper/table3_attention.yaml")
#: As configs/emodb_paralinguistic.yaml: EmoDB is small, batch 8 and a larger rate give enough steps.
EMODB_OVERRIDES = ("training.learning_rate=5e-4", "data.batch_size=8")
GIVEN_FEATURES = {"speech2vec", "aligned_speech2vec", "word2vec"}
SEGMENTER_FEATURES = {"speech2vec", "aligned_speech2vec"}


def emorec_command(*args: str) -> List[str]:
    # The console script of this interpreter's environment first: a venv's python may run unactivated.
    beside = Path(sys.executable).parent / "emorec"
    executable = str(beside) if beside.is_file() else shutil.which("emorec")
    if executable is None:
        raise SystemExit("the emorec command is not on PATH: pip install -e '.[bench]' in this environment")
    return [executable, *args]


def features_args(data: Path, source: str, boundaries: str, runs: Path = RUNS) -> List[str]:
    """`emorec semantic features` arguments that write `data`'s features of one setting with the
    artefacts in `runs/artefacts`, segmented as ARTEFACT_CONFIG says."""
    return ["semantic", "features", str(data), "--source", source, "--boundaries", boundaries,
            "--artefacts", str(runs / "artefacts"), "--config", str(ARTEFACT_CONFIG)]


def build_artefacts(runs: Path) -> Dict[str, float]:
    """The README's semantic commands, each skipped when its output exists; seconds per step."""
    from emorec.data.semantic_features import semantic_features_dir

    art = runs / "artefacts"
    config = str(ARTEFACT_CONFIG)
    steps = [
        ("word2vec", art / "word2vec.bin",
         ["semantic", "word2vec", str(DATA), str(art / "word2vec.bin"), "--partition", "train", "--config", config]),
        ("speech2vec", art / "speech2vec",
         ["semantic", "speech2vec", str(DATA), str(art / "speech2vec"), "--partition", "train", "--config", config]),
        ("align", art / "alignment.npy",
         ["semantic", "align", str(art / "speech2vec"), str(art / "word2vec.bin"), str(art / "alignment.npy"),
          "--config", config]),
    ]
    for source in sorted(GIVEN_FEATURES):
        steps.append((f"features {source} given", semantic_features_dir(DATA, source, "given"),
                      features_args(DATA, source, "given", runs)))
    for source in sorted(SEGMENTER_FEATURES):
        steps.append((f"features {source} segmenter", semantic_features_dir(DATA, source, "segmenter"),
                      features_args(DATA, source, "segmenter", runs)))
    seconds = {}
    for name, output, args in steps:
        if output.exists():
            print(f"{name}: {output} exists, reused")
            continue
        started = time.perf_counter()
        subprocess.run(emorec_command(*args), check=True)
        seconds[name] = round(time.perf_counter() - started, 1)
        print(f"{name}: {seconds[name]} s")
    return seconds


def matched_scores(row: dict, partition: str) -> Dict[str, dict]:
    """A semantic row's seeds scored with given boundaries at evaluation (the text kept): per key
    mean/sd/values (`emorec evaluate --boundaries given`, into `evaluation/<data>-<partition>-given-boundaries/`)."""
    from emorec.evaluation import evaluate_run
    from emorec.training.seeds import aggregate_ccc, seed_run_dirs

    by_seed = {}
    for seed, folder in seed_run_dirs(row["run_dir"]).items():
        summary = evaluate_run(folder, DATA, partition, boundaries="given", plot=False, postprocess=False,
                               echo=None, overwrite=True, report=False)
        by_seed[seed] = summary["ccc_raw"]
    summary = aggregate_ccc(by_seed, row["label_names"])["ccc"]
    return {key: rounded(stats) for key, stats in summary.items()}


def table_rows(table: str, *, seeds: int, epochs: int, runs: Path) -> List[dict]:
    from emorec.config import load_config
    from emorec.experiments.ablation import run_ablation

    paths = sorted(Path().glob(TABLES[table]))
    runs_root = runs / f"table{table}"
    by_partition = {}
    for partition in ("devel", "test"):
        run_ablation(paths, DATA, runs_root, epochs=epochs, overrides=EMODB_OVERRIDES, partition=partition,
                     seeds=seeds, echo=print)
        by_partition[partition] = json.loads((runs_root / "ablation.json").read_text(encoding="utf-8"))["rows"]
    rows = []
    for devel, test in zip(by_partition["devel"], by_partition["test"]):
        config = load_config(devel["config"])
        semantic = config.model.semantic_features
        entry = {
            "config": devel["config"], "name": devel["name"], "run_dir": devel["run_dir"],
            "semantic_source": semantic.source if semantic.source != "none" else None,
            "paralinguistic": config.model.paralinguistic,
            "fusion": config.model.fusion.kind if semantic.source != "none" and config.model.paralinguistic else None,
            "training_boundaries": semantic.boundaries if semantic.source != "none" else None,
            "evaluation_boundaries": semantic.at_evaluation().boundaries if semantic.source != "none" else None,
            "label_names": devel["label_names"], "seeds": devel["seeds"], "epochs": devel["epochs"],
            "devel_ccc": {k: rounded({"mean": devel["ccc"][k], "sd": devel["ccc_sd"][k],
                                      "values": devel["ccc_per_seed"][k]}) for k in devel["ccc"]},
            "test_ccc": {k: rounded({"mean": test["ccc"][k], "sd": test["ccc_sd"][k],
                                     "values": test["ccc_per_seed"][k]}) for k in test["ccc"]},
        }
        if entry["evaluation_boundaries"] == "segmenter":
            entry["devel_ccc_given_boundaries"] = matched_scores(entry, "devel")
        rows.append(entry)
    return rows


def rounded(stats: dict) -> Dict[str, object]:
    """`{"mean", "sd", "values"}` over seeds to 4 decimals, as the results file keeps them."""
    return {"mean": round(float(stats["mean"]), 4),
            "sd": None if stats["sd"] is None else round(float(stats["sd"]), 4),
            "values": [round(float(v), 4) for v in stats["values"]]}


def cell(score: dict) -> str:
    from emorec.training.seeds import format_mean_sd

    return format_mean_sd(score["mean"], score.get("sd"))


def markdown(result: dict) -> str:
    lines = [
        "# The paper's Tables 2 and 3 on EmoDB",
        "",
        f"Written by `{result['command']}` on {result['machine']}. EmoDB sessions (`converted/emodb`), "
        "speaker-independent split train 03 08 09 10 12 13 / devel 11 14 / test 15 16; derived targets "
        "(categories through the NRC VAD lexicon). Each row is a `configs/paper/` config with "
        f"`--set {' --set '.join(EMODB_OVERRIDES)}` and a budget of {result['epochs']} epochs, trained on train "
        f"over {result['seeds']} seeds (mean ± sd), epoch chosen on devel, raw outputs, CCC pooled over frames. "
        "Semantic artefacts trained on the train partition only; the alignment is the unsupervised one "
        "(adversarial, then Procrustes refinement). Semantic rows train on given word boundaries (the "
        "transcript's timings) and are scored with the transcript-free segmenter's boundaries (*audio only*, "
        "the paper's protocol); *given at eval* scores the same runs with the transcript's boundaries (matched).",
        "",
    ]
    for table, rows in result["tables"].items():
        label_names = rows[0]["label_names"]
        lines += [f"## Table {table}", "",
                  "| config | semantic features | paralinguistic | fusion | evaluation boundaries | "
                  + " | ".join(f"devel {n}" for n in label_names) + " | **devel mean** | devel mean, given at eval | test mean |",
                  "|---" * (8 + len(label_names)) + "|"]
        for row in rows:
            matched = row.get("devel_ccc_given_boundaries")
            lines.append(
                f"| {row['name']} | {row['semantic_source'] or '-'} | {'yes' if row['paralinguistic'] else '-'} | "
                f"{row['fusion'] or '-'} | {row['evaluation_boundaries'] or '-'} | "
                + " | ".join(cell(row["devel_ccc"][n]) for n in label_names)
                + f" | **{cell(row['devel_ccc']['mean'])}** | {cell(matched['mean']) if matched else '-'} | "
                f"{cell(row['test_ccc']['mean'])} |")
        lines.append("")
    if result.get("artefact_seconds"):
        lines.append("Artefact times (s): " + ", ".join(f"{k} {v}" for k, v in result["artefact_seconds"].items())
                     + (f" ({result['artefact_seconds_note']})" if result.get("artefact_seconds_note") else ""))
    lines.append(f"Wall time of this invocation: {result['wall_s'] / 60:.1f} min (finished runs are reused, not "
                 "timed again).")
    return "\n".join(lines) + "\n"


def main() -> None:
    from emorec.training.hardware import machine_summary

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--runs", type=Path, default=RUNS)
    parser.add_argument("--tables", default="2,3", help="comma-separated, of 2 and 3 (default both)")
    parser.add_argument("--json", type=Path, default=RESULTS_JSON)
    parser.add_argument("--markdown", type=Path, default=RESULTS_MD)
    args = parser.parse_args()
    started = time.perf_counter()

    convert_folders(SOURCE)
    artefact_seconds = build_artefacts(args.runs)
    tables = {table: table_rows(table, seeds=args.seeds, epochs=args.epochs, runs=args.runs)
              for table in args.tables.split(",")}
    result = {
        "command": f"{COMMAND} --seeds {args.seeds} --epochs {args.epochs}",
        "machine": machine_summary(),
        "seeds": args.seeds, "epochs": args.epochs, "overrides": list(EMODB_OVERRIDES),
        "artefact_seconds": artefact_seconds, "tables": tables,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    args.markdown.write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


if __name__ == "__main__":
    main()
