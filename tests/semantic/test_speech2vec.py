"""Speech2Vec: MFCC front end, skip-gram pairs, training, per-type means, save/load."""
from __future__ import annotations

import numpy as np
import pytest

from emorec.constants import SAMPLE_RATE_HZ
from emorec.semantic.evaluation import type_retrieval_accuracy
from emorec.semantic.mfcc import MfccConfig, mfcc, pad_sequences
from emorec.semantic.segments import Utterance, cut_segments
from emorec.semantic.speech2vec import (
    SpeechEncoder, Speech2VecConfig, save_speech2vec, skipgram_pairs, train_speech2vec)

TONES_HZ = {"low": 300.0, "mid": 900.0, "high": 2500.0, "sweep": None}


def spoken(word: str, rng: np.random.Generator, duration_s: float = 0.15) -> np.ndarray:
    t = np.arange(int(duration_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    f = TONES_HZ[word]
    phase = 2 * np.pi * (f * t if f else (400 * t + 6000 * t ** 2))
    return (0.3 * np.sin(phase) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def tone_utterances(count: int, seed: int):
    rng = np.random.default_rng(seed)
    utterances = []
    for u in range(count):
        words = [str(w) for w in rng.choice(list(TONES_HZ), size=5)]
        utterances.append(Utterance(f"u{u}", f"s{u % 3}", words, [spoken(w, rng) for w in words]))
    return utterances


def test_mfcc_shape_and_frequency_sensitivity():
    config = MfccConfig()
    rng = np.random.default_rng(0)
    low = mfcc(spoken("low", rng, 0.5), config)
    high = mfcc(spoken("high", rng, 0.5), config)
    expected_frames = 1 + (int(0.5 * SAMPLE_RATE_HZ) - config.window_samples) // config.hop_samples
    assert low.shape == (expected_frames, 13)
    assert np.all(np.isfinite(low))
    # Frames of one tone are alike; the two tones differ.
    assert np.linalg.norm(low.mean(0) - high.mean(0)) > 5 * low.std(0).mean()
    assert mfcc(np.zeros(10, np.float32), config).shape == (1, 13)
    batch, lengths = pad_sequences([low[:5], high], 20)
    assert batch.shape == (2, 20, 13) and list(lengths) == [5, 20]
    assert np.all(batch[0, 5:] == 0)


def test_skipgram_pairs_within_each_utterance():
    utterances = [Utterance("a", "s", ["x", "y", "z"], [np.zeros(10)] * 3),
                  Utterance("b", "s", ["p", "q"], [np.zeros(10)] * 2)]
    pairs = {tuple(p) for p in skipgram_pairs(utterances, window=1)}
    # offset -1 -> index 0, offset +1 -> index 1
    assert pairs == {(0, 1, 1), (1, 0, 0), (1, 2, 1), (2, 1, 0), (3, 4, 1), (4, 3, 0)}


def test_cut_segments_clips_to_audio():
    audio = np.arange(SAMPLE_RATE_HZ, dtype=np.float32)
    a, b = cut_segments(audio, [(0.1, 0.2), (0.9, 1.5)])
    assert a[0] == round(0.1 * SAMPLE_RATE_HZ) and len(a) == round(0.1 * SAMPLE_RATE_HZ)
    assert len(b) == SAMPLE_RATE_HZ - round(0.9 * SAMPLE_RATE_HZ)


@pytest.fixture(scope="module")
def trained_with_output():
    """The module's one training, with progress on: (config, utterances, encoder, vectors, history)
    and what it printed, (stdout, stderr), both redirected to strings, so that neither is a terminal."""
    import contextlib
    import io

    config = Speech2VecConfig(dim=8, encoder_units=8, decoder_units=8, window=2, max_frames=20,
                              epochs=4, batch_size=32, seed=0)
    utterances = tone_utterances(24, seed=0)
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        encoder, vectors, history = train_speech2vec(utterances, config, progress=True)
    return (config, utterances, encoder, vectors, history), (stdout.getvalue(), stderr.getvalue())


@pytest.fixture(scope="module")
def trained(trained_with_output):
    return trained_with_output[0]


@pytest.mark.slow
def test_training_lowers_loss_and_types_are_means(trained):
    config, utterances, encoder, vectors, history = trained
    assert len(history["loss"]) == config.epochs
    assert history["loss"][-1] < history["loss"][0]
    words = [w for u in utterances for w in u.words]
    embeddings = encoder.embed_segments([s for u in utterances for s in u.segments])
    assert embeddings.shape == (len(words), 8)
    for word in TONES_HZ:
        expected = embeddings[[i for i, w in enumerate(words) if w == word]].mean(0)
        np.testing.assert_allclose(vectors[word], expected, atol=1e-5)
        assert vectors.get_vecattr(word, "count") == words.count(word)
    counts = [vectors.get_vecattr(w, "count") for w in vectors.index_to_key]
    assert counts == sorted(counts, reverse=True)


@pytest.mark.slow
def test_held_out_instances_find_their_type(trained):
    _, _, encoder, vectors, _ = trained
    held_out = tone_utterances(6, seed=1)
    words = [w for u in held_out for w in u.words]
    result = type_retrieval_accuracy(vectors, encoder.embed_segments([s for u in held_out for s in u.segments]), words)
    assert result["chance"] == pytest.approx(0.25)
    assert result["accuracy"] >= 0.9


@pytest.mark.slow
def test_saved_encoder_embeds_identically(trained, tmp_path):
    _, utterances, encoder, vectors, history = trained
    folder = save_speech2vec(tmp_path / "s2v", encoder, vectors, history)
    loaded = SpeechEncoder.load(folder)
    segments = utterances[0].segments
    np.testing.assert_allclose(loaded.embed_segments(segments), encoder.embed_segments(segments), atol=1e-6)
    assert loaded.max_frames == 20 and loaded.dim == 8
    assert (folder / "word_vectors.bin").is_file()


def test_pairs_grouped_by_centre_cover_every_pair_once():
    # Each training step takes whole centres; together the groups must be exactly the skip-gram pairs.
    from emorec.semantic.speech2vec import centre_groups

    pairs = skipgram_pairs(tone_utterances(5, seed=2), window=2)
    centres, starts, counts = centre_groups(pairs)
    rows = np.concatenate([np.arange(s, s + c) for s, c in zip(starts, counts)])
    np.testing.assert_array_equal(np.sort(rows), np.arange(len(pairs)))
    for centre, start, count in zip(centres, starts, counts):
        assert (pairs[start : start + count, 0] == centre).all()


@pytest.mark.slow
def test_progress_off_a_terminal_is_one_line_per_epoch_with_count_and_eta(trained_with_output):
    (config, utterances, _, _, _), (out, err) = trained_with_output
    from emorec.semantic.speech2vec import centre_groups

    # Steps take whole centres, about batch_size pairs each: independent arithmetic on the pairs.
    pairs = skipgram_pairs(utterances, config.window)
    centres = centre_groups(pairs)[0]
    per_step = max(1, round(config.batch_size * len(centres) / len(pairs)))
    steps = -(-len(centres) // per_step)
    epochs = config.epochs
    lines = err.splitlines()
    assert [line.split(" [")[0] for line in lines] == [f"speech2vec: {steps * e}/{steps * epochs} step"
                                                      for e in range(1, epochs + 1)], lines
    assert "speech2vec" not in out  # stdout stays the command's report
    assert f"epoch {epochs}/{epochs}, loss " in lines[-1] and "<00:00" in lines[-1]  # the remaining time is the ETA
