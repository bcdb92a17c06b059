"""In-graph semantic frame features for exporting models with a semantic branch.

`SemanticFrontEnd` holds what `emorec.semantic.features.semantic_frame_features` uses (the
Speech2Vec `SpeechEncoder`, the alignment `LinearMap` or none, the boundary setting) and
`frame_features` recomputes those features with core TensorFlow ops only, for a padded batch:

1. each word's samples `[round(start_s * 22050), round(end_s * 22050))`, clipped to the row's
   length (as `cut_segments`), are gathered into a fixed buffer of the samples the encoder's first
   `max_frames` MFCC frames read (`(max_frames - 1) * hop + window`): later samples never reach it;
2. MFCCs of the buffers with the same `mfcc_tf` (tf.signal) and per-word MFCC frame counts as
   `pad_sequences` computes them (a segment shorter than one window is one frame);
3. the encoder, then the `LinearMap` (with its renorm-center-renorm preprocessing);
4. each frame takes the vector of the word overlapping it most (ties: the earlier word; overlaps
   below `MIN_OVERLAP_S` do not count), zero where no word, as `frame_word_index`; times in
   float64 like the numpy reference, so the same boundaries pick the same frames.

Word boundaries always enter the graph as inputs (`word_start_s`, `word_end_s` float32
`[batch, max_words]`, `num_words` int32 `[batch]`). For exports whose boundaries are the energy
segmenter's (a run evaluated on segmenter features, whatever it trained on: the paper trains on a
transcript's word timings and discards the text at evaluation), the client runs
`emorec.semantic.segmenter.segment_words` (numpy; its split loop is not worth a graph) with the
settings stored in the export's metadata; `emorec predict` does that. Text (word2vec) features
need a transcript and are not exported.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from emorec.constants import FRAME_RATE_HZ, SAMPLE_RATE_HZ
from emorec.errors import ExportError, PathLike

#: Sources an export can compute from audio.
AUDIO_SOURCES = ("speech2vec", "aligned_speech2vec")

WORD_INPUTS = (
    tf.TensorSpec([None, None], tf.float32, name="word_start_s"),
    tf.TensorSpec([None, None], tf.float32, name="word_end_s"),
    tf.TensorSpec([None], tf.int32, name="num_words"),
)


@dataclass
class SemanticFrontEnd:
    """What the exported graph needs to compute a run's semantic frame features from audio.

    encoder: a `emorec.semantic.speech2vec.SpeechEncoder`. linear_map: the alignment `LinearMap`
    (aligned_speech2vec) or None (speech2vec). boundaries: where the served words come from,
    "given" (the client passes them) or "segmenter" (the client segments the audio). segmenter: the
    `SegmenterConfig` dict of segmenter boundaries (stored in the export's metadata for the
    client). training_boundaries: those of the features the model trained on, when they differ
    from `boundaries` (None: the same).
    """

    encoder: object
    linear_map: Optional[object] = None
    source: str = "speech2vec"
    boundaries: str = "given"
    segmenter: Optional[dict] = None
    training_boundaries: Optional[str] = None

    @property
    def dim(self) -> int:
        return int(self.encoder.dim if self.linear_map is None else self.linear_map.output_dim)

    def metadata(self) -> dict:
        return {"source": self.source, "boundaries": self.boundaries, "dim": self.dim,
                "segmenter": self.segmenter, "training_boundaries": self.training_boundaries or self.boundaries,
                "word_inputs": [spec.name for spec in WORD_INPUTS]}

    # ------------------------------------------------------------------ the graph

    def segment_samples(self) -> int:
        """Samples the encoder's first `max_frames` MFCC frames read."""
        config = self.encoder.mfcc_config
        return (int(self.encoder.max_frames) - 1) * config.hop_samples + config.window_samples

    def frame_features(self, waveform, length, word_start_s, word_end_s, num_words, max_frames):
        """Semantic features `[batch, max_frames, dim]` float32.

        waveform: float32 `[batch, samples]` (already zeroed past `length`); length int32 `[batch]`;
        word_start_s / word_end_s float32 `[batch, words]`; num_words int32 `[batch]`; max_frames:
        scalar int32, the frame count of the batch (frames past a row's own count get zeros).
        """
        batch = tf.shape(waveform)[0]
        num_word_slots = tf.shape(word_start_s)[1]
        length = tf.minimum(tf.cast(length, tf.int32), tf.shape(waveform)[1])
        word_valid = tf.sequence_mask(num_words, num_word_slots)  # [B, W]
        # Times in float64, as the numpy reference computes them with Python floats.
        start_64 = tf.cast(word_start_s, tf.float64)
        end_64 = tf.cast(word_end_s, tf.float64)
        segments, segment_length = self._word_samples(waveform, length, start_64, end_64, batch, num_word_slots)
        vectors = tf.reshape(self._word_vectors(segments, segment_length), [batch, num_word_slots, self.dim])
        return _frame_vectors(vectors, start_64, end_64, word_valid, max_frames, batch, num_word_slots)

    def _word_samples(self, waveform: tf.Tensor, length: tf.Tensor, start_64: tf.Tensor, end_64: tf.Tensor,
                      batch: tf.Tensor, num_word_slots: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
        """Step 1: each word's samples as `cut_segments` cuts them (rounded in float64, clipped to
        the row's `length`) in a zero-padded buffer of `segment_samples()`, `[batch * words,
        samples]`, and each word's sample count `[batch, words]`."""
        buffer_samples = self.segment_samples()
        start = tf.maximum(tf.cast(tf.round(start_64 * SAMPLE_RATE_HZ), tf.int32), 0)
        end = tf.minimum(tf.cast(tf.round(end_64 * SAMPLE_RATE_HZ), tf.int32), length[:, None])
        end = tf.maximum(start, end)
        segment_length = end - start  # [B, W]
        offsets = tf.range(buffer_samples, dtype=tf.int32)
        index = start[:, :, None] + offsets  # [B, W, L]
        inside = index < end[:, :, None]
        padded = tf.pad(waveform, [[0, 0], [0, 1]])  # index `samples` reads a zero
        safe_index = tf.where(inside, index, tf.shape(waveform)[1])
        segments = tf.gather(padded, tf.reshape(safe_index, [batch, -1]), batch_dims=1)
        return tf.reshape(segments, [batch * num_word_slots, buffer_samples]), segment_length

    def _word_vectors(self, segments: tf.Tensor, segment_length: tf.Tensor) -> tf.Tensor:
        """Steps 2 and 3: MFCCs of the word buffers `[words, samples]` with the frame counts
        `pad_sequences` gives (at least 1, at most `max_frames`), the encoder, then the alignment
        map with its renorm-center-renorm preprocessing: `[words, dim]` float32."""
        from emorec.semantic.mfcc import mfcc_tf

        mfcc_config = self.encoder.mfcc_config
        window, hop = mfcc_config.window_samples, mfcc_config.hop_samples
        features = mfcc_tf(segments, mfcc_config)  # [N, max_mfcc_frames, c]
        flat_length = tf.reshape(segment_length, [-1])
        mfcc_frames = tf.where(flat_length < window, 1, 1 + (flat_length - window) // hop)
        mfcc_frames = tf.clip_by_value(mfcc_frames, 1, int(self.encoder.max_frames))
        vectors = self.encoder.model([features, mfcc_frames], training=False)
        vectors = tf.cast(vectors, tf.float32)
        if self.linear_map is not None:
            if self.linear_map.source_mean is not None:
                mean = tf.constant(np.asarray(self.linear_map.source_mean, np.float32).reshape(1, -1))
                vectors = _normalise_rows(_normalise_rows(vectors) - mean)
            W = tf.constant(np.asarray(self.linear_map.W, np.float32))
            vectors = tf.matmul(vectors, W, transpose_b=True)
        return vectors


def _frame_vectors(vectors: tf.Tensor, start_64: tf.Tensor, end_64: tf.Tensor, word_valid: tf.Tensor,
                   max_frames: tf.Tensor, batch: tf.Tensor, num_word_slots: tf.Tensor) -> tf.Tensor:
    """Step 4, `frame_word_index` in the graph: each of `max_frames` frames takes the vector
    (`vectors` `[batch, words, dim]`) of the valid word overlapping it most, zeros where none
    overlaps by more than `MIN_OVERLAP_S`; frame edges i / rate in float64. `[batch, max_frames, dim]`."""
    from emorec.semantic.features import MIN_OVERLAP_S

    frame_index = tf.cast(tf.range(max_frames), tf.float64)
    frame_starts = (frame_index / FRAME_RATE_HZ)[None, :, None]
    frame_ends = ((frame_index + 1.0) / FRAME_RATE_HZ)[None, :, None]
    overlap = tf.minimum(frame_ends, end_64[:, None, :]) - tf.maximum(frame_starts, start_64[:, None, :])
    overlap = tf.where(word_valid[:, None, :], overlap, tf.constant(-np.inf, tf.float64))  # [B, F, W]
    best = tf.reduce_max(tf.concat([overlap, tf.fill([batch, max_frames, 1], tf.constant(-np.inf, tf.float64))],
                                   axis=2), axis=2)
    # The first word reaching the maximum (the numpy loop only replaces on a strict increase).
    word_ids = tf.broadcast_to(tf.range(num_word_slots)[None, None, :], tf.shape(overlap))
    first_best = tf.reduce_min(tf.where(overlap >= best[:, :, None], word_ids, num_word_slots), axis=2)
    first_best = tf.minimum(first_best, num_word_slots)  # no word slots at all: the zero row
    covered = best > MIN_OVERLAP_S
    frame_vectors = tf.gather(tf.pad(vectors, [[0, 0], [0, 1], [0, 0]]), first_best, batch_dims=1)
    return frame_vectors * tf.cast(covered, tf.float32)[:, :, None]


def _normalise_rows(matrix):
    """`emorec.semantic.alignment.normalise_rows` in tf: unit rows, zero rows stay zero."""
    norms = tf.norm(matrix, axis=1, keepdims=True)
    return matrix / tf.maximum(norms, 1e-12)


def front_end_from_features_dir(features_dir: PathLike, run_dir: Optional[PathLike] = None) -> SemanticFrontEnd:
    """The front end of a run from its semantic features folder (`semantic.json`: source,
    boundaries, artefacts folder, segmenter settings). Raises `ExportError` for word2vec."""
    from emorec.data.semantic_features import read_metadata
    from emorec.semantic.features import SemanticArtefacts

    features_dir = Path(features_dir)
    meta = read_metadata(features_dir, missing="the run's semantic features folder is needed to export its "
                                               "semantic branch (source, boundaries and artefacts)")
    source = meta.get("source")
    if source not in AUDIO_SOURCES:
        where = f"run {run_dir}" if run_dir is not None else str(features_dir)
        raise ExportError(f"{where}: semantic source {source!r} cannot be exported: word2vec features are read "
                          "from a transcript, and an export takes audio only (speech2vec / aligned_speech2vec can)")
    artefacts = SemanticArtefacts(meta["artefacts_dir"])
    linear_map = artefacts.W if source == "aligned_speech2vec" else None
    segmenter = meta.get("segmenter")
    if meta.get("boundaries") == "segmenter" and segmenter is None:
        from emorec.semantic.segmenter import SegmenterConfig

        segmenter = SegmenterConfig().to_dict()
    return SemanticFrontEnd(artefacts.encoder, linear_map, source, meta.get("boundaries", "given"), segmenter)
