"""`AtomicBackupAndRestore`: Keras' BackupAndRestore with a backup that a crash cannot corrupt.

Keras writes `backup/latest.weights.h5` in place and `training_metadata.json` after it: a
`kill -9` during the write leaves a truncated weights file (the rerun crashes loading it), and a
kill between the two leaves weights of epoch N+1 with the epoch number N. Here each backup is one
generation committed by a single rename:

    backup/weights-<epoch>.weights.h5   written as .tmp-weights-<epoch>.weights.h5, fsynced, renamed
    backup/state.json                   {"epoch": N, "weights": "weights-N.weights.h5"}, replaced
                                        atomically after the weights file is in place

`train_model` places this callback after the run's other epoch-end callbacks, so a committed
epoch has its history row and models written. `state.json` names the generation to restore; the previous generation is deleted only after the
new `state.json` is durable, so at every instant one complete generation is named. The backup is
not deleted at the end of `fit`: `train_model` marks the run finished first (run.json) and then
removes it, so that a missing backup never makes an unfinished run look finished.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import keras

from emorec.data.atomic import atomic_write_text, fsync_folder, replace_durably
from emorec.errors import InputFileError, PathLike

STATE_FILENAME = "state.json"
_WEIGHTS_PATTERN = "weights-{epoch}.weights.h5"
# What Keras' own BackupAndRestore wrote (runs started before this callback): still restored.
_LEGACY_WEIGHTS = "latest.weights.h5"
_LEGACY_METADATA = "training_metadata.json"


def backup_exists(backup_dir: PathLike) -> bool:
    """Whether `backup_dir` holds a committed backup generation (or a Keras legacy one)."""
    backup_dir = Path(backup_dir)
    return (backup_dir / STATE_FILENAME).is_file() or (backup_dir / _LEGACY_METADATA).is_file()


class AtomicBackupAndRestore(keras.callbacks.Callback):
    """Back up weights, optimiser state and the epoch at every epoch end; restore them at the start
    of `fit` (the model continues at the epoch after the last backup).

    Args:
        backup_dir: a folder used by this callback only (`<run>/backup`).
    """

    def __init__(self, backup_dir: PathLike):
        super().__init__()
        self.backup_dir = Path(backup_dir)
        self.restored_epoch: Optional[int] = None

    # -- restore --------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        state = self._read_state()
        if state is None:
            return
        epoch, weights = state
        if self.model.optimizer is not None and not self.model.optimizer.built:
            # The optimiser's slots must exist before its saved values can be loaded into them.
            self.model.optimizer.build(self.model.trainable_variables)
        try:
            self.model.load_weights(weights)
        except Exception as error:  # noqa: BLE001 - one line naming the file, not h5py's traceback
            first_line = (str(error).strip().splitlines() or [""])[0][:200]
            raise InputFileError(weights, f"training backup unreadable ({type(error).__name__}: {first_line}); "
                                          f"delete {self.backup_dir} to start the run over") from None
        self.model._initial_epoch = epoch  # what Keras' BackupAndRestore sets: fit starts at this epoch
        self.restored_epoch = epoch

    def _read_state(self):
        state_path = self.backup_dir / STATE_FILENAME
        if state_path.is_file():
            try:
                state = json.loads(state_path.read_text(encoding="utf-8"))
                epoch, name = int(state["epoch"]), str(state["weights"])
            except (ValueError, KeyError, TypeError) as error:
                raise InputFileError(state_path, f"training backup state unreadable ({error}); "
                                                 f"delete {self.backup_dir} to start the run over") from None
            return epoch, self.backup_dir / name
        legacy = self.backup_dir / _LEGACY_METADATA
        if legacy.is_file() and (self.backup_dir / _LEGACY_WEIGHTS).is_file():
            return int(json.loads(legacy.read_text(encoding="utf-8"))["epoch"]), self.backup_dir / _LEGACY_WEIGHTS
        return None

    # -- back up --------------------------------------------------------------------------------
    def on_epoch_end(self, epoch, logs=None):
        self.save(epoch + 1)

    def save(self, epochs_done: int) -> None:
        """Commit a generation holding the state after `epochs_done` epochs."""
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        name = _WEIGHTS_PATTERN.format(epoch=epochs_done)
        # Keras insists on the `.weights.h5` ending, so the temporary name keeps it.
        temporary = self.backup_dir / f".tmp-{name}"
        self._write_weights(temporary)
        replace_durably(temporary, self.backup_dir / name)
        atomic_write_text(self.backup_dir / STATE_FILENAME, json.dumps({"epoch": epochs_done, "weights": name}))
        # Only now is the older generation unreferenced.
        for path in self.backup_dir.iterdir():
            if path.name not in (name, STATE_FILENAME) and path.is_file():
                path.unlink(missing_ok=True)
        fsync_folder(self.backup_dir)

    def _write_weights(self, path: Path) -> None:
        self.model.save_weights(str(path), overwrite=True)
