"""A transcript-free word segmenter: energy-based voice activity cut into pseudo-words.

A deployed model gets audio only, so the word boundaries of its semantic features must come from
the audio too. Frames (25 ms, 10 ms hop) whose log energy is within `threshold_db` of the loudest
frame (and above `floor_db` full scale) are speech; speech runs separated by gaps shorter than
`max_gap_s` are merged; runs longer than `max_word_s` are split at their quietest frame until all
fit; runs shorter than `min_word_s` are dropped. These are pseudo-words: syllable groups between
energy dips, not linguistic words.

The settings are the experiment config's `semantic.segmenter` section (`SegmenterConfig`, defined
and range-checked in `emorec.config` and re-exported here).
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

from emorec.config import SegmenterConfig
from emorec.constants import SAMPLE_RATE_HZ


def frame_samples(config: SegmenterConfig, sample_rate_hz: int = SAMPLE_RATE_HZ) -> Tuple[int, int]:
    """(window, hop) of the analysis frames in samples: frame `i` reads `[i * hop, i * hop + window)`."""
    return int(round(config.window_s * sample_rate_hz)), int(round(config.hop_s * sample_rate_hz))


def frame_energy_db(audio: np.ndarray, config: SegmenterConfig, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Log mean-square energy per analysis frame, dB full scale: `[frames]`."""
    window, hop = frame_samples(config, sample_rate_hz)
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    if len(audio) < window:
        audio = np.pad(audio, (0, window - len(audio)))
    count = 1 + (len(audio) - window) // hop
    index = np.arange(window)[None, :] + hop * np.arange(count)[:, None]
    power = np.mean(audio[index] ** 2, axis=1)
    return 10.0 * np.log10(power + 1e-12)


def _runs(active: np.ndarray) -> List[Tuple[int, int]]:
    """[start, end) index runs where `active` is True."""
    edges = np.diff(np.concatenate([[0], active.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def segment_words(audio_22k: np.ndarray, config: SegmenterConfig = SegmenterConfig(),
                  sample_rate_hz: int = SAMPLE_RATE_HZ) -> List[Tuple[float, float]]:
    """Pseudo-word boundaries `[(start_s, end_s), ...]`, sorted and non-overlapping.

    A word spans the samples its analysis frames read (see `frame_samples`), from the first
    sample of its first frame to the last of its last frame, cut back to the next word's start
    where the two would share audio (a long run split at its quietest frame: the earlier piece
    ends where that frame begins, `window_s - hop_s` before its last frame's end) and to the end
    of the audio. Times are those samples over `sample_rate_hz`, so `round(t * sample_rate_hz)`
    gives them back. Every word is at least `min_word_s` long to the nearest whole hop.
    """
    num_samples = np.asarray(audio_22k).size
    energy = frame_energy_db(audio_22k, config, sample_rate_hz)
    if num_samples == 0 or energy.max() < config.floor_db:
        return []
    active = (energy >= energy.max() - config.threshold_db) & (energy >= config.floor_db)
    runs = _runs(active)
    max_gap = int(round(config.max_gap_s / config.hop_s))
    merged: List[List[int]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] <= max_gap:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    kernel = np.ones(config.smoothing_frames) / config.smoothing_frames
    smooth = np.convolve(energy, kernel, mode="same")
    max_frames = max(1, int(round(config.max_word_s / config.hop_s)))
    min_frames = max(1, int(round(config.min_word_s / config.hop_s)))
    pieces: List[Tuple[int, int]] = []
    stack = [tuple(r) for r in reversed(merged)]
    while stack:
        start, end = stack.pop()
        if end - start <= max_frames:
            pieces.append((start, end))
            continue
        # Split at the quietest frame away from both edges (at least min_word_s from each).
        lo, hi = start + min_frames, end - min_frames
        cut = lo + int(np.argmin(smooth[lo:hi])) if hi > lo else (start + end) // 2
        stack.extend([(cut, end), (start, cut)])
    kept = [(start, end) for start, end in pieces if end - start >= min_frames]
    # Times name the samples the frames read, not frame * hop_s: the hop is a whole number of
    # samples (220 for 10 ms at 22 050 Hz), and frame * hop_s drifts from the frames' audio (18 ms
    # late by 8 s) and ends words past the recording. A short file is padded to one window, so
    # ends are clipped to the audio.
    window, hop = frame_samples(config, sample_rate_hz)
    starts = [start * hop for start, _ in kept]
    ends = [min((end - 1) * hop + window, num_samples) for _, end in kept]
    # Frames overlap by window - hop samples, so a word's frames reach into the next word's first
    # frame where the two are one piece split at its quietest frame (and where unmerged runs are a
    # frame apart, max_gap_s 0): two words would then feed the same audio to the encoder and claim
    # the same feature frames. A word therefore ends at the latest where the next begins; the
    # quietest frame opens the later piece, so the boundary sits where that dip starts.
    ends = [min(end, next_start) for end, next_start in zip(ends, starts[1:] + [num_samples])]
    return [(float(start / sample_rate_hz), float(end / sample_rate_hz)) for start, end in zip(starts, ends)]
