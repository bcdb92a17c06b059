"""Frame-level semantic features (10 Hz frames of 2205 samples at 22.05 kHz).

Frame i covers `[i * 0.1 s, (i + 1) * 0.1 s)`. It takes the vector of the word that overlaps it
most (ties: the earlier word); a frame no word overlaps is all zeros. One function,
`semantic_frame_features`, serves training and inference; only the boundaries differ by setting:
given ones (word timings / forced alignment stored in the converted data) or the transcript-free
`segmenter`.

`add_semantic_features` writes them for a converted folder, in the layout that
`emorec.data.semantic_features` defines and reads.
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from emorec.config import SEGMENTER_ALGORITHM
from emorec.data.console import progress_bar
from emorec.constants import FRAME_RATE_HZ, SAMPLE_RATE_HZ, SCHEMA_VERSION
from emorec.data.locking import output_lock
from emorec.data.manifest import read_manifest
from emorec.data.recordings import partition_shards
from emorec.data.schema import Recording, example_to_recording
from emorec.data.semantic_features import (BOUNDARIES, SOURCES, features_example, load_metadata_unchecked,
                                           reusable_partitions, semantic_features_dir, write_metadata)
from emorec.data.shards import ShardWriter
from emorec.errors import ConfigError, InputFileError, PathLike
from emorec.semantic.alignment import LinearMap
from emorec.semantic.segmenter import SegmenterConfig, segment_words
from emorec.semantic.segments import cut_segments

logger = logging.getLogger(__name__)

MIN_OVERLAP_S = 1e-6

# Artefact folder layout (SemanticFeaturesConfig.artefacts_dir).
WORD2VEC_FILENAME = "word2vec.bin"
SPEECH2VEC_DIRNAME = "speech2vec"
ALIGNMENT_FILENAME = "alignment.npy"


def frame_word_index(starts_s: Sequence[float], ends_s: Sequence[float], num_frames: int) -> np.ndarray:
    """For each frame, the index of the word overlapping it most, or -1: `[num_frames]` int."""
    index = np.full(num_frames, -1, dtype=np.int64)
    best = np.zeros(num_frames, dtype=np.float64)
    # i / rate rather than i * 0.1: exact edges, so a word starting at 1.9 s does not overlap frame 18.
    frame_starts = np.arange(num_frames) / FRAME_RATE_HZ
    frame_ends = np.arange(1, num_frames + 1) / FRAME_RATE_HZ
    for w, (start_s, end_s) in enumerate(zip(starts_s, ends_s)):
        overlap = np.minimum(frame_ends, end_s) - np.maximum(frame_starts, start_s)
        # Overlaps below MIN_OVERLAP_S are rounding noise of float times, not a word in the frame.
        better = overlap > np.maximum(best, MIN_OVERLAP_S)
        index[better] = w
        best[better] = overlap[better]
    return index


def spread_to_frames(word_vectors: np.ndarray, starts_s: Sequence[float], ends_s: Sequence[float],
                     num_frames: int) -> np.ndarray:
    """Word vectors `[words, dim]` placed on the frame grid: `[num_frames, dim]`, zero without a word."""
    word_vectors = np.asarray(word_vectors, dtype=np.float32)
    index = frame_word_index(starts_s, ends_s, num_frames)
    features = np.zeros((num_frames, word_vectors.shape[1]), dtype=np.float32)
    covered = index >= 0
    features[covered] = word_vectors[index[covered]]
    return features


def semantic_frame_features(audio_22k: np.ndarray, num_frames: int,
                            word_boundaries_s: Optional[Sequence[Tuple[float, float]]], encoder,
                            W: Union[None, np.ndarray, LinearMap] = None,
                            segmenter_config: Optional[SegmenterConfig] = None) -> np.ndarray:
    """Speech-based semantic features of one recording: `[num_frames, dim]` float32.

    audio_22k: waveform `[samples]` at 22.05 kHz (padding past the real samples is harmless).
    word_boundaries_s: (start_s, end_s) per word; None runs the transcript-free segmenter.
    encoder: a `SpeechEncoder`. W: alignment matrix `[target_dim, encoder_dim]`, a `LinearMap`
    (matrix plus the preprocessing it was learned with), or None (raw Speech2Vec).
    Each word segment's encoder output, mapped by W, covers the frames of that word; frames with no
    word are zeros.
    """
    if word_boundaries_s is None:
        word_boundaries_s = segment_words(audio_22k, segmenter_config or SegmenterConfig())
    if W is not None and not isinstance(W, LinearMap):
        W = LinearMap(np.asarray(W, dtype=np.float32))
    dim = encoder.dim if W is None else W.output_dim
    if len(word_boundaries_s) == 0:
        return np.zeros((num_frames, dim), dtype=np.float32)
    starts, ends = zip(*word_boundaries_s)
    embeddings = encoder.embed_segments(cut_segments(audio_22k, word_boundaries_s))
    if W is not None:
        embeddings = W.apply(embeddings)
    return spread_to_frames(embeddings, starts, ends, num_frames)


def text_frame_features(words: Sequence[str], starts_s: Sequence[float], ends_s: Sequence[float],
                        num_frames: int, keyed_vectors) -> np.ndarray:
    """Word2Vec features from a transcript (Table 2's Word2Vec row): `[num_frames, dim]` float32.

    An out-of-vocabulary word gets zeros (never a fresh random vector), like a frame without a word.
    """
    from emorec.semantic.word2vec import word_vector

    if len(words) == 0:
        return np.zeros((num_frames, keyed_vectors.vector_size), dtype=np.float32)
    vectors = np.stack([word_vector(keyed_vectors, w) for w in words])
    return spread_to_frames(vectors, starts_s, ends_s, num_frames)


class SemanticArtefacts:
    """The trained pieces in an artefacts folder: `word2vec.bin`, `speech2vec/`, `alignment.npy`.
    Each is loaded on first use."""

    def __init__(self, folder: PathLike):
        self.folder = Path(folder)
        self._keyed_vectors = None
        self._encoder = None
        self._W = None

    @property
    def keyed_vectors(self):
        if self._keyed_vectors is None:
            from emorec.semantic.word2vec import load_keyed_vectors

            self._keyed_vectors = load_keyed_vectors(self.folder / WORD2VEC_FILENAME)
        return self._keyed_vectors

    @property
    def encoder(self):
        if self._encoder is None:
            from emorec.semantic.speech2vec import SpeechEncoder

            self._encoder = SpeechEncoder.load(self.folder / SPEECH2VEC_DIRNAME)
        return self._encoder

    @property
    def W(self) -> LinearMap:
        if self._W is None:
            path = self.folder / ALIGNMENT_FILENAME
            if not path.is_file():
                raise InputFileError(path, "no alignment matrix here (run `emorec semantic align`)")
            self._W = LinearMap.load(path)
        return self._W


def check_setting(source: str, boundaries: str) -> None:
    """Raise ConfigError for an unknown source/boundary setting or one that cannot work."""
    if source not in SOURCES:
        raise ConfigError("semantic features", "source", f"{source!r} is not one of {', '.join(SOURCES)}")
    if boundaries not in BOUNDARIES:
        raise ConfigError("semantic features", "boundaries", f"{boundaries!r} is not one of {', '.join(BOUNDARIES)}")
    if source == "word2vec" and boundaries != "given":
        raise ConfigError("semantic features", "boundaries",
                          "word2vec features read the transcript, so they need boundaries 'given'")


def recording_features(recording: Recording, source: str, boundaries: str, artefacts: SemanticArtefacts,
                       segmenter_config: Optional[SegmenterConfig] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Semantic features of one recording for a source/boundary setting: features
    `[recording.num_frames, dim]` and word_mask `[num_frames]` (1 where a word covers the frame,
    even an out-of-vocabulary word whose vector is zeros)."""
    check_setting(source, boundaries)
    audio = recording.audio[: recording.num_samples]
    if boundaries == "given":
        spans = list(zip(recording.word_start_s, recording.word_end_s))
    else:
        spans = segment_words(audio, segmenter_config or SegmenterConfig())
    word_mask = (frame_word_index([s for s, _ in spans], [e for _, e in spans], recording.num_frames) >= 0)
    if source == "word2vec":
        features = text_frame_features(recording.words, recording.word_start_s, recording.word_end_s,
                                       recording.num_frames, artefacts.keyed_vectors)
    else:
        W = artefacts.W if source == "aligned_speech2vec" else None
        features = semantic_frame_features(audio, recording.num_frames, spans, artefacts.encoder, W)
    return features, word_mask.astype(np.float32)


def add_semantic_features(converted_dir: PathLike, source: str, boundaries: str, artefacts_dir: PathLike,
                          partitions: Optional[Sequence[str]] = None, output_dir: Optional[PathLike] = None,
                          segmenter_config: Optional[SegmenterConfig] = None, *,
                          progress: bool = False) -> Path:
    """Write semantic features for every recording of a converted dataset folder.

    segmenter_config: the experiment config's `semantic.segmenter` section (default: its
    defaults); it finds the words of `boundaries="segmenter"` and is stored in `semantic.json`.
    progress: a bar of recordings with ETA on stderr (plain lines, about 20, when not a terminal).

    Output: `output_dir` (default `<converted>/semantic/<source>-<boundaries>/`), laid out as the
    module docstring describes. Returns the output folder.

    Crash safety: before any shard is touched, `semantic.json` is rewritten with `complete: false`
    and without the partitions being rewritten; each shard is written as `<name>.partial` and
    renamed when whole; the final `semantic.json` (`complete: true`) is written last, atomically.
    A run that fails therefore never leaves a complete-looking folder with a short shard (the
    training pipeline zips audio and feature shards, which would silently drop recordings).
    Writing only some `partitions` keeps the other partitions of an earlier run of the same
    setting (same source, boundaries, artefacts, segmenter and dim, shards present).
    """
    check_setting(source, boundaries)
    converted_dir = Path(converted_dir)
    artefacts = artefacts_dir if isinstance(artefacts_dir, SemanticArtefacts) else SemanticArtefacts(artefacts_dir)
    output = Path(output_dir) if output_dir else semantic_features_dir(converted_dir, source, boundaries)
    segmenter_config = segmenter_config or SegmenterConfig()
    manifest = read_manifest(converted_dir)
    to_write = partition_shards(converted_dir, partitions, manifest)  # fails before the output is touched
    # Load the artefacts this setting needs before the output is touched too: a missing or refused
    # file (a pickle, see word2vec.load_keyed_vectors) then leaves no half-written folder behind.
    if source == "word2vec":
        _ = artefacts.keyed_vectors
    else:
        _ = artefacts.encoder
        if source == "aligned_speech2vec":
            _ = artefacts.W
    # One writer per features folder: two runs at once would interleave shards and semantic.json.
    with output_lock(output, f"emorec semantic features {converted_dir} --source {source} --boundaries {boundaries}"):
        return _write_features(converted_dir, source, boundaries, artefacts, to_write, manifest, output,
                               segmenter_config, progress)


def _write_features(converted_dir: Path, source: str, boundaries: str, artefacts: SemanticArtefacts,
                    to_write, manifest: dict, output: Path, segmenter_config: SegmenterConfig,
                    progress: bool) -> Path:
    """The body of `add_semantic_features`, run while holding the output folder's lock."""
    setting = {"schema_version": SCHEMA_VERSION, "source": source, "boundaries": boundaries,
               "artefacts_dir": str(Path(artefacts.folder).resolve()),
               "segmenter": segmenter_config.to_dict() if boundaries == "segmenter" else None,
               "segmenter_algorithm": SEGMENTER_ALGORITHM if boundaries == "segmenter" else None,
               "sample_rate_hz": SAMPLE_RATE_HZ}
    previous = load_metadata_unchecked(output)
    kept = reusable_partitions(previous, output, setting, manifest, list(to_write))
    previous_dim = previous.get("dim") if previous and kept else None
    meta = {**setting, "dim": previous_dim, "converted_dir": str(converted_dir), "partitions": dict(kept),
            "complete": False}
    # First invalidate: from here until the end, the folder is visibly unfinished, and a rerun can
    # still keep the untouched partitions listed here.
    write_metadata(output, meta)

    written: Dict[str, dict] = {}
    dim: Optional[int] = None
    total = sum(int(manifest["partitions"][name].get("recordings", 0)) for name in to_write) or None
    bar = progress_bar(total, f"semantic features {source}-{boundaries}", unit="recording", enabled=progress,
                       line_every=max(1, (total or 0) // 20))
    features_of = functools.partial(recording_features, source=source, boundaries=boundaries, artefacts=artefacts,
                                    segmenter_config=segmenter_config)
    for partition, shards in to_write.items():
        info = {"shards": [], "shard_recordings": [], "recordings": 0, "frames": 0, "word_frames": 0}
        for shard in shards:
            shard_dim = _write_shard(shard, output, features_of, info, bar)
            dim = dim if shard_dim is None else shard_dim
        written[partition] = info
        logger.info("%s: %d recordings, %d of %d frames with a word", partition, info["recordings"],
                    info["word_frames"], info["frames"])

    bar.close()
    if dim is not None and previous_dim is not None and dim != previous_dim:
        logger.warning("%s: dropping partitions %s written with %d-dim vectors (now %d)", output,
                       sorted(kept), previous_dim, dim)
        kept = {}
    # Partitions in the converted manifest's order, the new entries replacing old ones.
    merged = {**kept, **written}
    meta["partitions"] = {name: merged[name] for name in manifest["partitions"] if name in merged}
    meta["dim"] = dim if dim is not None else previous_dim
    meta["complete"] = True
    write_metadata(output, meta)
    return output


def _write_shard(shard: Path, output: Path, features_of: Callable[[Recording], Tuple[np.ndarray, np.ndarray]],
                 info: dict, bar: Any) -> Optional[int]:
    """Write `features_of` every recording of the converted `shard` into the shard of the same name
    in `output` (a `.partial` file until whole: on any failure it is removed and the bar closed),
    and add its recordings, frames and word frames to its partition's `info`. Returns the
    features' dim, None for a shard without recordings."""
    dim: Optional[int] = None
    writer = ShardWriter(output / shard.name)
    try:
        for serialized in tf.data.TFRecordDataset(str(shard)).as_numpy_iterator():
            rec = example_to_recording(serialized)
            features, word_mask = features_of(rec)
            writer.write(features_example(rec.name, features, word_mask).SerializeToString())
            dim = int(features.shape[1])
            info["frames"] += int(features.shape[0])
            info["word_frames"] += int(word_mask.sum())
            bar.update(1)
    except BaseException:
        writer.abort()
        bar.close()
        raise
    writer.close()
    info["shards"].append(shard.name)
    info["shard_recordings"].append(writer.count)
    info["recordings"] += writer.count
    return dim
