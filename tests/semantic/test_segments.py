"""Word-segment readers: word_timings.csv folders, TIMIT .wrd folders, converted datasets."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.io import wavfile

from emorec.constants import SAMPLE_RATE_HZ
from emorec.errors import InputFileError
from emorec.semantic.segments import load_utterances


def test_word_timings_folder_is_read_resampled_and_tokenised(tmp_path):
    rate_hz = 16000
    (tmp_path / "wav").mkdir()
    signal = np.zeros(rate_hz, np.int16)
    signal[4000:8000] = 1000  # a block of known position: 0.25 s to 0.5 s
    wavfile.write(tmp_path / "wav" / "03a01Fa.wav", rate_hz, signal)
    (tmp_path / "word_timings.csv").write_text(
        "file,word,start_s,end_s\n03a01Fa.wav,Der,0.25,0.5\n03a01Fa.wav,Eisschrank.,0.5,0.9\n"
        "03a01Fa.wav,\"New York,\",0.9,1.0\n03a01Fa.wav,--,1.0,1.0\n")
    [utterance] = load_utterances(tmp_path)
    assert utterance.name == "03a01Fa" and utterance.speaker == "03"
    # As the converter tokenises: "New York" is two tokens sharing its span by length (3:4),
    # punctuation alone is no word.
    assert utterance.words == ["der", "eisschrank", "new", "york"]
    expected_s = [(0.25, 0.5), (0.5, 0.9), (0.9, 0.9 + 0.1 * 3 / 7), (0.9 + 0.1 * 3 / 7, 1.0)]
    np.testing.assert_allclose(np.array(utterance.times_s), np.array(expected_s), atol=1e-12)
    first, second = utterance.segments[:2]
    assert len(first) == round(0.5 * SAMPLE_RATE_HZ) - round(0.25 * SAMPLE_RATE_HZ)
    assert len(second) == round(0.9 * SAMPLE_RATE_HZ) - round(0.5 * SAMPLE_RATE_HZ)
    # The block fills the first word and none of the second (resampling ripple aside).
    assert np.abs(first[100:-100]).min() > 0.02 and np.abs(second[100:]).max() < 0.01


def test_unknown_layout_is_an_input_error(tmp_path):
    with pytest.raises(InputFileError, match="not a converted dataset"):
        load_utterances(tmp_path)


def test_timit_word_alignments(shared_data):
    utterances = load_utterances(shared_data / "timit_sample")
    assert len(utterances) == 160
    first = next(u for u in utterances if u.name == "dr1-fvmh0/sa1")
    wrd = (shared_data / "timit_sample" / "dr1-fvmh0" / "sa1.wrd").read_text().split("\n")[0].split()
    assert first.words[0] == wrd[2] == "she" and first.speaker == "fvmh0"
    assert first.times_s[0] == pytest.approx((int(wrd[0]) / 16000, int(wrd[1]) / 16000))
    assert len(first.segments[0]) == round(int(wrd[1]) / 16000 * SAMPLE_RATE_HZ) - round(int(wrd[0]) / 16000 * SAMPLE_RATE_HZ)


def test_converted_dataset_words(tmp_path):
    from tests.semantic.test_features import SPANS, WORDS, make_recording, write_converted

    write_converted(tmp_path, {"train": [make_recording("a", "train", SPANS, WORDS, 30, 1)],
                               "test": [make_recording("b", "test", SPANS[:1], WORDS[:1], 10, 2)]})
    [utterance] = load_utterances(tmp_path, partitions=["train"])
    assert utterance.name == "a" and utterance.words == WORDS
    # Times travel as float32 in the TFRecord.
    expected = [round(float(np.float32(e)) * SAMPLE_RATE_HZ) - round(float(np.float32(s)) * SAMPLE_RATE_HZ) for s, e in SPANS]
    assert [len(s) for s in utterance.segments] == expected
