"""Waveform normalisation (`data.normalisation`, see `NormalisationConfig`): one home for the
statistics, used by the input pipeline (training and evaluation) and by the serving graph
(`emorec.export.saved_model`), so a model sees the same scaling at training, evaluation and
prediction.

Every statistic comes from the recording itself (or, for `speaker`, from that speaker's
recordings in the partition being read), never from other recordings or partitions:

- `recording`: x * target_rms / max(rms(recording), min_rms), rms over the real samples;
- `causal`: frame f scaled with the RMS of samples [0, end of frame f] of its recording (the
  recording so far), so a stream can be normalised as it arrives; the running sums carry across
  chunks;
- `speaker`: rms over all real samples of the speaker's recordings in the same partition
  (transductive for test speakers: their own test audio sets their scale).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from emorec.config import NormalisationConfig
from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.errors import PathLike


def _scale(rms: tf.Tensor, config: NormalisationConfig) -> tf.Tensor:
    return config.target_rms / tf.maximum(rms, config.min_rms)


def frame_samples(num_samples: tf.Tensor, num_frames: tf.Tensor) -> tf.Tensor:
    """Real samples in each frame, float32 `[batch, frames]`, from `num_samples` `[batch]`."""
    starts = tf.range(num_frames) * FRAME_LENGTH_SAMPLES
    real = tf.cast(num_samples, tf.int32)[:, None] - starts[None, :]
    return tf.cast(tf.clip_by_value(real, 0, FRAME_LENGTH_SAMPLES), tf.float32)


def normalise_frames(
    frames: tf.Tensor,
    num_samples: tf.Tensor,
    config: NormalisationConfig,
    *,
    state: Optional[Tuple[tf.Tensor, tf.Tensor]] = None,
    speaker_rms: Optional[tf.Tensor] = None,
):
    """Scale a batch of framed waveforms.

    frames: float32 `[batch, frames, 2205]`, zero past each row's `num_samples` `[batch]`.
    state: causal only, (sum of squares, samples) `[batch]` of the recording before these frames
    (zeros at its start). speaker_rms: speaker only, `[batch]`.
    Returns (frames scaled, new state `(sum of squares, samples)` after the last frame, zeros for
    the other kinds).
    """
    batch = tf.shape(frames)[0]
    zeros = tf.zeros([batch], tf.float32)
    if config.kind == "none":
        return frames, (zeros, zeros)
    if config.kind == "speaker":
        if speaker_rms is None:
            raise ValueError("speaker normalisation needs each row's speaker_rms")
        return frames * _scale(speaker_rms, config)[:, None, None], (zeros, zeros)
    energy = tf.reduce_sum(tf.square(frames), axis=-1)  # [batch, frames]
    samples = frame_samples(num_samples, tf.shape(frames)[1])
    if config.kind == "recording":
        rms = tf.sqrt(tf.reduce_sum(energy, axis=1) / tf.maximum(tf.reduce_sum(samples, axis=1), 1.0))
        return frames * _scale(rms, config)[:, None, None], (zeros, zeros)
    if config.kind != "causal":
        raise ValueError(f"unknown normalisation kind {config.kind!r}")
    sum_squares, count = state if state is not None else (zeros, zeros)
    cumulative_energy = sum_squares[:, None] + tf.cumsum(energy, axis=1)
    cumulative_samples = count[:, None] + tf.cumsum(samples, axis=1)
    rms = tf.sqrt(cumulative_energy / tf.maximum(cumulative_samples, 1.0))
    new_state = (sum_squares + tf.reduce_sum(energy, axis=1), count + tf.reduce_sum(samples, axis=1))
    return frames * _scale(rms, config)[:, :, None], new_state


def speaker_rms_table(files: Sequence[str], *, source: PathLike = "<data>") -> Dict[str, float]:
    """{speaker: RMS over the real samples of all their recordings} in the shards `files` (one
    partition). A `DatasetError` when a recording has no speaker id."""
    from emorec.data.schema import records_with_speakers

    sums: Dict[str, list] = {}
    for record in records_with_speakers(files, ("num_samples", "audio"), source=source,
                                        needed_by="speaker normalisation (or use kind: recording)"):
        audio = np.frombuffer(record["audio"].numpy(), dtype="<f4").astype(np.float64)
        total = sums.setdefault(record["speaker"], [0.0, 0])
        total[0] += float(np.sum(np.square(audio)))  # zeros past num_samples add nothing
        total[1] += int(record["num_samples"])
    return {speaker: float(np.sqrt(energy / max(count, 1))) for speaker, (energy, count) in sums.items()}


def normalise_recordings(dataset: tf.data.Dataset, config: NormalisationConfig, files: Sequence[str],
                         *, source: PathLike = "<data>") -> tf.data.Dataset:
    """Map parsed recordings (`audio` `[frames, 2205]`, `num_samples`, `speaker`) to normalised
    ones; `files` are the partition's shards (read once for the speaker statistics)."""
    if config.kind == "none":
        return dataset
    table = None
    if config.kind == "speaker":
        rms = speaker_rms_table(files, source=source)
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(list(rms), list(rms.values()), tf.string, tf.float32), -1.0)

    def normalise(recording):
        speaker_rms = None if table is None else table.lookup(recording["speaker"])[None]
        frames, _ = normalise_frames(recording["audio"][None], recording["num_samples"][None], config,
                                     speaker_rms=speaker_rms)
        return {**recording, "audio": frames[0]}

    return dataset.map(normalise, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
