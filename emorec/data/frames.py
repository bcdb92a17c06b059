"""The frame grid: frame i covers samples [i * FRAME_LENGTH_SAMPLES, (i + 1) * FRAME_LENGTH_SAMPLES)
and carries the label at time i / FRAME_RATE_HZ seconds.

The converter, prediction and the semantic features all count frames here, so a recording has the
same number of frames wherever it is read.
"""
from __future__ import annotations

import math

import numpy as np

from emorec.constants import FRAME_LENGTH_SAMPLES, FRAME_RATE_HZ


def num_frames_for(num_samples: int, frame_length_samples: int = FRAME_LENGTH_SAMPLES) -> int:
    """F = ceil(num_samples / frame_length): the last partial frame is kept (zero-padded)."""
    return int(math.ceil(num_samples / frame_length_samples))


def pad_to_frames(audio: np.ndarray, frame_length_samples: int = FRAME_LENGTH_SAMPLES) -> np.ndarray:
    """Zero-pad `[samples]` to `[num_frames * frame_length]`."""
    frames = num_frames_for(audio.shape[0], frame_length_samples)
    padded = np.zeros(frames * frame_length_samples, dtype=np.float32)
    padded[: audio.shape[0]] = audio
    return padded


def frame_times_s(num_frames: int, frame_rate_hz: float = FRAME_RATE_HZ) -> np.ndarray:
    return np.arange(num_frames, dtype=np.float64) / frame_rate_hz
