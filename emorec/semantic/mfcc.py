"""MFCCs with `tf.signal`, the input of Speech2Vec.

25 ms Hann windows every 10 ms, a power spectrum, a mel filterbank, log, DCT-II; the first
`num_coefficients` coefficients. The same function serves training and inference.
"""
from __future__ import annotations

import functools
from typing import Sequence, Tuple

import numpy as np
import tensorflow as tf

# The settings live in the experiment config (`semantic.speech2vec.mfcc`).
from emorec.config import MfccConfig


def mfcc(waveform: np.ndarray, config: MfccConfig = MfccConfig()) -> np.ndarray:
    """MFCCs of one waveform `[samples]` at `config.sample_rate_hz`: `[frames, num_coefficients]`.

    A waveform shorter than one window is zero-padded to one window (one frame).
    """
    waveform = np.asarray(waveform, dtype=np.float32).reshape(-1)
    if waveform.shape[0] < config.window_samples:
        waveform = np.pad(waveform, (0, config.window_samples - waveform.shape[0]))
    return _compiled_mfcc(config)(tf.constant(waveform)).numpy()


@functools.lru_cache(maxsize=8)
def _compiled_mfcc(config: MfccConfig):
    """One traced graph per config for 1-D waveforms of any length (eager tf.signal calls rebuild
    the mel matrix every time and are an order of magnitude slower)."""
    return tf.function(lambda waveform: mfcc_tf(waveform, config),
                       input_signature=[tf.TensorSpec([None], tf.float32)])


def mfcc_tf(waveform: tf.Tensor, config: MfccConfig = MfccConfig()) -> tf.Tensor:
    """Graph-safe MFCCs: `[..., samples] -> [..., frames, num_coefficients]`."""
    fft_length = int(2 ** np.ceil(np.log2(config.window_samples)))
    stft = tf.signal.stft(waveform, frame_length=config.window_samples, frame_step=config.hop_samples,
                          fft_length=fft_length, window_fn=tf.signal.hann_window)
    power = tf.math.square(tf.abs(stft))
    mel_matrix = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=config.num_mel_bins, num_spectrogram_bins=fft_length // 2 + 1,
        sample_rate=config.sample_rate_hz, lower_edge_hertz=config.lower_edge_hz,
        upper_edge_hertz=min(config.upper_edge_hz, config.sample_rate_hz / 2))
    mel = tf.tensordot(power, mel_matrix, 1)
    log_mel = tf.math.log(mel + config.log_offset)
    return tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., : config.num_coefficients]


def pad_sequences(sequences: Sequence[np.ndarray], max_frames: int) -> Tuple[np.ndarray, np.ndarray]:
    """Stack `[frames_i, c]` sequences into `[n, max_frames, c]` (zero-padded, longer ones
    truncated) and their lengths `[n]`."""
    n = len(sequences)
    channels = sequences[0].shape[1] if n else 0
    batch = np.zeros((n, max_frames, channels), dtype=np.float32)
    lengths = np.zeros(n, dtype=np.int32)
    for i, seq in enumerate(sequences):
        length = min(len(seq), max_frames)
        batch[i, :length] = seq[:length]
        lengths[i] = max(length, 1)
    return batch, lengths
