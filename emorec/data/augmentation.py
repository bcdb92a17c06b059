"""Augmentation of training windows in the tf.data pipeline: random gain, additive noise at a
random SNR, small speed perturbation, and what differs between rooms, microphones and channels:
reverberation, band-limiting and the G.711 mu-law codec (`data.augmentation`, see
`AugmentationConfig`).

Only `make_dataset(training=True)` applies it; devel, test and prediction inputs never pass here.
Every draw comes from stateless random ops keyed by a per-window seed `[2]`, which the pipeline
takes from `tf.data.Dataset.random(run seed)`: a run repeats exactly for one seed, and each epoch
draws anew (`rerandomize_each_iteration`).

Order inside a window: speed, reverberation, band-limiting, gain, noise, then the codec: the room
acts on the voice, the microphone and channel on the room's sound, and the codec on all of it, so
the SNR is that of the signal the model gets before coding. The window is perturbed as one signal of `sequence_frames * 2205` samples:

- speed by a factor r: output sample i reads the input at i * r with linear interpolation, so the
  window keeps its length (a faster window ends early and is zero-padded; a slower one drops its
  tail). Labels and mask follow the audio to the nearest frame (output frame j takes input frame
  floor((j + 0.5) * r)); frames past the input's end get mask 0. Resampling moves pitch with
  speed, as Kaldi's speed perturbation does. No anti-aliasing filter: at r <= 1.25 the folded band
  lies above 8.8 kHz, where speech has little energy.
- reverberation: the window convolved with a synthetic room impulse response, Polack's statistical
  model (Gaussian noise under an exponential envelope whose energy falls by 60 dB in the drawn RT60,
  a unit direct path first), mixed so the reverberant tail sits at the drawn direct-to-reverberant
  ratio; the output is rescaled to the input's RMS so reverberation does not change the level.
- band-limiting: every frequency above the drawn cut-off is removed (FFT-domain brick wall), as a
  narrow-band microphone or a telephone channel (3.4 kHz) would.
- codec: 8-bit G.711 mu-law, the telephone codec: companded, quantised to 256 levels, expanded.
- noise: white (flat spectrum) or pink (power ~ 1/f, white noise shaped in the FFT domain),
  scaled so that 10 log10(signal power / noise power) over the window's real frames is the drawn
  SNR; padding frames (all zeros) get no noise.
"""
from __future__ import annotations

from typing import Dict

import tensorflow as tf

from emorec.config import AugmentationConfig
from emorec.constants import FRAME_LENGTH_SAMPLES, SAMPLE_RATE_HZ


def _uniform(seed: tf.Tensor, bounds) -> tf.Tensor:
    return tf.random.stateless_uniform([], seed, minval=float(bounds[0]), maxval=float(bounds[1]))


def speed_perturb(audio: tf.Tensor, labels: tf.Tensor, mask: tf.Tensor, factor: tf.Tensor):
    """Play the window `factor` times faster, keeping its frame count.

    audio `[frames, 2205]`, labels `[frames, dims]`, mask `[frames]`; returns the same shapes.
    """
    frames = tf.shape(audio)[0]
    signal = tf.reshape(audio, [-1])
    num_samples = tf.shape(signal)[0]
    positions = tf.cast(tf.range(num_samples), tf.float32) * factor
    left = tf.cast(tf.floor(positions), tf.int32)
    fraction = positions - tf.cast(left, tf.float32)
    padded = tf.concat([signal, [0.0]], axis=0)  # the last sample's right neighbour
    inside = left < num_samples
    left = tf.minimum(left, num_samples - 1)
    resampled = tf.gather(padded, left) * (1.0 - fraction) + tf.gather(padded, left + 1) * fraction
    resampled = tf.where(inside, resampled, 0.0)
    source_frame = tf.cast(tf.floor((tf.cast(tf.range(frames), tf.float32) + 0.5) * factor), tf.int32)
    in_window = source_frame < frames
    source_frame = tf.minimum(source_frame, frames - 1)
    new_labels = tf.gather(labels, source_frame)
    new_mask = tf.where(in_window, tf.gather(mask, source_frame), 0.0)
    return tf.reshape(resampled, [frames, FRAME_LENGTH_SAMPLES]), new_labels, new_mask


