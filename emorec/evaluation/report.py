"""Writing evaluation results: AVEC-format prediction files, a CCC table, plots."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import pandas as pd

from emorec.constants import FRAME_DURATION_S


def write_avec_predictions(path: Path, name: str, predictions: np.ndarray, label_names: Sequence[str]) -> Path:
    """One recording's predictions `[frames, dims]` in the AVEC label layout: `;`-separated, no
    header, one row per frame `'<name>';<time in s>;<value>;...` (frame i at 0.1 i s)."""
    predictions = np.asarray(predictions, dtype=np.float64)
    if predictions.ndim != 2 or predictions.shape[1] != len(label_names):
        raise ValueError(f"{name}: predictions of shape {predictions.shape} for dimensions {list(label_names)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    quoted = f"'{name}'"
    lines = [";".join([quoted, f"{index * FRAME_DURATION_S:.2f}", *(f"{v:.6f}" for v in row)])
             for index, row in enumerate(predictions)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_avec_predictions(path: Path, label_names: Sequence[str]) -> pd.DataFrame:
    """Read a file written by `write_avec_predictions` (or an AVEC label file) into columns
    `name`, `time_s` and one per dimension."""
    return pd.read_csv(path, sep=";", header=None, names=["name", "time_s", *label_names], quotechar="'")


def format_table(scores: Dict[str, Dict[str, float]], label_names: Sequence[str]) -> str:
    """A text table: one row per named score set (e.g. "devel", "devel post-processed"),
    one column per dimension plus the mean."""
    columns = [*label_names, "mean"]
    width = max(12, *(len(c) + 2 for c in columns))
    first = max(10, *(len(k) + 2 for k in scores))
    lines = ["CCC".ljust(first) + "".join(c.rjust(width) for c in columns)]
    for row_name, row in scores.items():
        lines.append(row_name.ljust(first) + "".join(f"{row[c]:.4f}".rjust(width) for c in columns))
    return "\n".join(lines)


def recording_figure(name: str, gold: np.ndarray, predictions: np.ndarray, mask: np.ndarray,
                     label_names: Sequence[str], postprocessed: Optional[np.ndarray] = None):
    """A matplotlib figure with one panel per dimension: gold and prediction over time (masked
    frames blank); the post-processed prediction too when given. The caller closes it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    time_s = np.arange(len(gold)) * FRAME_DURATION_S
    hidden = np.asarray(mask) <= 0
    figure, axes = plt.subplots(len(label_names), 1, figsize=(10, 2.2 * len(label_names)), sharex=True, squeeze=False)
    for d, label in enumerate(label_names):
        axis = axes[d, 0]
        axis.plot(time_s, np.where(hidden, np.nan, gold[:, d]), label="gold", color="black")
        axis.plot(time_s, predictions[:, d], label="prediction (raw)", color="tab:blue")
        if postprocessed is not None:
            axis.plot(time_s, postprocessed[:, d], label="prediction (post-processed)", color="tab:orange", alpha=0.8)
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[0, 0].set_title(name)
    axes[0, 0].legend(loc="upper right", fontsize="small")
    axes[-1, 0].set_xlabel("time (s)")
    figure.tight_layout()
    return figure


def plot_recording(path: Path, name: str, gold: np.ndarray, predictions: np.ndarray, mask: np.ndarray,
                   label_names: Sequence[str], postprocessed: Optional[np.ndarray] = None) -> None:
    """`recording_figure` saved as a PNG at `path`."""
    figure = recording_figure(name, gold, predictions, mask, label_names, postprocessed)
    import matplotlib.pyplot as plt  # after recording_figure chose the Agg backend

    figure.savefig(path, dpi=80)
    plt.close(figure)
