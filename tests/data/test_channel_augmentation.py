"""Room, microphone and channel augmentation (reverberation, band-limiting, mu-law), each checked
against what it claims to do physically, on generated signals."""
import numpy as np
import pytest
import tensorflow as tf

from emorec.constants import SAMPLE_RATE_HZ
from emorec.data.augmentation import band_limit, mu_law, reverberate, room_impulse_response


def sine(frequency_hz, seconds=1.0, amplitude=0.5):
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    return (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)


def power_at(signal, frequency_hz):
    spectrum = np.abs(np.fft.rfft(signal)) ** 2
    return spectrum[int(round(frequency_hz * signal.size / SAMPLE_RATE_HZ))]


def test_room_impulse_response_has_its_length_direct_path_drr_and_decay():
    response = room_impulse_response(tf.constant([1, 2], tf.int64), tf.constant(0.5), tf.constant(3.0)).numpy()
    assert response.size == int(np.ceil(1.5 * 0.5 * SAMPLE_RATE_HZ))
    assert response[0] == 1.0
    # Direct-to-reverberant ratio 3 dB: the tail holds 10^(-0.3) of the direct path's energy.
    assert np.sum(response[1:] ** 2) == pytest.approx(10 ** -0.3, rel=1e-4)
    # 60 dB down at RT60: the envelope's energy over the 50 ms after 0.5 s against the first 50 ms.
    step = int(0.05 * SAMPLE_RATE_HZ)
    early, late = np.sum(response[1:step] ** 2), np.sum(response[int(0.5 * SAMPLE_RATE_HZ):][:step] ** 2)
    assert 10 * np.log10(early / late) == pytest.approx(60.0, abs=4.0)


def test_reverberation_keeps_length_and_level_and_smears_in_time():
    click = np.zeros(SAMPLE_RATE_HZ, np.float32)
    click[100] = 1.0
    response = room_impulse_response(tf.constant([3, 4], tf.int64), tf.constant(0.3), tf.constant(0.0))
    wet = reverberate(tf.constant(click), response).numpy()
    assert wet.shape == click.shape
    assert np.sqrt(np.mean(wet ** 2)) == pytest.approx(np.sqrt(np.mean(click ** 2)), rel=1e-3)
    assert np.abs(wet[:100]).max() < 1e-4  # causal: nothing before the click
    assert np.abs(wet[2000:]).max() > 1e-3  # the room still rings 90 ms later
    identity = reverberate(tf.constant(click), tf.constant([1.0])).numpy()
    np.testing.assert_allclose(identity, click, atol=1e-5)


def test_band_limiting_removes_what_lies_above_the_cutoff_only():
    signal = sine(1000.0) + sine(5000.0)
    limited = band_limit(tf.constant(signal), tf.constant(3400.0)).numpy()
    assert power_at(limited, 5000.0) < 1e-6 * power_at(signal, 5000.0)
    assert power_at(limited, 1000.0) == pytest.approx(power_at(signal, 1000.0), rel=1e-3)


def test_mu_law_is_an_8_bit_codec_that_keeps_silence_silent():
    signal = sine(440.0, amplitude=0.5)
    coded = mu_law(tf.constant(signal)).numpy()
    snr_db = 10 * np.log10(np.sum(signal ** 2) / np.sum((coded - signal) ** 2))
    assert 30.0 < snr_db < 50.0  # G.711's SNR for a loud tone: coded, not passed through
    assert len(np.unique(coded)) <= 255
    assert np.all(mu_law(tf.zeros([100])).numpy() == 0.0)


def window_with_padding(frames=20, real=12):
    rng = np.random.default_rng(0)
    audio = np.zeros((frames, 2205), np.float32)
    audio[:real] = 0.1 * rng.standard_normal((real, 2205))
    return {"audio": tf.constant(audio), "labels": tf.zeros([frames, 3]), "mask": tf.constant([1.0] * real + [0.0] * (frames - real))}


def test_channel_effects_in_a_window_repeat_per_seed_and_leave_padding_silent():
    from emorec.config import AugmentationConfig
    from emorec.data.augmentation import augment_window

    config = AugmentationConfig(enabled=True, gain_db=None, noise_snr_db=None, speed_factor=None,
                                reverb_probability=1.0, band_limit_probability=1.0, codec_probability=1.0)
    window = window_with_padding()
    first = augment_window(window, tf.constant([5, 6], tf.int64), config)["audio"].numpy()
    again = augment_window(window, tf.constant([5, 6], tf.int64), config)["audio"].numpy()
    other = augment_window(window, tf.constant([7, 8], tf.int64), config)["audio"].numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert np.all(first[12:] == 0.0)
    assert not np.allclose(first[:12], window["audio"].numpy()[:12], atol=1e-3)
    # Off by default: the same window passes through unchanged.
    plain = AugmentationConfig(enabled=True, gain_db=None, noise_snr_db=None, speed_factor=None)
    np.testing.assert_array_equal(augment_window(window, tf.constant([5, 6], tf.int64), plain)["audio"].numpy(),
                                  window["audio"].numpy())


def test_channel_settings_are_checked_like_the_rest_of_the_config():
    from emorec.config import AugmentationConfig
    from emorec.errors import ConfigError

    with pytest.raises(ConfigError, match="band_limit_hz"):
        AugmentationConfig(band_limit_hz=(3400.0, 20000.0))
    with pytest.raises(ConfigError, match="reverb_probability"):
        AugmentationConfig(reverb_probability=1.5)
    with pytest.raises(ConfigError, match="rt60_s"):
        AugmentationConfig(rt60_s=(0.9, 0.3))
