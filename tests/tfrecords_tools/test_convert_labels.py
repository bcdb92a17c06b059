"""Labels onto the 10 Hz frame grid, the length policy, and word timings."""
import numpy as np
import pytest

from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.errors import InputFileError
from emorec.data.frames import num_frames_for, pad_to_frames
from tfrecords_tools.labels import align_labels
from emorec.data.words import Word, proportional_words, split_span, words_from_timings


def test_frame_count_and_padding():
    assert num_frames_for(1) == 1
    assert num_frames_for(FRAME_LENGTH_SAMPLES) == 1
    assert num_frames_for(FRAME_LENGTH_SAMPLES + 1) == 2
    audio = np.ones(FRAME_LENGTH_SAMPLES + 5, dtype=np.float32)
    padded = pad_to_frames(audio)
    assert padded.shape == (2 * FRAME_LENGTH_SAMPLES,)
    assert padded[: FRAME_LENGTH_SAMPLES + 5].sum() == FRAME_LENGTH_SAMPLES + 5 and not padded[FRAME_LENGTH_SAMPLES + 5 :].any()


def test_labels_on_the_grid_are_copied():
    times = np.arange(10) / 10
    values = np.stack([np.arange(10), -np.arange(10)], axis=1).astype(float)
    labels, mask, case = align_labels(times, values, 10)
    np.testing.assert_array_equal(labels, values)
    assert mask.tolist() == [1.0] * 10 and case == "exact"


def test_labels_on_another_grid_are_linearly_interpolated():
    times = np.arange(0, 2.01, 0.04)  # 25 Hz
    values = np.stack([3 * times + 1, np.sin(times)], axis=1)
    labels, mask, case = align_labels(times, values, 21)  # frames at 0.0 ... 2.0 s
    grid = np.arange(21) / 10
    np.testing.assert_allclose(labels[:, 0], 3 * grid + 1, atol=1e-5)  # linear: exact
    np.testing.assert_allclose(labels[:, 1], np.sin(grid), atol=1e-3)
    assert mask.all() and case == "exact"


def test_a_longer_track_is_trimmed():
    labels, mask, case = align_labels(np.arange(15) / 10, np.arange(15.0)[:, None], 10)
    assert labels[:, 0].tolist() == list(range(10)) and case == "trimmed" and mask.all()


def test_a_shorter_track_is_masked_padded_or_refused():
    times, values = np.arange(6) / 10, np.arange(6.0)[:, None]
    labels, mask, case = align_labels(times, values, 10, policy="mask")
    assert case == "padded"
    assert mask.tolist() == [1] * 6 + [0] * 4
    assert labels[6:, 0].tolist() == [5.0] * 4
    labels, mask, case = align_labels(times, values, 10, policy="pad_edge")
    assert case == "padded" and mask.all() and labels[6:, 0].tolist() == [5.0] * 4
    with pytest.raises(InputFileError, match="4 frames have no label") as info:
        align_labels(times, values, 10, policy="error", source="labels/Train_01.csv")
    assert info.value.path == "labels/Train_01.csv"


def test_non_increasing_times_are_an_error():
    with pytest.raises(InputFileError, match="not strictly increasing"):
        align_labels([0.0, 0.1, 0.1], np.zeros((3, 1)), 3)


def test_proportional_split_by_token_length():
    words = proportional_words([(1.0, 2.3, "Hello big world <laughter>"), (3.0, 3.5, "ok")])
    # weights 5, 3, 5, 8 over 1.3 s; then "ok" alone
    expected_edges = 1.0 + 1.3 * np.cumsum([0, 5, 3, 5, 8]) / 21
    assert [w.token for w in words] == ["hello", "big", "world", "<laughter>", "ok"]
    np.testing.assert_allclose([w.start_s for w in words[:4]], expected_edges[:4])
    np.testing.assert_allclose([w.end_s for w in words[:4]], expected_edges[1:])
    assert (words[4].start_s, words[4].end_s) == (3.0, 3.5)


def test_dropped_tags_and_punctuation_take_no_time():
    assert split_span([], 0.0, 1.0) == []
    words = words_from_timings([(0.0, 0.5, "Der"), (0.5, 0.6, "."), (0.6, 1.0, "<breath>"), (1.0, 1.4, "Lappen")])
    assert words == [Word("der", 0.0, 0.5), Word("lappen", 1.0, 1.4)]


def test_pocketsphinx_alignment_is_close_to_timit_word_boundaries(shared_data):
    """The `align` extra: forced alignment of known text against TIMIT's hand-verified .wrd times."""
    pytest.importorskip("pocketsphinx")
    import scipy.io.wavfile as wavfile

    from tfrecords_tools.words import pocketsphinx_words

    folder = shared_data / "timit_sample" / "dr1-fvmh0"
    rate, pcm = wavfile.read(folder / "sa1.wav")
    reference = [line.split() for line in (folder / "sa1.wrd").read_text().splitlines()]
    text = " ".join(r[2] for r in reference) + " <laughter>"
    words = pocketsphinx_words(pcm.astype(np.float32) / 32768, [(0.0, len(pcm) / rate, text)])
    assert [w.token for w in words] == [r[2] for r in reference] + ["<laughter>"]
    errors = [abs(w.start_s - int(r[0]) / rate) for w, r in zip(words, reference)]
    assert np.median(errors) < 0.05 and max(errors) < 0.2
    assert all(a.start_s <= b.start_s for a, b in zip(words, words[1:]))
