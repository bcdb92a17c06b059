"""Runs over several seeds: `RUN/seed-<s>/` per seed and the mean ± sd of CCC per dimension.

`train_seeds` trains seeds `config.training.seed`, +1, ... into `RUN/seed-<s>/` and writes
`RUN/seeds.json` with the development CCC of each seed's best epoch; `mean_sd` is the one place
where per-seed scores become mean ± sd (`aggregate_ccc` for every dimension, which evaluation uses
for test scores, and the benchmarks), `format_mean_sd` the one way it is written.

The sd is the sample standard deviation over seeds (ddof=1), null for a single seed.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from emorec.config import ExperimentConfig
from emorec.errors import EmorecError, PathLike
from emorec.training.callbacks import ccc_log_key
from emorec.training.run_folder import RUN_INFO_FILENAME, read_history, run_finished
from emorec.training.train import train_model

SEEDS_FILENAME = "seeds.json"
SEED_DIR_PREFIX = "seed-"


def seed_run_dir(run_dir: PathLike, seed: int) -> Path:
    return Path(run_dir) / f"{SEED_DIR_PREFIX}{seed}"


def seed_run_dirs(run_dir: PathLike) -> Dict[int, Path]:
    """{seed: folder} of the seed runs in a multi-seed folder (empty for a single run), by seed."""
    found = {}
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return found
    for path in run_dir.iterdir():
        suffix = path.name[len(SEED_DIR_PREFIX):]
        if path.name.startswith(SEED_DIR_PREFIX) and suffix.lstrip("-").isdigit() and \
                (path / RUN_INFO_FILENAME).is_file():
            found[int(suffix)] = path
    return dict(sorted(found.items()))


def aggregate_ccc(scores_by_seed: Mapping[int, Mapping[str, float]], label_names: Sequence[str]) -> Dict[str, Any]:
    """Per-seed `{dimension: CCC, "mean": ...}` -> `{"seeds": [...], "ccc": {key: {"mean", "sd",
    "values"}}}` for every dimension and the mean over dimensions."""
    seeds = sorted(scores_by_seed)
    summary: Dict[str, Any] = {"seeds": seeds, "ccc": {}}
    for key in [*label_names, "mean"]:
        values = [float(scores_by_seed[seed][key]) for seed in seeds]
        mean, sd = mean_sd(values)
        summary["ccc"][key] = {"mean": mean, "sd": sd, "values": values}
    return summary


def mean_sd(values: Sequence[float]) -> Tuple[float, Optional[float]]:
    """The mean of per-seed values and their sample sd (ddof=1), None for a single value.

    Example:
        >>> format_mean_sd(*mean_sd([0.5, 0.7]))
        '0.600 ± 0.141'
    """
    mean = float(np.mean(values))
    return mean, (float(np.std(values, ddof=1)) if len(values) > 1 else None)


def format_mean_sd(mean: float, sd: Optional[float], digits: int = 3) -> str:
    """`0.512 ± 0.020`, or `0.512` alone where there is no sd (one seed, or a deterministic system)."""
    return f"{mean:.{digits}f}" if sd is None else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def format_seed_summary(summary: Mapping[str, Any], title: str) -> str:
    """One line per dimension: `arousal  0.5120 ± 0.0200  (3 seeds)`."""
    lines = [f"{title} CCC over seeds {', '.join(map(str, summary['seeds']))} (mean ± sd)"]
    for key, stats in summary["ccc"].items():
        sd = "n/a" if stats["sd"] is None else f"{stats['sd']:.4f}"
        lines.append(f"  {key:<12}{stats['mean']:.4f} ± {sd}")
    return "\n".join(lines)


def best_devel_ccc(history: Mapping[str, List[float]], label_names: Sequence[str]) -> Optional[Dict[str, float]]:
    """Development CCC per dimension and mean at the epoch with the best `val_mean_ccc` (the
    epoch of the run's model), or None when no epoch has a finite one."""
    means = np.asarray(history.get("val_mean_ccc", []), dtype=float)
    if not np.isfinite(means).any():
        return None
    best = int(np.nanargmax(np.where(np.isfinite(means), means, np.nan)))
    scores = {}
    for name in label_names:
        key = f"val_{name}_ccc" if f"val_{name}_ccc" in history else ccc_log_key(name)
        scores[name] = float(history[key][best])
    scores["mean"] = float(means[best])
    return scores


def train_seeds(
    config: ExperimentConfig,
    data_dir: PathLike,
    run_dir: PathLike,
    seeds: int,
    *,
    echo=print,
    **train_kwargs,
) -> Dict[str, Any]:
    """Train `seeds` runs (seeds `config.training.seed` + 0, 1, ...) into `run_dir/seed-<s>/`.

    A seed whose run finished already is kept (its history is read), an unfinished one resumes,
    so an interrupted multi-seed run is completed by running the same command again.
    `train_kwargs` go to `train_model`. Writes and returns `run_dir/seeds.json`:
    `{"seeds", "label_names", "devel": aggregate_ccc(...) or None, "runs": {seed: folder}}`.
    """
    if seeds < 1:
        raise EmorecError(f"--seeds must be at least 1, got {seeds}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    devel_scores: Dict[int, Dict[str, float]] = {}
    runs: Dict[int, str] = {}
    label_names: List[str] = []
    for seed in range(config.training.seed, config.training.seed + seeds):
        folder = seed_run_dir(run_dir, seed)
        seeded = dataclasses.replace(config, training=dataclasses.replace(config.training, seed=seed))
        history = read_history(folder) if run_finished(folder) else \
            train_model(seeded, data_dir, folder, **train_kwargs)
        label_names = json.loads((folder / RUN_INFO_FILENAME).read_text(encoding="utf-8"))["label_names"]
        runs[seed] = str(folder)
        scores = best_devel_ccc(history, label_names)
        if scores is not None:
            devel_scores[seed] = scores
    devel = aggregate_ccc(devel_scores, label_names) if len(devel_scores) == seeds else None
    summary = {"seeds": sorted(runs), "label_names": label_names, "devel": devel, "runs": runs}
    (run_dir / SEEDS_FILENAME).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if echo is not None:
        echo(format_seed_summary(devel, "development") if devel else "no development scores (no devel partition)")
        echo(f"runs and {SEEDS_FILENAME} in {run_dir}")
    return summary
