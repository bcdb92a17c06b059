"""The lines `model.fit` prints: Keras' progress bar with the metrics a reader needs, once each.

Keras would print the total loss, each output's loss (1 - CCC of that dimension, the same number
as its CCC), each output's CCC and both again for development: 15 numbers for three dimensions.
`EpochProgress` shows the loss, the CCC of each dimension and their mean (train and development);
`history.csv` and the returned history keep every metric. With `emorec --verbose` all are shown.
"""
from __future__ import annotations

from typing import Sequence

import keras

from emorec.data.console import is_verbose
from emorec.training.callbacks import ccc_log_key


def shown_metric_keys(label_names: Sequence[str]) -> list:
    """The log keys a progress line shows, in order: loss, per-dimension CCC, mean CCC, then the
    same for development (`val_`)."""
    keys = []
    for validation in (False, True):
        prefix = "val_" if validation else ""
        keys.append(f"{prefix}loss")
        for name in label_names:
            # Keras names an output's metric after the output's key, else the layer-safe name.
            keys.extend(dict.fromkeys([f"{prefix}{name}_ccc", ccc_log_key(name, validation)]))
        keys.append(f"{prefix}mean_ccc")
    return keys


class EpochProgress(keras.callbacks.ProgbarLogger):
    """Keras' ProgbarLogger showing `shown_metric_keys` only. Put it after `MeanCCC` (which adds
    the mean CCC at epoch end); passing it to `fit` replaces the ProgbarLogger Keras would add.
    Keras' `verbose` still decides the form: 1 a live bar, 2 one line per epoch."""

    def __init__(self, label_names: Sequence[str], show_all: bool = None):
        super().__init__()
        self.keys = shown_metric_keys(label_names)
        self.show_all = is_verbose() if show_all is None else show_all

    def _shown(self, logs):
        if logs is None or self.show_all:
            return logs
        return {key: logs[key] for key in self.keys if key in logs}

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, self._shown(logs))

    def on_test_batch_end(self, batch, logs=None):
        super().on_test_batch_end(batch, self._shown(logs))

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, self._shown(logs))

    def on_test_end(self, logs=None):
        super().on_test_end(self._shown(logs))