def coloured_noise(num_samples: tf.Tensor, seed: tf.Tensor, pink: tf.Tensor) -> tf.Tensor:
    """Unit-RMS noise `[num_samples]`: white, or pink (power ~ 1/f) when `pink` is true."""
    white = tf.random.stateless_normal([num_samples], seed)

    def make_pink():
        spectrum = tf.signal.rfft(white)
        bins = tf.cast(tf.range(tf.shape(spectrum)[0]), tf.float32)
        # Amplitude 1/sqrt(f) gives power 1/f; the DC bin is dropped.
        shape = tf.where(bins > 0, tf.math.rsqrt(tf.maximum(bins, 1.0)), 0.0)
        return tf.signal.irfft(spectrum * tf.cast(shape, tf.complex64), fft_length=[num_samples])

    noise = tf.cond(pink, make_pink, lambda: white)
    return noise * tf.math.rsqrt(tf.reduce_mean(tf.square(noise)) + 1e-20)


def room_impulse_response(seed: tf.Tensor, rt60_s: tf.Tensor, drr_db: tf.Tensor,
                          sample_rate_hz: float = float(SAMPLE_RATE_HZ)) -> tf.Tensor:
    """A synthetic room impulse response `[samples]` (Polack's model): 1 at t = 0, then Gaussian
    noise under exp(-6.91 t / rt60_s) (-60 dB at rt60_s) for 1.5 rt60_s, its energy set to
    10^(-drr_db / 10) of the direct path's."""
    length = tf.cast(tf.math.ceil(1.5 * rt60_s * sample_rate_hz), tf.int32)
    t = tf.cast(tf.range(1, length), tf.float32) / sample_rate_hz
    tail = tf.random.stateless_normal([length - 1], seed) * tf.exp(-6.907755 * t / rt60_s)
    tail = tail * tf.sqrt(tf.pow(10.0, -drr_db / 10.0) / (tf.reduce_sum(tf.square(tail)) + 1e-20))
    return tf.concat([[1.0], tail], axis=0)


def reverberate(signal: tf.Tensor, response: tf.Tensor) -> tf.Tensor:
    """`signal` `[samples]` convolved with `response`, cut to its length and rescaled to its RMS."""
    length = tf.shape(signal)[0] + tf.shape(response)[0] - 1
    size = tf.cast(2 ** tf.math.ceil(tf.math.log(tf.cast(length, tf.float32)) / tf.math.log(2.0)), tf.int32)
    wet = tf.signal.irfft(tf.signal.rfft(signal, [size]) * tf.signal.rfft(response, [size]), [size])
    wet = wet[:tf.shape(signal)[0]]
    return wet * tf.sqrt((tf.reduce_mean(tf.square(signal)) + 1e-20) / (tf.reduce_mean(tf.square(wet)) + 1e-20))


def band_limit(signal: tf.Tensor, cutoff_hz: tf.Tensor, sample_rate_hz: float = float(SAMPLE_RATE_HZ)) -> tf.Tensor:
    """`signal` `[samples]` without its content above `cutoff_hz`."""
    samples = tf.shape(signal)[0]
    spectrum = tf.signal.rfft(signal)
    bin_hz = tf.cast(tf.range(tf.shape(spectrum)[0]), tf.float32) * sample_rate_hz / tf.cast(samples, tf.float32)
    return tf.signal.irfft(spectrum * tf.cast(bin_hz <= cutoff_hz, tf.complex64), [samples])


def mu_law(signal: tf.Tensor, mu: float = 255.0) -> tf.Tensor:
    """`signal` through 8-bit G.711 mu-law coding and decoding (values clipped to [-1, 1]): a sign
    bit and 127 magnitude steps of the companded value, so silence stays exactly silent."""
    clipped = tf.clip_by_value(signal, -1.0, 1.0)
    companded = tf.math.log1p(mu * tf.abs(clipped)) / tf.math.log1p(mu)
    quantised = tf.round(companded * 127.0) / 127.0
    return tf.sign(clipped) * (tf.pow(1.0 + mu, quantised) - 1.0) / mu


