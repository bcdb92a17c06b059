"""Augmentation of training windows in the tf.data pipeline: random gain, additive noise at a
random SNR, small speed perturbation (`data.augmentation`, see `AugmentationConfig`).

Only `make_dataset(training=True)` applies it; devel, test and prediction inputs never pass here.
Every draw comes from stateless random ops keyed by a per-window seed `[2]`, which the pipeline
takes from `tf.data.Dataset.random(run seed)`: a run repeats exactly for one seed, and each epoch
draws anew (`rerandomize_each_iteration`).

Order inside a window: speed, then gain, then noise, so the SNR is that of the signal the model
gets. The window is perturbed as one signal of `sequence_frames * 2205` samples:

- speed by a factor r: output sample i reads the input at i * r with linear interpolation, so the
  window keeps its length (a faster window ends early and is zero-padded; a slower one drops its
  tail). Labels and mask follow the audio to the nearest frame (output frame j takes input frame
  floor((j + 0.5) * r)); frames past the input's end get mask 0. Resampling moves pitch with
  speed, as Kaldi's speed perturbation does. No anti-aliasing filter: at r <= 1.25 the folded band
  lies above 8.8 kHz, where speech has little energy.
- noise: white (flat spectrum) or pink (power ~ 1/f, white noise shaped in the FFT domain),
  scaled so that 10 log10(signal power / noise power) over the window's real frames is the drawn
  SNR; padding frames (all zeros) get no noise.
"""
from __future__ import annotations

from typing import Dict

import tensorflow as tf

from emorec.config import AugmentationConfig
from emorec.constants import FRAME_LENGTH_SAMPLES


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


def augment_window(window: Dict[str, tf.Tensor], seed: tf.Tensor, config: AugmentationConfig) -> Dict[str, tf.Tensor]:
    """One window (`audio` `[frames, 2205]`, `labels` `[frames, dims]`, `mask` `[frames]`, other
    fields passed through) perturbed with the stateless `seed` `[2]` int."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=6)
    audio, labels, mask = window["audio"], window["labels"], window["mask"]
    if config.speed_factor is not None:
        audio, labels, mask = speed_perturb(audio, labels, mask, _uniform(seeds[0], config.speed_factor))
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
    return {**window, "audio": audio, "labels": labels, "mask": mask}


def augment_windows(dataset: tf.data.Dataset, config: AugmentationConfig, seed) -> tf.data.Dataset:
    """`augment_window` over a dataset of windows, each with its own seed drawn from `seed`."""
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    return tf.data.Dataset.zip((dataset, seeds)).map(
        lambda window, window_seed: augment_window(window, window_seed, config),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
