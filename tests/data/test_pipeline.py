"""tf.data windows: contents match the recordings frame for frame, padding is masked."""
import numpy as np
import pytest

from emorec.config import DataConfig
from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.data.pipeline import count_windows, make_dataset, recordings_for_prediction
from emorec.data.schema import Recording
from tfrecords_tools.writer import write_recordings
from emorec.errors import DatasetError


def recording(name, frames, seed, partition="train"):
    rng = np.random.default_rng(seed)
    mask = np.ones(frames, np.float32)
    mask[-1] = 0.0  # a missing label at the end
    return Recording(name=name, partition=partition, speaker="s", num_samples=frames * FRAME_LENGTH_SAMPLES,
                     audio=rng.uniform(-1, 1, frames * FRAME_LENGTH_SAMPLES).astype(np.float32),
                     label_names=["arousal", "valence"], labels=rng.normal(size=(frames, 2)).astype(np.float32),
                     label_mask=mask)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    recs = [recording("a", 7, 0), recording("b", 3, 1), recording("c", 5, 2, "devel")]
    return write_recordings(recs, tmp_path_factory.mktemp("data")), recs


@pytest.mark.parametrize("sequence_frames,hop_frames", [(4, 4), (4, 2), (10, 5)])
def test_windows_match_recordings(data, sequence_frames, hop_frames):
    folder, recs = data
    config = DataConfig(sequence_frames=sequence_frames, hop_frames=hop_frames, batch_size=64)
    batches = list(make_dataset(folder, "train", config, training=False).as_numpy_iterator())
    assert len(batches) == 1
    inputs, targets = batches[0]
    windows = []
    for rec in recs[:2]:
        frames = rec.num_frames
        n = 1 + max(0, -(-(frames - sequence_frames) // hop_frames))
        audio = rec.audio.reshape(frames, FRAME_LENGTH_SAMPLES)
        for w in range(n):
            start = w * hop_frames
            expected_audio = np.zeros((sequence_frames, FRAME_LENGTH_SAMPLES), np.float32)
            expected_labels = np.zeros((sequence_frames, 2), np.float32)
            expected_mask = np.zeros(sequence_frames, np.float32)
            stop = min(frames, start + sequence_frames)
            expected_audio[: stop - start] = audio[start:stop]
            expected_labels[: stop - start] = rec.labels[start:stop]
            expected_mask[: stop - start] = rec.label_mask[start:stop]
            windows.append((expected_audio, expected_labels, expected_mask))
    assert inputs["audio"].shape == (len(windows), sequence_frames, FRAME_LENGTH_SAMPLES)
    assert count_windows(folder, "train", config) == len(windows)
    for i, (audio, labels, mask) in enumerate(windows):
        np.testing.assert_array_equal(inputs["audio"][i], audio)
        np.testing.assert_array_equal(targets["arousal"][i, :, 0] * mask, labels[:, 0] * mask)
        np.testing.assert_array_equal(targets["valence"][i, :, 0] * mask, labels[:, 1] * mask)
        np.testing.assert_array_equal(targets["arousal"][i, :, 1], mask)


def test_training_batches_and_label_subset(data):
    folder, _ = data
    config = DataConfig(sequence_frames=3, hop_frames=3, batch_size=2, shuffle_buffer=10)
    dataset = make_dataset(folder, "train", config, training=True, label_names=["valence"], seed=1)
    batches = list(dataset.as_numpy_iterator())
    assert sum(b[0]["audio"].shape[0] for b in batches) == 4  # 3 windows of a, 1 of b
    assert all(set(b[1]) == {"valence"} and b[1]["valence"].shape[-1] == 2 for b in batches)
    with pytest.raises(DatasetError):
        make_dataset(folder, "test", config, training=False)
    with pytest.raises(DatasetError):
        make_dataset(folder, "train", config, training=False, label_names=["liking"])


def test_whole_recordings_for_prediction(data):
    folder, recs = data
    batch = next(recordings_for_prediction(folder, "train", batch_recordings=4).as_numpy_iterator())
    assert list(batch["name"]) == [b"a", b"b"]
    assert batch["audio"].shape == (2, 7, FRAME_LENGTH_SAMPLES)
    np.testing.assert_array_equal(batch["label_mask"][1], [1, 1, 0, 0, 0, 0, 0])


def test_demo_source_converts_like_the_direct_writer(tmp_path):
    """The demo's generated manifest layout goes through the converter to the same recordings."""
    convert_dataset = pytest.importorskip("tfrecords_tools").convert_dataset
    import tensorflow as tf

    from emorec.data.schema import example_to_recording
    from emorec.experiments.demo import synthetic_recordings, write_manifest_source

    recordings = list(synthetic_recordings(recordings={"train": 2, "devel": 1}, duration_s=(1.0, 1.5), seed=4))
    write_manifest_source(recordings, tmp_path / "source")
    convert_dataset("manifest", tmp_path / "source" / "manifest.csv", tmp_path / "data", progress=False)
    dataset = make_dataset(tmp_path / "data", "train", DataConfig(sequence_frames=20, hop_frames=20), training=False)
    assert next(iter(dataset))[0]["audio"].shape[0] == 2
    files = sorted(str(p) for p in (tmp_path / "data").glob("*.tfrecord"))
    converted = {r.name: r for r in map(example_to_recording, tf.data.TFRecordDataset(files).as_numpy_iterator())}
    for original in recordings:
        got = converted[original.name]
        assert got.partition == original.partition
        np.testing.assert_allclose(got.labels, original.labels, atol=1e-5)
        np.testing.assert_allclose(got.audio[: original.num_samples], original.audio[: original.num_samples], atol=1e-4)
