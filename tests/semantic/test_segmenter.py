"""The transcript-free segmenter finds bursts of sound in silence and splits long ones."""
from __future__ import annotations

import numpy as np
import pytest

from emorec.constants import SAMPLE_RATE_HZ
from emorec.errors import ConfigError
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
    assert all(b[0] >= a[1] for a, b in zip(long_run, long_run[1:]))


def test_silence_and_blips_give_no_words():
    assert segment_words(np.zeros(SAMPLE_RATE_HZ, np.float32)) == []
    assert segment_words(bursts([(1.0, 1.03)])) == []


def random_recording(rng):
    """Noise bursts of random lengths, levels and loudness wobble (so long ones have dips to split
    at) over a random noise floor, sometimes shorter than one analysis window."""
    total_s = rng.choice([rng.uniform(0.005, 0.05), rng.uniform(0.05, 3.0)], p=[0.1, 0.9])
    samples = max(1, int(total_s * SAMPLE_RATE_HZ))
    audio = 10 ** rng.uniform(-6, -3) * rng.standard_normal(samples)
    for _ in range(rng.integers(0, 9)):
        start = rng.integers(0, samples)
        length = int(10 ** rng.uniform(np.log10(0.005), np.log10(1.5)) * SAMPLE_RATE_HZ)
        t = np.arange(min(length, samples - start)) / SAMPLE_RATE_HZ
        wobble = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(2, 8) * t + rng.uniform(0, 6))
        audio[start:start + len(t)] += 10 ** rng.uniform(-3, -0.3) * wobble * rng.standard_normal(len(t))
    return audio.astype(np.float32)


#: Defaults, the short words that showed overlaps, a minimum of half the maximum (the most the
#: config allows) and one that is no whole number of hops,
#: unmerged runs one frame apart, a window much longer than the hop, window == hop, and a
#: threshold low enough to take in the noise floor (long merged runs, many splits).
PROPERTY_SETTINGS = [
    SegmenterConfig(),
    SegmenterConfig(max_word_s=0.05, min_word_s=0.025),
    SegmenterConfig(max_word_s=0.1, min_word_s=0.05),
    SegmenterConfig(max_gap_s=0.0, min_word_s=0.01, max_word_s=0.2),
    SegmenterConfig(window_s=0.04, hop_s=0.005, max_word_s=0.07, min_word_s=0.02, smoothing_frames=1),
    SegmenterConfig(window_s=0.02, hop_s=0.02, max_word_s=0.3, min_word_s=0.04),
    SegmenterConfig(threshold_db=60, floor_db=-100, max_gap_s=0.2, max_word_s=0.25, min_word_s=0.05),
]


@pytest.mark.parametrize("config", PROPERTY_SETTINGS, ids=lambda c: f"max{c.max_word_s:g}-min{c.min_word_s:g}"
                         f"-gap{c.max_gap_s:g}-win{c.window_s:g}-hop{c.hop_s:g}")
def test_words_are_sorted_disjoint_inside_the_audio_and_long_enough(config):
    """The docstring's promise on many generated recordings: two words never share audio (else two
    word vectors claim the same feature frames), no word reaches past the recording, and every word
    is at least min_word_s long to the nearest whole hop (lengths are counted in analysis frames,
    whose hop is a whole number of samples)."""
    hop_samples = round(config.hop_s * SAMPLE_RATE_HZ)
    min_length_s = max(1, round(config.min_word_s / config.hop_s)) * hop_samples / SAMPLE_RATE_HZ
    found_any = False
    for seed in range(60):
        audio = random_recording(np.random.default_rng(seed))
        duration_s = len(audio) / SAMPLE_RATE_HZ
        words = segment_words(audio, config)
        found_any = found_any or len(words) > 1
        for start, end in words:
            assert 0.0 <= start < end <= duration_s, (seed, start, end, duration_s)
            assert end - start >= min_length_s - 1e-9, (seed, start, end)
            assert end - start <= config.max_word_s + config.window_s + 1e-9, (seed, start, end)
        for (_, end), (next_start, _) in zip(words, words[1:]):
            assert end <= next_start + 1e-9, (seed, words)
    assert found_any, "no generated recording had two words: the property was never tried"


def test_a_burst_just_longer_than_the_longest_word_is_kept_whole():
    """A run over max_word_s is split in two pieces of at least min_word_s, which the config's
    check (min_word_s at most about half of max_word_s, in hops) makes possible: no piece is
    dropped. With min 0.04 and max 0.05, now refused, the first 30 ms of this burst were lost."""
    audio = np.zeros(SAMPLE_RATE_HZ, np.float32)
    burst = np.arange(int(0.04 * SAMPLE_RATE_HZ))
    audio[SAMPLE_RATE_HZ // 2:SAMPLE_RATE_HZ // 2 + len(burst)] = 0.3 * np.sin(2 * np.pi * 220 * burst / SAMPLE_RATE_HZ)
    words = segment_words(audio, SegmenterConfig(max_word_s=0.05, min_word_s=0.03, smoothing_frames=1))
    assert len(words) == 2 and words[0][1] == words[1][0]
    assert words[0][0] <= 0.5 - 0.02 and words[1][1] >= 0.5 + 0.04, words  # from the first frame that hears it
    with pytest.raises(ConfigError, match="min_word_s"):
        SegmenterConfig(max_word_s=0.05, min_word_s=0.04)


@pytest.mark.parametrize("config", PROPERTY_SETTINGS[:2], ids=["defaults", "short-words"])
def test_word_times_survive_the_serving_signatures_float32(config):
    """An export takes word times as float32 and cuts `round(t * 22050)` as `cut_segments` does in
    float64: times on whole samples give both the same samples (times on half samples did not)."""
    for seed in range(20):
        audio = random_recording(np.random.default_rng(seed))
        times = np.array(segment_words(audio, config), dtype=np.float64).reshape(-1)
        exact = np.round(times * SAMPLE_RATE_HZ)
        np.testing.assert_array_equal(np.round(times.astype(np.float32).astype(np.float64) * SAMPLE_RATE_HZ), exact)
        np.testing.assert_allclose(times * SAMPLE_RATE_HZ, exact, atol=1e-6, rtol=0)
