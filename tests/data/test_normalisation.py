"""Waveform normalisation: each recording's (or speaker's) own statistics, never other
recordings' or partitions'; the same numbers in the training and the evaluation pipeline."""
import numpy as np
import pytest
import tensorflow as tf

from emorec.config import DataConfig, NormalisationConfig
from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.data.normalisation import normalise_frames
from emorec.data.pipeline import make_dataset, recordings_for_prediction
from emorec.data.schema import Recording
from tfrecords_tools.writer import write_recordings
from emorec.errors import DatasetError


def recording(name, frames, seed, partition="train", speaker="s1", level=0.1, tail=700):
    """Uniform noise at `level`, getting louder along the recording; the last frame is partial."""
    rng = np.random.default_rng(seed)
    num_samples = frames * FRAME_LENGTH_SAMPLES - tail
    audio = np.zeros(frames * FRAME_LENGTH_SAMPLES, np.float32)
    audio[:num_samples] = rng.uniform(-1, 1, num_samples) * level * np.linspace(0.2, 2.0, num_samples)
    return Recording(name=name, partition=partition, speaker=speaker, num_samples=num_samples, audio=audio,
                     label_names=["arousal"], labels=np.zeros((frames, 1), np.float32),
                     label_mask=np.ones(frames, np.float32))


ALONE = [recording("a", 6, 0)]
CROWDED = [recording("loud", 9, 1, level=0.9), recording("a", 6, 0), recording("other", 4, 2, speaker="s2"),
           recording("dev", 5, 3, partition="devel", level=0.5), recording("test", 5, 4, partition="test", level=0.01)]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return (write_recordings(ALONE, tmp_path_factory.mktemp("alone")),
            write_recordings(CROWDED, tmp_path_factory.mktemp("crowded")))


def normalised(folder, kind, name="a"):
    config = NormalisationConfig(kind=kind)
    for batch in recordings_for_prediction(folder, "train", normalisation=config).as_numpy_iterator():
        for i, rec_name in enumerate(batch["name"]):
            if rec_name.decode() == name:
                return batch["audio"][i, : batch["num_frames"][i]]
    raise AssertionError(name)


@pytest.mark.parametrize("kind", ["recording", "causal"])
def test_a_recordings_normalisation_ignores_other_recordings_and_partitions(folders, kind):
    alone, crowded = folders
    np.testing.assert_allclose(normalised(crowded, kind), normalised(alone, kind), rtol=1e-6)
    assert not np.allclose(normalised(alone, kind), normalised(alone, "none"))


def test_speaker_statistics_ignore_other_speakers_and_partitions(folders, tmp_path):
    alone, crowded = folders
    # 'loud' is s1 in train as well: speaker statistics pool it with 'a' (that is the protocol) ...
    with_loud = normalised(crowded, "speaker")
    same_speaker_only = write_recordings([CROWDED[0], CROWDED[1]], tmp_path / "s1")
    np.testing.assert_allclose(with_loud, normalised(same_speaker_only, "speaker"), rtol=1e-6)
    # ... and nothing else: s2 in train and s1-free devel/test partitions leave it unchanged.
    energy = sum(float(np.sum(r.audio.astype(np.float64) ** 2)) for r in CROWDED[:2])
    rms = np.sqrt(energy / sum(r.num_samples for r in CROWDED[:2]))
    np.testing.assert_allclose(with_loud, normalised(alone, "none") / rms, rtol=1e-5)


def test_recording_normalisation_gives_unit_rms_over_real_samples(folders):
    alone, _ = folders
    audio = normalised(alone, "recording").reshape(-1)[: ALONE[0].num_samples]
    assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-5)


def test_causal_frames_use_the_recording_so_far(folders):
    alone, _ = folders
    raw = ALONE[0].audio.astype(np.float64)
    out = normalised(alone, "causal")
    for frame in range(ALONE[0].num_frames):
        end = min((frame + 1) * FRAME_LENGTH_SAMPLES, ALONE[0].num_samples)
        rms = np.sqrt(np.sum(raw[:end] ** 2) / end)
        np.testing.assert_allclose(out[frame], raw[frame * FRAME_LENGTH_SAMPLES:(frame + 1) * FRAME_LENGTH_SAMPLES]
                                   / rms, rtol=1e-4, atol=1e-6)


def test_causal_in_chunks_with_carried_state_equals_one_pass():
    frames = tf.random.stateless_uniform([2, 7, FRAME_LENGTH_SAMPLES], [0, 1], -0.3, 0.3)
    num_samples = tf.constant([7 * FRAME_LENGTH_SAMPLES, 7 * FRAME_LENGTH_SAMPLES])
    config = NormalisationConfig(kind="causal")
    whole, _ = normalise_frames(frames, num_samples, config)
    first, state = normalise_frames(frames[:, :3], tf.constant([3 * FRAME_LENGTH_SAMPLES] * 2), config)
    second, _ = normalise_frames(frames[:, 3:], tf.constant([4 * FRAME_LENGTH_SAMPLES] * 2), config, state=state)
    np.testing.assert_allclose(tf.concat([first, second], 1).numpy(), whole.numpy(), rtol=1e-5)


def test_training_pipeline_normalises_as_evaluation_does(folders):
    alone, _ = folders
    config = DataConfig(sequence_frames=6, hop_frames=6, batch_size=4,
                        normalisation=NormalisationConfig(kind="recording"))
    (inputs, _), = make_dataset(alone, "train", config, training=False).as_numpy_iterator()
    np.testing.assert_allclose(inputs["audio"][0], normalised(alone, "recording"), rtol=1e-6)


def test_speaker_normalisation_needs_speaker_ids(tmp_path):
    folder = write_recordings([recording("x", 3, 0, speaker="")], tmp_path / "nospeaker")
    with pytest.raises(DatasetError, match="no speaker id"):
        normalised(folder, "speaker", "x")