def _maybe(seed: tf.Tensor, probability: float, apply, signal: tf.Tensor) -> tf.Tensor:
    """`apply(signal)` with `probability`, else `signal`."""
    if probability <= 0.0:
        return signal
    return tf.cond(tf.random.stateless_uniform([], seed) < probability, lambda: apply(signal), lambda: signal)


def channel_effects(audio: tf.Tensor, seeds: tf.Tensor, config: AugmentationConfig) -> tf.Tensor:
    """Reverberation and band-limiting of one window `[frames, 2205]`; padding frames stay silent."""
    if config.reverb_probability <= 0.0 and config.band_limit_probability <= 0.0:
        return audio
    real = tf.cast(tf.reduce_any(tf.not_equal(audio, 0.0), axis=-1, keepdims=True), audio.dtype)
    signal = tf.reshape(audio, [-1])
    response = lambda s: reverberate(s, room_impulse_response(  # noqa: E731
        seeds[6], _uniform(seeds[7], config.rt60_s), _uniform(seeds[8], config.drr_db)))
    signal = _maybe(seeds[5], config.reverb_probability, response, signal)
    signal = _maybe(seeds[9], config.band_limit_probability,
                    lambda s: band_limit(s, _uniform(seeds[10], config.band_limit_hz)), signal)
    return tf.reshape(signal, tf.shape(audio)) * real


def augment_window(window: Dict[str, tf.Tensor], seed: tf.Tensor, config: AugmentationConfig) -> Dict[str, tf.Tensor]:
    """One window (`audio` `[frames, 2205]`, `labels` `[frames, dims]`, `mask` `[frames]`, other
    fields passed through) perturbed with the stateless `seed` `[2]` int."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=12)
    audio, labels, mask = window["audio"], window["labels"], window["mask"]
    if config.speed_factor is not None:
        audio, labels, mask = speed_perturb(audio, labels, mask, _uniform(seeds[0], config.speed_factor))
    audio = channel_effects(audio, seeds, config)
    if config.gain_db is not None:
        audio = audio * tf.pow(10.0, _uniform(seeds[1], config.gain_db) / 20.0)
    if config.noise_snr_db is not None:
        snr_db = _uniform(seeds[2], config.noise_snr_db)
        if config.noise_colour == "mixed":
            pink = tf.random.stateless_uniform([], seeds[3]) < 0.5
        else:
            pink = tf.constant(config.noise_colour == "pink")
        # Padding frames (all zeros, past a recording's end) stay silent: they are not speech, and
        # models that take statistics over real frames find them by their zeros.
        real = tf.cast(tf.reduce_any(tf.not_equal(audio, 0.0), axis=-1), audio.dtype)  # [frames]
        real_samples = tf.reshape(tf.repeat(real[:, None], tf.shape(audio)[1], axis=1), [-1])
        signal = tf.reshape(audio, [-1])
        signal_rms = tf.sqrt(tf.reduce_sum(tf.square(signal)) / tf.maximum(tf.reduce_sum(real_samples), 1.0))
        noise = coloured_noise(tf.shape(signal)[0], seeds[4], pink) * real_samples
        audio = tf.reshape(signal + noise * signal_rms * tf.pow(10.0, -snr_db / 20.0), tf.shape(audio))
    audio = _maybe(seeds[11], config.codec_probability, mu_law, audio)
    return {**window, "audio": audio, "labels": labels, "mask": mask}


def augment_windows(dataset: tf.data.Dataset, config: AugmentationConfig, seed) -> tf.data.Dataset:
    """`augment_window` over a dataset of windows, each with its own seed drawn from `seed`."""
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    return tf.data.Dataset.zip((dataset, seeds)).map(
        lambda window, window_seed: augment_window(window, window_seed, config),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
