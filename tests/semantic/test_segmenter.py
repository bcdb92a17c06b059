"""The transcript-free segmenter finds bursts of sound in silence and splits long ones."""
from __future__ import annotations

import numpy as np

from emorec.constants import SAMPLE_RATE_HZ
from emorec.semantic.segmenter import SegmenterConfig, segment_words


def bursts(spans_s, total_s=3.0, seed=0):
    rng = np.random.default_rng(seed)
    audio = 1e-4 * rng.standard_normal(int(total_s * SAMPLE_RATE_HZ))
    for start_s, end_s in spans_s:
        s, e = int(start_s * SAMPLE_RATE_HZ), int(end_s * SAMPLE_RATE_HZ)
        t = np.arange(e - s) / SAMPLE_RATE_HZ
        audio[s:e] += 0.3 * np.sin(2 * np.pi * 220 * t)
    return audio.astype(np.float32)


def test_bursts_separated_by_silence_become_words():
    spans = [(0.2, 0.5), (0.9, 1.3), (2.0, 2.25)]
    found = segment_words(bursts(spans))
    assert len(found) == 3
    for (start, end), (true_start, true_end) in zip(found, spans):
        assert abs(start - true_start) <= 0.03 and abs(end - true_end) <= 0.03


def test_short_gaps_merge_and_long_runs_split():
    config = SegmenterConfig(max_gap_s=0.06, max_word_s=0.6)
    merged = segment_words(bursts([(0.2, 0.5), (0.53, 0.7)]), config)
    assert len(merged) == 1
    long_run = segment_words(bursts([(0.2, 1.8)]), config)
    assert len(long_run) >= 3
    assert all(end - start <= 0.6 + config.window_s for start, end in long_run)
    assert all(b[0] >= a[1] - config.window_s for a, b in zip(long_run, long_run[1:]))


def test_silence_and_blips_give_no_words():
    assert segment_words(np.zeros(SAMPLE_RATE_HZ, np.float32)) == []
    assert segment_words(bursts([(1.0, 1.03)])) == []
