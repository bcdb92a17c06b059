"""The TFRecord schema: what the writer serialises, the graph parser and the numpy reader read back."""
import numpy as np
import pytest
import tensorflow as tf

from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.data.schema import Recording, example_to_recording, parse_recording, recording_to_example


def make_recording(frames: int = 3, dims: int = 2) -> Recording:
    rng = np.random.default_rng(0)
    return Recording(
        name="Train_01",
        partition="train",
        speaker="s1",
        num_samples=frames * FRAME_LENGTH_SAMPLES - 100,
        audio=rng.uniform(-1, 1, frames * FRAME_LENGTH_SAMPLES).astype(np.float32),
        label_names=["arousal", "valence"][:dims],
        labels=rng.normal(size=(frames, dims)).astype(np.float32),
        label_mask=np.array([1, 1, 0], dtype=np.float32)[:frames],
        words=["hallo", "straße"],
        word_start_s=[0.0, 0.12],
        word_end_s=[0.1, 0.25],
    )


def test_graph_parser_reads_every_field():
    recording = make_recording()
    serialized = recording_to_example(recording).SerializeToString()
    parsed = parse_recording(tf.constant(serialized), num_dimensions=2)
    assert parsed["name"].numpy() == b"Train_01"
    assert parsed["num_samples"].numpy() == recording.num_samples
    np.testing.assert_array_equal(parsed["audio"].numpy().reshape(-1), recording.audio)
    assert parsed["audio"].shape == (3, FRAME_LENGTH_SAMPLES)
    np.testing.assert_array_equal(parsed["labels"].numpy(), recording.labels)
    np.testing.assert_array_equal(parsed["label_mask"].numpy(), recording.label_mask)
    assert [w.decode() for w in parsed["words"].numpy()] == recording.words
    np.testing.assert_allclose(parsed["word_end_s"].numpy(), recording.word_end_s)


def test_numpy_reader_is_the_inverse_of_the_writer():
    recording = make_recording()
    back = example_to_recording(recording_to_example(recording).SerializeToString())
    assert back.name == recording.name and back.speaker == recording.speaker
    np.testing.assert_array_equal(back.audio, recording.audio)
    np.testing.assert_array_equal(back.labels, recording.labels)
    assert back.words == recording.words
    assert list(back.label_names) == list(recording.label_names)


def test_inconsistent_recordings_are_refused():
    recording = make_recording()
    recording.audio = recording.audio[:-1]
    with pytest.raises(ValueError, match="audio has"):
        recording_to_example(recording)
    recording = make_recording()
    recording.labels[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        recording_to_example(recording)


def test_corpus_and_category_round_trip_and_default_to_empty_in_older_records():
    import dataclasses

    recording = dataclasses.replace(make_recording(), corpus="ravdess", category="happiness")
    serialized = recording_to_example(recording).SerializeToString()
    parsed = parse_recording(tf.constant(serialized), num_dimensions=2)
    assert (parsed["corpus"].numpy(), parsed["category"].numpy()) == (b"ravdess", b"happiness")
    back = example_to_recording(serialized)
    assert (back.corpus, back.category) == ("ravdess", "happiness")
    # A record written before the two features existed.
    example = tf.train.Example.FromString(serialized)
    del example.features.feature["corpus"]
    del example.features.feature["category"]
    older = example.SerializeToString()
    parsed = parse_recording(tf.constant(older), num_dimensions=2)
    assert (parsed["corpus"].numpy(), parsed["category"].numpy()) == (b"", b"")
    assert (example_to_recording(older).corpus, example_to_recording(older).category) == ("", "")
