"""`run_ablation`: train and test several configs on one converted folder, one markdown table.

This makes the paper's Tables 2 and 3 one command each (`configs/paper/table2_*.yaml`,
`configs/paper/table3_*.yaml`): every config is trained into `<runs_root>/<config file stem>/`,
its best-on-development model is scored on the partition the configs name
(`evaluation.partition`, e.g. devel for the paper's tables; else the test partition; CCC pooled
over the partition's frames, as `emorec evaluate` does) and each config becomes one row of

    | config | semantic features | paralinguistic | fusion | <dim 1> | ... | <dim N> | mean |

A run folder that already holds a finished run of the same resolved config is scored again
without retraining, so a table can be regenerated (e.g. on another partition) cheaply; one that
holds a different config is an error rather than a silently mixed table.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from emorec.config import ExperimentConfig, apply_overrides, config_to_dict, load_config
from emorec.data.manifest import require_labelled_partition
from emorec.data.semantic_features import resolve_semantic_features
from emorec.errors import EmorecError, PathLike

#: Display names of the semantic sources (the row labels of the paper's Table 2).
SOURCE_LABELS = {
    "none": "-",
    "word2vec": "Word2Vec (text)",
    "speech2vec": "Speech2Vec",
    "aligned_speech2vec": "aligned Speech2Vec",
}
FUSION_LABELS = {"concat": "concatenation", "attention": "disentangled attention"}
ABLATION_JSON = "ablation.json"


def describe_model(config: ExperimentConfig) -> Dict[str, str]:
    """The table cells that say what a config's model is: semantic source and boundaries,
    paralinguistic branch, fusion (only when both branches are on)."""
    model = config.model
    semantic_on = model.semantic_features.source != "none"
    semantic = SOURCE_LABELS[model.semantic_features.source]
    if semantic_on:
        semantic += f", {model.semantic_features.boundaries} boundaries"
        evaluated = model.semantic_features.at_evaluation().boundaries
        if evaluated != model.semantic_features.boundaries:
            semantic += f" (evaluated on {evaluated})"
    fusion = "-"
    if semantic_on and model.paralinguistic:
        fusion = FUSION_LABELS[model.fusion.kind]
        if model.fusion.kind == "attention":
            fusion += f" (d_u {model.fusion.projection_units}, heads {model.fusion.head_activation}"
            fusion += f" {model.fusion.head_units or model.fusion.projection_units}, order {model.fusion.head_order})"
    return {"semantic": semantic, "paralinguistic": "yes" if model.paralinguistic else "-", "fusion": fusion}


def run_ablation(
    config_paths: Sequence[PathLike],
    data_dir: PathLike,
    runs_root: PathLike,
    *,
    epochs: Optional[int] = None,
    overrides: Sequence[str] = (),
    partition: Optional[str] = None,
    postprocess: bool = False,
    seeds: Optional[int] = None,
    out: Optional[PathLike] = None,
    verbose: int = 0,
    echo: Optional[Callable[[str], None]] = print,
) -> str:
    """Train each config on `data_dir`, score it on `partition`, return the markdown table.

    partition: default the configs' `evaluation.partition` (else `data.test_partition`), which
    must then agree (one table, one partition). A partition without labels is refused before
    anything is trained.

    epochs / overrides (dotted `key=value`, see `apply_overrides`) change every config alike.
    postprocess: score post-processed predictions (fitted on development) instead of raw ones.
    seeds: train each config with N seeds (`training.seed`, +1, ...) into `<run>/seed-<s>/`
        (`emorec.training.seeds.train_seeds`) and print mean ± sd over them per cell.
    out: also write the table there. `<runs_root>/ablation.json` keeps the numbers of every row.
    """
    if not config_paths:
        raise EmorecError("run_ablation needs at least one config")
    if seeds is not None and seeds < 1:
        raise EmorecError(f"--seeds must be at least 1, got {seeds}")
    runs_root = Path(runs_root)
    configs, partition = _plan_ablation(config_paths, data_dir, epochs=epochs, overrides=overrides,
                                        partition=partition)
    rows = [_run_config(path, config, data_dir, runs_root / path.stem, partition, postprocess=postprocess,
                        seeds=seeds, verbose=verbose, echo=echo) for path, config in configs]
    table = format_ablation_table(rows, data_dir=data_dir, partition=partition, postprocess=postprocess,
                                  overrides=overrides)
    runs_root.mkdir(parents=True, exist_ok=True)
    (runs_root / ABLATION_JSON).write_text(json.dumps({"partition": partition, "data_dir": str(data_dir),
                                                       "postprocess": postprocess, "overrides": list(overrides),
                                                       "seeds": seeds, "rows": rows}, indent=2), encoding="utf-8")
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(table, encoding="utf-8")
    if echo:
        echo(table)
    return table


def _plan_ablation(config_paths: Sequence[PathLike], data_dir: PathLike, *, epochs: Optional[int],
                   overrides: Sequence[str],
                   partition: Optional[str]) -> Tuple[List[Tuple[Path, ExperimentConfig]], str]:
    """`(path, config)` per config file, with the overrides and epochs applied, and the partition
    they are scored on; raises, before anything is trained, for configs that name different
    partitions, a partition without labels, two configs of one file name, or missing semantic
    features."""
    from emorec.training.train import resolve_config

    configs = []
    for path in config_paths:
        path = Path(path)
        config = apply_overrides(load_config(path), overrides, f"{path} (overrides)")
        config = resolve_config(config, epochs=epochs)
        configs.append((path, config))
    if partition is None:
        named = {config.scored_partition for _, config in configs}
        if len(named) > 1:
            raise EmorecError(f"the configs score different partitions ({', '.join(sorted(named))}); "
                              "name one with --partition")
        partition = named.pop()
    require_labelled_partition(data_dir, partition)
    stems = [p.stem for p, _ in configs]
    if len(set(stems)) != len(stems):
        raise EmorecError(f"configs share a file name, so their run folders would collide: {stems}")
    for path, config in configs:  # every config's semantic features exist before hours of training
        for semantic in (config.model.semantic_features, config.model.semantic_features.at_evaluation()):
            resolve_semantic_features(data_dir, semantic, segmenter=config.semantic.segmenter, config_source=str(path))
    return configs, partition


def _run_config(path: Path, config: ExperimentConfig, data_dir: PathLike, run_dir: Path, partition: str, *,
                postprocess: bool, seeds: Optional[int], verbose: int,
                echo: Optional[Callable[[str], None]]) -> dict:
    """Train `config` into `run_dir` (unless finished there already) and score it on `partition`:
    its row of ablation.json, `ccc` per dimension (mean over seeds, with `ccc_sd` and
    `ccc_per_seed`, when `seeds`)."""
    from emorec.evaluation.evaluate import evaluate_run

    started = time.perf_counter()
    if seeds is None:
        trained = _train_once(path, config, data_dir, run_dir, verbose, echo)
    else:
        trained = _train_seeds(path, config, data_dir, run_dir, seeds, verbose, echo)
    train_s = time.perf_counter() - started
    # overwrite: a rerun scores a finished run again on purpose (see "scoring it again").
    # A seed folder is scored per seed and summarised by evaluate_seeds (mean ± sd).
    summary = evaluate_run(run_dir, data_dir, partition, plot=False, postprocess=postprocess, echo=None,
                           overwrite=True)
    scores = summary["ccc_postprocessed"] if postprocess else summary["ccc_raw"]
    row = {"config": str(path), "name": path.stem, "run_dir": str(run_dir), **describe_model(config),
           "label_names": summary["label_names"], "epochs": config.training.epochs,
           "train_s": round(train_s, 1) if trained else None}
    if seeds is None:
        row.update(ccc=scores, recordings=summary["recordings"], frames=summary["frames"],
                   semantic_features=summary.get("semantic_features"))
    else:  # {key: {"mean", "sd", "values"}} (emorec.training.seeds.aggregate_ccc)
        first = json.loads(Path(next(iter(summary["runs"].values()))).read_text(encoding="utf-8"))
        row.update(ccc={k: v["mean"] for k, v in scores.items()}, ccc_sd={k: v["sd"] for k, v in scores.items()},
                   ccc_per_seed={k: v["values"] for k, v in scores.items()}, seeds=summary["seeds"],
                   recordings=first["recordings"], frames=first["frames"],
                   semantic_features=first.get("semantic_features"))
    if echo:
        echo(f"[{path.stem}] {partition} mean CCC {row['ccc']['mean']:.3f}"
             + (f" (mean of {seeds} seeds)" if seeds else ""))
    return row


def _same_config_or_refuse(run_dir: Path, config: ExperimentConfig, path: Path) -> None:
    from emorec.training.run_folder import CONFIG_FILENAME

    previous = load_config(run_dir / CONFIG_FILENAME)
    if config_to_dict(previous) != config_to_dict(config):
        raise EmorecError(f"{run_dir}: holds a finished run of another config than {path} (with these "
                          "overrides); delete it or choose another --runs folder")


def _train_once(path: Path, config: ExperimentConfig, data_dir: PathLike, run_dir: Path, verbose: int,
                echo: Optional[Callable[[str], None]]) -> bool:
    """Train one run into `run_dir` unless a finished run of the same config is there; True if trained."""
    from emorec.training.run_folder import run_finished
    from emorec.training.seeds import seed_run_dirs
    from emorec.training.train import train_model

    if seed_run_dirs(run_dir):
        raise EmorecError(f"{run_dir}: holds runs of several seeds (seed-<s>/); pass --seeds or choose another "
                          "--runs folder")
    if run_finished(run_dir):
        _same_config_or_refuse(run_dir, config, path)
        if echo:
            echo(f"[{path.stem}] finished run found in {run_dir}; scoring it again")
        return False
    if echo:
        echo(f"[{path.stem}] training {config.training.epochs} epochs into {run_dir}")
    train_model(config, data_dir, run_dir, verbose=verbose)
    return True


def _train_seeds(path: Path, config: ExperimentConfig, data_dir: PathLike, run_dir: Path, seeds: int, verbose: int,
                 echo: Optional[Callable[[str], None]]) -> bool:
    """Train the seeds of `config` into `run_dir/seed-<s>/` (finished ones kept, unfinished ones
    resumed, by `train_seeds`); True if any was trained."""
    from emorec.training.run_folder import RUN_INFO_FILENAME, run_finished
    from emorec.training.seeds import seed_run_dir, train_seeds

    if (run_dir / RUN_INFO_FILENAME).is_file():
        raise EmorecError(f"{run_dir}: holds a single run, not seed-<s>/ folders; drop --seeds or choose another "
                          "--runs folder")
    seed_values = range(config.training.seed, config.training.seed + seeds)
    finished = [s for s in seed_values if run_finished(seed_run_dir(run_dir, s))]
    for seed in finished:
        seeded = dataclasses.replace(config, training=dataclasses.replace(config.training, seed=seed))
        _same_config_or_refuse(seed_run_dir(run_dir, seed), seeded, path)
    if echo:
        echo(f"[{path.stem}] seeds {seed_values[0]}..{seed_values[-1]} into {run_dir} "
             f"({len(finished)} finished, {seeds - len(finished)} to train, {config.training.epochs} epochs each)")
    train_seeds(config, data_dir, run_dir, seeds, echo=None, verbose=verbose)
    return len(finished) < seeds


def format_ablation_table(rows: Sequence[dict], *, data_dir: PathLike, partition: str, postprocess: bool = False,
                          overrides: Sequence[str] = ()) -> str:
    """Markdown: a caption line, then one row per config with CCC per dimension and the mean."""
    if not rows:
        raise ValueError("no rows to format")
    label_names = list(rows[0]["label_names"])
    for row in rows[1:]:
        if list(row["label_names"]) != label_names:
            raise EmorecError(f"{row['config']}: label dimensions {row['label_names']} differ from {label_names}")
    first = rows[0]
    kind = "post-processed (fitted on development)" if postprocess else "raw"
    seeds = first.get("seeds")
    spread = f" Mean ± sd (sample) over seeds {', '.join(map(str, seeds))}." if seeds else ""
    lines = [
        f"CCC on the {partition} partition of `{data_dir}` ({first['recordings']} recordings, {first['frames']} "
        f"labelled frames), pooled over recordings, {kind} predictions."
        + spread + (f" Overrides: `{' '.join(overrides)}`." if overrides else ""),
        "",
        "| config | semantic features | paralinguistic | fusion | " + " | ".join(label_names) + " | mean | epochs |",
        "|" + "---|" * (len(label_names) + 6),
    ]
    for row in rows:
        cells = [row["name"], row["semantic"], row["paralinguistic"], row["fusion"]]
        sd = row.get("ccc_sd") or {}
        cells += [_fmt(row["ccc"].get(n), sd.get(n)) for n in [*label_names, "mean"]] + [str(row["epochs"])]
        lines.append("| " + " | ".join(cells) + " |")
    sources = sorted({r["semantic_features"] for r in rows if r.get("semantic_features")})
    if sources:
        lines += ["", "Semantic features read from: " + ", ".join(f"`{s}`" for s in sources)
                  + " (given boundaries: the converted word timings; segmenter: the transcript-free segmenter)."]
    return "\n".join(lines) + "\n"


def _fmt(value: Optional[float], sd: Optional[float] = None) -> str:
    """`0.512`, or `0.512 ± 0.020` over seeds (one seed has no sd)."""
    if value is None or value != value:  # NaN: constant predictions
        return "n/a"
    if sd is None or sd != sd:
        return f"{value:.3f}"
    return f"{value:.3f} ± {sd:.3f}"
