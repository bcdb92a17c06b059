"""Labels onto the frame grid, and the explicit policy for tracks that do not match the audio.

Frame i carries the label at time i / FRAME_RATE_HZ seconds (the grid is `emorec.data.frames`).
A label track sampled at those times is copied; any other
time grid is linearly interpolated onto it.

Length policy, when the track ends before the audio does (its last time < the last frame's time):
- `mask` (default): the missing frames repeat the last label and get label_mask 0, so the loss
  and the metrics ignore them; the recording keeps all of its audio.
- `pad_edge`: the missing frames repeat the last label and count as real (label_mask 1).
- `error`: the recording is bad input (InputFileError naming the label file).
A track longer than the audio is trimmed to the audio's frames (always; counted as `trimmed`).
A track that starts after time 0 is treated the same way at its start.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from emorec.constants import FRAME_RATE_HZ
from emorec.data.frames import frame_times_s
from emorec.errors import InputFileError, PathLike

LABEL_LENGTH_POLICIES = ("mask", "pad_edge", "error")

#: Labels beyond this magnitude are a broken file (1e30 from a unit or export bug), not affect:
#: every dataset emorec reads rates in [-1, 1] or a few units; the CCC loss would be dominated.
MAX_LABEL_MAGNITUDE = 1e6

#: Times closer than this to a frame time count as on the grid (label files round to ms).
_GRID_TOLERANCE_S = 1e-3


def align_labels(
    times_s: Sequence[float],
    values: np.ndarray,
    num_frames: int,
    policy: str = "mask",
    source: PathLike = "<labels>",
    frame_rate_hz: float = FRAME_RATE_HZ,
) -> Tuple[np.ndarray, np.ndarray, str]:
    """Put a label track onto `num_frames` frames.

    times_s: `[T]` increasing times of the label rows. values: `[T, D]`.
    Returns labels `[num_frames, D]` float32, label_mask `[num_frames]` float32 and the case:
    `exact` (covers the audio), `trimmed` (longer than the audio), `padded` (shorter, policy
    `mask` or `pad_edge`). Raises InputFileError (naming `source`) for policy `error` on a short
    track, for a non-increasing time column, an empty track or a value beyond MAX_LABEL_MAGNITUDE.
    """
    if policy not in LABEL_LENGTH_POLICIES:
        raise ValueError(f"label length policy must be one of {LABEL_LENGTH_POLICIES}, got {policy!r}")
    times = np.asarray(times_s, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != times.shape[0]:
        raise InputFileError(source, f"label values shape {values.shape} does not match {times.shape[0]} times")
    if times.shape[0] == 0:
        raise InputFileError(source, "label file has no rows")
    absurd = np.argwhere(np.abs(values) > MAX_LABEL_MAGNITUDE)
    if absurd.size:
        row, column = (int(i) for i in absurd[0])
        raise InputFileError(source, f"label row {row + 1} (time {times[row]:g} s), dimension {column + 1}: "
                                     f"{values[row, column]:g} is not a plausible label (|value| > {MAX_LABEL_MAGNITUDE:g}); "
                                     "fix the file or leave it out with --on-error skip")
    if times.shape[0] > 1 and not np.all(np.diff(times) > 0):
        bad = int(np.argmin(np.diff(times) > 0)) + 2
        raise InputFileError(source, f"time column is not strictly increasing (row {bad})")

    grid = frame_times_s(num_frames, frame_rate_hz)
    covered = (grid >= times[0] - _GRID_TOLERANCE_S) & (grid <= times[-1] + _GRID_TOLERANCE_S)
    missing = int(num_frames - covered.sum())
    if missing and policy == "error":
        raise InputFileError(
            source,
            f"labels cover {times[0]:.2f}-{times[-1]:.2f} s but the audio has {num_frames} frames "
            f"({grid[-1]:.2f} s); {missing} frames have no label (label length policy 'error')",
        )

    on_grid = np.allclose(times, np.arange(times.shape[0]) / frame_rate_hz, atol=_GRID_TOLERANCE_S)
    if on_grid:
        labels = np.empty((num_frames, values.shape[1]), dtype=np.float64)
        n = min(num_frames, times.shape[0])
        labels[:n] = values[:n]
        labels[n:] = values[-1]
    else:
        # np.interp clamps outside the track: that is the edge padding the policies describe.
        labels = np.stack([np.interp(grid, times, values[:, d]) for d in range(values.shape[1])], axis=1)

    mask = np.ones(num_frames, dtype=np.float32)
    if missing and policy == "mask":
        mask[~covered] = 0.0
    if missing:
        case = "padded"
    elif times[-1] > grid[-1] + 1.0 / frame_rate_hz - _GRID_TOLERANCE_S:
        case = "trimmed"
    else:
        case = "exact"
    return labels.astype(np.float32), mask, case


def constant_labels(values: Sequence[float], num_frames: int) -> Tuple[np.ndarray, np.ndarray]:
    """One label vector on every frame (EmoDB utterances): labels `[F, D]` and an all-ones mask."""
    labels = np.tile(np.asarray(values, dtype=np.float32)[None, :], (num_frames, 1))
    return labels, np.ones(num_frames, dtype=np.float32)
