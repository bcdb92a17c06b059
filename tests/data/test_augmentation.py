"""Augmentation: changes training windows, never devel/evaluation ones, repeats for a seed, and
adds noise at an SNR inside the configured range (measured from the output)."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from emorec.config import AugmentationConfig, DataConfig
from emorec.constants import FRAME_LENGTH_SAMPLES, SAMPLE_RATE_HZ
from emorec.data.augmentation import augment_window
from emorec.data.pipeline import make_dataset
from emorec.data.schema import Recording
from tfrecords_tools.writer import write_recordings

ON = AugmentationConfig(enabled=True)


def recording(name, frames, seed, partition="train"):
    rng = np.random.default_rng(seed)
    return Recording(name=name, partition=partition, speaker="s", num_samples=frames * FRAME_LENGTH_SAMPLES,
                     audio=rng.uniform(-0.5, 0.5, frames * FRAME_LENGTH_SAMPLES).astype(np.float32),
                     label_names=["arousal"], labels=rng.normal(size=(frames, 1)).astype(np.float32),
                     label_mask=np.ones(frames, np.float32))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    recs = [recording("a", 9, 0), recording("b", 6, 1), recording("c", 6, 2, "devel")]
    return write_recordings(recs, tmp_path_factory.mktemp("aug"))


def audio_of(folder, partition, augmentation, *, training, seed=7, epochs=1):
    config = DataConfig(sequence_frames=4, hop_frames=4, batch_size=64, shuffle_buffer=8, augmentation=augmentation)
    dataset = make_dataset(folder, partition, config, training=training, seed=seed)
    return [np.concatenate([inputs["audio"] for inputs, _ in dataset.as_numpy_iterator()]) for _ in range(epochs)]


def test_augmentation_changes_training_windows(folder):
    plain = audio_of(folder, "train", AugmentationConfig(enabled=False), training=True)[0]
    augmented = audio_of(folder, "train", ON, training=True)[0]
    assert plain.shape == augmented.shape
    assert all(not np.allclose(a, p) for a, p in zip(augmented, plain))  # every window perturbed


@pytest.mark.parametrize("partition", ["train", "devel"])
def test_augmentation_is_off_without_the_training_flag(folder, partition):
    plain = audio_of(folder, partition, AugmentationConfig(enabled=False), training=False)[0]
    np.testing.assert_array_equal(audio_of(folder, partition, ON, training=False)[0], plain)


def test_same_seed_repeats_and_epochs_draw_anew(folder):
    first_epoch, second_epoch = audio_of(folder, "train", ON, training=True, seed=3, epochs=2)
    np.testing.assert_array_equal(audio_of(folder, "train", ON, training=True, seed=3)[0], first_epoch)
    assert not np.allclose(audio_of(folder, "train", ON, training=True, seed=4)[0], first_epoch)
    assert not np.allclose(second_epoch, first_epoch)


def window(seed=0, frames=20):
    rng = np.random.default_rng(seed)
    t = np.arange(frames * FRAME_LENGTH_SAMPLES) / SAMPLE_RATE_HZ
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + rng.uniform(0, 0.1))).astype(np.float32)
    return {"audio": tf.constant(audio.reshape(frames, FRAME_LENGTH_SAMPLES)),
            "labels": tf.constant(np.arange(frames, dtype=np.float32)[:, None]),
            "mask": tf.ones([frames]), "name": tf.constant(b"w")}


@pytest.mark.parametrize("colour", ["white", "pink", "mixed"])
def test_noise_snr_is_within_the_configured_range(colour):
    config = AugmentationConfig(enabled=True, gain_db=None, speed_factor=None, noise_snr_db=(5.0, 15.0),
                                noise_colour=colour)
    measured = []
    for seed in range(12):
        clean = window(seed)
        noisy = augment_window(clean, tf.constant([seed, 1]), config)["audio"].numpy()
        signal = clean["audio"].numpy()
        measured.append(10 * np.log10(np.sum(signal ** 2) / np.sum((noisy - signal) ** 2)))
    assert min(measured) >= 5.0 - 1e-3 and max(measured) <= 15.0 + 1e-3
    assert max(measured) - min(measured) > 3.0  # drawn, not fixed


def test_pink_noise_has_more_power_at_low_frequencies():
    config = AugmentationConfig(enabled=True, gain_db=None, speed_factor=None, noise_snr_db=(0.0, 0.0),
                                noise_colour="pink")
    silent_but_one = window()
    noise = augment_window(silent_but_one, tf.constant([1, 2]), config)["audio"].numpy().reshape(-1)
    noise = noise - silent_but_one["audio"].numpy().reshape(-1)
    power = np.abs(np.fft.rfft(noise)) ** 2
    freqs = np.fft.rfftfreq(noise.size, 1 / SAMPLE_RATE_HZ)
    low, high = power[(freqs > 100) & (freqs < 1000)].mean(), power[(freqs > 5000) & (freqs < 10000)].mean()
    assert low > 3 * high


def test_gain_within_range():
    config = AugmentationConfig(enabled=True, gain_db=(-6.0, 6.0), speed_factor=None, noise_snr_db=None)
    clean = window()
    for seed in range(8):
        out = augment_window(clean, tf.constant([seed, 0]), config)["audio"].numpy()
        ratio_db = 20 * np.log10(np.abs(out).max() / np.abs(clean["audio"].numpy()).max())
        assert -6.0 - 1e-3 <= ratio_db <= 6.0 + 1e-3


def test_speed_perturbation_moves_pitch_and_labels_together():
    config = AugmentationConfig(enabled=True, gain_db=None, noise_snr_db=None, speed_factor=(1.1, 1.1))
    clean = window(frames=20)
    out = augment_window(clean, tf.constant([0, 0]), config)
    audio = out["audio"].numpy().reshape(-1)[: 15 * FRAME_LENGTH_SAMPLES]  # before the zero-padded end
    spectrum = np.abs(np.fft.rfft(audio))
    peak_hz = np.fft.rfftfreq(audio.size, 1 / SAMPLE_RATE_HZ)[spectrum.argmax()]
    assert peak_hz == pytest.approx(242.0, abs=2.0)  # 220 Hz played 1.1 times faster
    assert out["audio"].shape == clean["audio"].shape
    np.testing.assert_array_equal(out["labels"].numpy()[:, 0][:5], [0, 1, 2, 3, 4])  # floor((j + .5) * 1.1)
    assert out["labels"].numpy()[10, 0] == 11  # the label follows the audio
    mask = out["mask"].numpy()
    assert mask[:18].all() and mask[-1] == 0  # frame 19 reads past the window's end
