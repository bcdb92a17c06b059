"""Callbacks of a training run: development mean CCC, best-model checkpoint that survives resumes."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import keras
import numpy as np

from emorec.errors import EmorecError
from emorec.text import layer_safe_name


def ccc_log_key(dimension: str, validation: bool = True) -> str:
    """The log key Keras gives the CCC metric of one output, e.g. `val_arousal_ccc`."""
    return f"{'val_' if validation else ''}{layer_safe_name(dimension)}_ccc"


class MeanCCC(keras.callbacks.Callback):
    """Adds `val_mean_ccc` (and `mean_ccc`), the mean over dimensions, to the epoch logs.

    Must come before callbacks that monitor it (checkpoints, early stopping).
    """

    def __init__(self, label_names: Sequence[str]):
        super().__init__()
        self.label_names = list(label_names)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for validation in (False, True):
            prefix = "val_" if validation else ""
            # Keras names an output's metric after the output's key; fall back to the layer-safe name.
            keys = [f"{prefix}{n}_ccc" if f"{prefix}{n}_ccc" in logs else ccc_log_key(n, validation)
                    for n in self.label_names]
            if all(k in logs for k in keys):
                logs[f"{prefix}mean_ccc"] = float(np.mean([float(logs[k]) for k in keys]))


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the whole model (`.keras`) whenever `monitor` beats the best so far (higher is better).

    The best value and its epoch live in `<filepath>.json` beside the model, so a resumed run
    (BackupAndRestore) keeps comparing against the best of the epochs before the interruption.
    """

    def __init__(self, filepath, monitor: str = "val_mean_ccc", enabled: bool = True):
        super().__init__()
        self.filepath = Path(filepath)
        self.state_path = self.filepath.with_suffix(".json")
        self.monitor = monitor
        self.enabled = enabled
        self.best = -np.inf
        self.best_epoch: Optional[int] = None

    def on_train_begin(self, logs=None):
        if self.state_path.is_file():
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            self.best, self.best_epoch = float(state["best"]), state["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not np.isfinite(value) or value <= self.best:
            return
        self.best, self.best_epoch = float(value), epoch + 1
        if self.enabled:
            self.model.save(self.filepath, overwrite=True)
            state = {"monitor": self.monitor, "best": self.best, "epoch": self.best_epoch}
            self.state_path.write_text(json.dumps(state, indent=2), encoding="utf-8")


class NonFiniteTrainingError(EmorecError):
    """The training loss or the weights became NaN or infinite; the run is left unfinished."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises `NonFiniteTrainingError` at the first batch whose loss is NaN or infinite, and at an
    epoch end whose weights are: the run stops before the bad state is backed up or saved as
    last.keras (this callback must come before the backup and checkpoint callbacks).

    Keras' TerminateOnNaN only sets `stop_training`, which ends `fit` normally, so the run would
    look finished and its all-NaN weights would be exported.
    """

    def __init__(self, learning_rate_hint: str = "training.learning_rate"):
        super().__init__()
        self.learning_rate_hint = learning_rate_hint
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(np.asarray(loss))):
            raise NonFiniteTrainingError(
                f"training loss is {float(np.asarray(loss))} at epoch {self._epoch + 1}, batch {batch + 1}; "
                f"lower {self.learning_rate_hint} (or training.clip_norm) and train again; the run stays unfinished")

    def on_epoch_end(self, epoch, logs=None):
        # The last batch's update can make the weights non-finite while its own loss was finite.
        bad = [w.path for w in self.model.weights if not np.all(np.isfinite(keras.ops.convert_to_numpy(w.value)))]
        if bad:
            raise NonFiniteTrainingError(
                f"weights became NaN or infinite at epoch {epoch + 1} ({bad[0]}); lower {self.learning_rate_hint} "
                "(or training.clip_norm) and train again; the run stays unfinished")
