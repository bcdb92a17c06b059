"""A run folder: its file names, `run.json`, and the one rule that picks a run's model.

`emorec train` writes it; evaluation, export, the ablation and the demo read it through here, so
they all pick the same model from one run.

    config.yaml     the resolved config (command-line overrides applied)
    run.json        label names, the data folder and manifest used, model file names, precision,
                    the semantic features folder and its vector size (semantic models)
    best.keras      the model with the best development mean CCC (+ best.json: its value, epoch);
                    not written without a devel set (data.devel_partition: null), where run.json
                    names last.keras as the run's model
    last.keras      the model after the last finished epoch
    history.csv     one row per epoch (CSVLogger, appended across resumes)
    logs/           TensorBoard
    backup/         the last epoch's training state while a run is unfinished (written atomically,
                    see `emorec.training.backup`); a rerun resumes from it

A run is finished when run.json says `"finished": true`, written once `fit` has returned and
before backup/ is removed; the absence of backup/ alone proves nothing (a user may delete it,
a kill may come before the first backup).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

import keras

from emorec.errors import InputFileError, PathLike

RUN_INFO_FILENAME = "run.json"
CONFIG_FILENAME = "config.yaml"
BEST_MODEL_FILENAME = "best.keras"
LAST_MODEL_FILENAME = "last.keras"
HISTORY_FILENAME = "history.csv"
LOGS_DIRNAME = "logs"
BACKUP_DIRNAME = "backup"


def write_run_info(run_dir: PathLike, info: dict) -> Path:
    """Write run.json atomically (a kill mid-write must not leave half a JSON file)."""
    from emorec.data.atomic import atomic_write_text

    return atomic_write_text(Path(run_dir) / RUN_INFO_FILENAME, json.dumps(info, indent=2))


def mark_run_finished(run_dir: PathLike) -> None:
    """Set run.json's `finished` to true: the one marker of a run that trained all its epochs."""
    info = load_run_info(run_dir)
    info["finished"] = True
    write_run_info(run_dir, info)


def load_run_info(run_dir: PathLike) -> dict:
    """`run.json` of a run folder; a `DatasetError`-style `InputFileError` when it is missing."""
    path = Path(run_dir) / RUN_INFO_FILENAME
    if not path.is_file():
        raise InputFileError(path, "not a run folder written by `emorec train` (run.json missing)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputFileError(path, f"not valid JSON ({error.msg} at line {error.lineno})") from None


def run_info_or_empty(run_dir: PathLike) -> dict:
    """run.json of a run folder, or {} for a folder that only holds a .keras model."""
    return load_run_info(run_dir) if (Path(run_dir) / RUN_INFO_FILENAME).is_file() else {}


def run_finished(run_dir: PathLike) -> bool:
    """Whether the run trained to its end: run.json's `finished` marker. Run folders written before
    the marker existed (no `finished` key) fall back to the old rule: last model, no backup."""
    run_dir = Path(run_dir)
    try:
        info = run_info_or_empty(run_dir)
    except InputFileError:
        return False
    if "finished" in info:
        return info["finished"] is True
    return (run_dir / LAST_MODEL_FILENAME).is_file() and not (run_dir / BACKUP_DIRNAME).is_dir()


def run_label_names(run_dir: PathLike) -> Optional[List[str]]:
    """run.json's label names (the dimension order of the training data), or None."""
    names = run_info_or_empty(run_dir).get("label_names")
    return list(names) if names else None


def find_run_model(run_dir: PathLike, model_file: Optional[str] = None) -> Path:
    """The model file of a run folder: `model_file` when given, else run.json's `best_model` (the
    best on development; last.keras for a run without a devel set), which must exist. A folder
    without run.json (models saved by hand) gives its newest `*best*.keras`, else the newest
    `.keras` anywhere below."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputFileError(run_dir, "run folder not found")
    info = run_info_or_empty(run_dir)
    if model_file is None and not info:
        candidates = sorted(run_dir.rglob("*.keras"))
        if not candidates:
            raise InputFileError(run_dir, "no .keras model in this run folder (did training finish?)")
        best = [path for path in candidates if "best" in path.name]
        return max(best or candidates, key=lambda path: path.stat().st_mtime)
    path = run_dir / (model_file or info.get("best_model", BEST_MODEL_FILENAME))
    if not path.is_file():
        raise InputFileError(path, "model file missing; did `emorec train` finish an epoch?")
    return path


def load_run_model(run_dir: PathLike, model_file: Optional[str] = None) -> keras.Model:
    """The Keras model `find_run_model` picks, for inference, with emorec's custom objects registered."""
    import emorec.models  # noqa: F401  (registers emorec's serialisable layers)
    from emorec.training import losses, metrics  # noqa: F401  (and the loss and metric classes)

    path = find_run_model(run_dir, model_file)
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - report which file failed and why, in one line
        first_line = (str(error).strip().splitlines() or [""])[0][:200]
        raise InputFileError(path, f"cannot load Keras model ({type(error).__name__}: {first_line})") from None


def read_history(run_dir: PathLike) -> Dict[str, List[float]]:
    """The per-epoch logs of a run (all epochs, across resumes) as `{key: [value per epoch]}`."""
    path = Path(run_dir) / HISTORY_FILENAME
    # CSVLogger creates the file at the start of fit: a run stopped in its first epoch leaves it empty.
    if not path.is_file() or path.stat().st_size == 0:
        return {}
    import pandas as pd

    frame = pd.read_csv(path).drop_duplicates("epoch", keep="last")
    return {column: frame[column].tolist() for column in frame.columns}


def run_normalisation(run_dir: PathLike):
    """`data.normalisation` of a run folder's config.yaml (kind none for a folder without one): what
    export must reproduce in the serving graph."""
    from emorec.config import NormalisationConfig, load_config

    path = Path(run_dir) / CONFIG_FILENAME
    return load_config(path).data.normalisation if path.is_file() else NormalisationConfig()
