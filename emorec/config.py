"""Experiment configs: YAML files loaded into typed, validated dataclasses.

An unknown key, a wrong type, a value outside its allowed set or range, or a non-finite number is
a `ConfigError` naming the file and the dotted key. Ranges are declared next to the fields
(`_bounds`) and checked whenever a config object is made, so configs built in Python are checked
too; sizes that memory grows with have generous upper bounds. Files and `--set` values are parsed
by `_parse_yaml` alone, which refuses YAML anchors and aliases. A file may overlay another with a
`base:` key (`load_config`): the two are merged before any check. Every hyper-parameter lives
here; code reads it from the config object.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import reprlib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

import yaml

from emorec.constants import FRAME_LENGTH_SAMPLES, SAMPLE_RATE_HZ
from emorec.errors import ConfigError, PathLike

#: Files shipped inside the package (package_data), e.g. the EmoDB label map. A path constant
#: here lets the converter find them without importing the `emorec` package's top level.
RESOURCES_DIR = Path(__file__).resolve().parent / "resources"

logger = logging.getLogger(__name__)


def _bounds(*, at_least: Optional[float] = None, above: Optional[float] = None,
            below: Optional[float] = None, at_most: Optional[float] = None) -> Dict[str, Any]:
    """Field metadata: the allowed range of a number, or of every number in a tuple.

    None in an Optional field is always allowed (it means "not set"). Checked by `_Checked`.
    """
    return {"bounds": (at_least, above, below, at_most)}


#: The common ranges: a count of at least one, and a dropout rate (Keras refuses rate 1).
_AT_LEAST_ONE = _bounds(at_least=1)
_NOT_NEGATIVE = _bounds(at_least=0)
_DROPOUT = _bounds(at_least=0, below=1)

# Upper bounds of the sizes that memory grows with. Each lies far above any real setting, and
# low enough that a slip (`sequence_frames: 100000000`) is refused here, in the config, instead
# of ending in an out-of-memory traceback a minute into a run.
#: Frames of one window, hop or delay: 1 hour at 10 frames/s (the paper's windows: 100 frames).
_MAX_FRAMES = 36_000
_FRAMES = _bounds(at_least=1, at_most=_MAX_FRAMES)
#: Width of one layer or embedding: 16x the paper's LSTM (256), 4x its projection (1024); an LSTM
#: of 4096 units alone holds 134 M weights.
_WIDTH = _bounds(at_least=1, at_most=4096)
#: Examples in one batch: 4096 windows of 10 s are already 3.6 GB of float32 audio.
_BATCH = _bounds(at_least=1, at_most=4096)
#: A kernel or pool longer than one frame's samples sees nothing more: the convs run inside a frame.
_WITHIN_FRAME = _bounds(at_least=1, at_most=FRAME_LENGTH_SAMPLES)


def _range_problem(value: float, bounds: Tuple[Optional[float], ...]) -> Optional[str]:
    at_least, above, below, at_most = bounds
    parts = []
    if at_least is not None:
        parts.append(f">= {at_least:g}")
    if above is not None:
        parts.append(f"> {above:g}")
    if below is not None:
        parts.append(f"< {below:g}")
    if at_most is not None:
        parts.append(f"<= {at_most:g}")
    if ((at_least is not None and value < at_least) or (above is not None and value <= above)
            or (below is not None and value >= below) or (at_most is not None and value > at_most)):
        return f"must be {' and '.join(parts)}, got {value!r}"
    return None


class _Checked:
    """Base of every config dataclass: each number finite and within its field's `_bounds`.

    In `__post_init__` so that a config made from YAML, in Python or by `dataclasses.replace`
    (the command-line overrides) is checked the same way, the checks across fields of a section's
    `problems()` included. The error names the class and field; `_from_dict` turns that into the
    file and the dotted key.
    """

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            items = list(enumerate(value)) if isinstance(value, (tuple, list)) else [(None, value)]
            for index, item in items:
                if isinstance(item, bool) or not isinstance(item, (int, float)):
                    continue
                key = spec.name if index is None else f"{spec.name}[{index}]"
                # NaN passes every comparison, so it is refused first: a NaN learning rate trains
                # NaN weights with exit status 0.
                if not math.isfinite(item):
                    raise ConfigError(type(self).__name__, key, f"must be a finite number, got {item!r}")
                problem = _range_problem(item, spec.metadata.get("bounds", (None,) * 4))
                if problem:
                    raise ConfigError(type(self).__name__, key, problem)
        # Checks across fields (`problems()`) too: a config built in Python or by
        # `dataclasses.replace` must not skip what a YAML file cannot get past.
        for name, problem in getattr(self, "problems", lambda: [])():
            raise ConfigError(type(self).__name__, name, problem)


@dataclass
class NormalisationConfig(_Checked):
    """How waveforms are scaled before the model sees them; the same at training, evaluation and
    prediction (export refuses what its serving graph cannot reproduce).

    Args:
        kind: `none`; `recording`: each recording scaled to `target_rms` with its own RMS (the
            whole recording: prediction needs the whole file, so no streaming signature);
            `causal`: each frame scaled with the RMS of the recording up to the end of that frame
            (works in streaming, statistics carried across chunks); `speaker`: each speaker's RMS
            over the recordings of that speaker in the partition being read - transductive for
            test speakers (their own test audio sets the scale), and not exportable.
        target_rms: RMS the statistics are scaled to (1.0: unit RMS).
        min_rms: RMS floor, so near-silence (e.g. a causal start) is not blown up to noise.

    Example: `data: {normalisation: {kind: causal}}`.
    """

    kind: Literal["none", "recording", "speaker", "causal"] = "none"
    target_rms: float = field(default=1.0, metadata=_bounds(above=0))
    min_rms: float = field(default=1e-4, metadata=_bounds(above=0))


@dataclass
class AugmentationConfig(_Checked):
    """Random perturbations of training windows only (`make_dataset(training=True)`); devel, test
    and prediction inputs are never augmented. Each window's randomness comes from stateless ops
    seeded by the run seed, so a run repeats; the draws differ from epoch to epoch.

    Args:
        enabled: off by default, so existing configs train as before.
        gain_db: [low, high] uniform gain in dB; null switches gain off.
        noise_snr_db: [low, high] uniform signal-to-noise ratio of additive noise in dB, measured
            over the window; null switches noise off.
        noise_colour: `white`, `pink` (power falling as 1/f) or `mixed` (one of the two per window).
        speed_factor: [low, high] uniform speed factor (1.1 = 10 % faster, pitch up as in Kaldi's
            speed perturbation); null switches it off. Labels and mask are resampled with the audio.
        reverb_probability: share of windows convolved with a synthetic room impulse response
            (0: never, the default), its reverberation time drawn from `rt60_s` and its
            direct-to-reverberant ratio from `drr_db`, both [low, high].
        band_limit_probability: share of windows with everything above a cut-off drawn from
            `band_limit_hz` removed (3400 Hz: a telephone channel).
        codec_probability: share of windows passed through the 8-bit G.711 mu-law codec.

    Example: `data: {augmentation: {enabled: true, speed_factor: null, reverb_probability: 0.5}}`.
    """

    enabled: bool = False
    gain_db: Optional[Tuple[float, float]] = (-6.0, 6.0)
    noise_snr_db: Optional[Tuple[float, float]] = (10.0, 40.0)
    noise_colour: Literal["white", "pink", "mixed"] = "mixed"
    speed_factor: Optional[Tuple[float, float]] = (0.9, 1.1)
    reverb_probability: float = field(default=0.0, metadata=_bounds(at_least=0, at_most=1))
    rt60_s: Tuple[float, float] = field(default=(0.2, 0.8), metadata=_bounds(above=0, at_most=3))
    drr_db: Tuple[float, float] = field(default=(0.0, 12.0), metadata=_bounds(at_least=-20, at_most=40))
    band_limit_probability: float = field(default=0.0, metadata=_bounds(at_least=0, at_most=1))
    band_limit_hz: Tuple[float, float] = field(default=(3400.0, 8000.0),
                                               metadata=_bounds(at_least=300, at_most=SAMPLE_RATE_HZ / 2))
    codec_probability: float = field(default=0.0, metadata=_bounds(at_least=0, at_most=1))

    def problems(self) -> List[Tuple[str, str]]:
        out = []
        for name in ("gain_db", "noise_snr_db", "speed_factor", "rt60_s", "drr_db", "band_limit_hz"):
            bounds = getattr(self, name)
            if bounds is not None and not bounds[0] <= bounds[1]:
                out.append((name, f"expected [low, high] with low <= high, got {list(bounds)}"))
        # Small factors only: labels are resampled to the nearest frame, and larger changes of speed
        # (and pitch) change what a listener would rate.
        if self.speed_factor is not None and not (0.8 <= self.speed_factor[0] and self.speed_factor[1] <= 1.25):
            out.append(("speed_factor", f"must lie within [0.8, 1.25], got {list(self.speed_factor)}"))
        return out


@dataclass
class DataConfig(_Checked):
    #: Frames per training sequence (100 frames = 10 s at 10 Hz, the paper's setting).
    sequence_frames: int = field(default=100, metadata=_FRAMES)
    #: Hop between consecutive training windows, in frames (equal to sequence_frames: no overlap).
    hop_frames: int = field(default=100, metadata=_FRAMES)
    batch_size: int = field(default=25, metadata=_BATCH)
    #: Windows held for shuffling, 882 KB each at 10 s: at most 100x the paper's 1000 (88 GB).
    shuffle_buffer: int = field(default=1000, metadata=_bounds(at_least=1, at_most=100_000))
    #: Partition names used for training, model selection and final testing.
    train_partition: str = "train"
    #: None trains without a development set: a fixed number of epochs, no model selection, and
    #: the run's model is the last epoch's (e.g. a final model trained on every speaker).
    devel_partition: Optional[str] = "devel"
    test_partition: str = "test"
    #: TFRecord shards read in parallel by the interleave (each an open file and a read buffer).
    interleave_cycle_length: int = field(default=4, metadata=_bounds(at_least=1, at_most=256))
    normalisation: NormalisationConfig = field(default_factory=NormalisationConfig)
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)


@dataclass
class CNNConfig(_Checked):
    #: Table 1 of the paper: (filters, kernel) of the three conv layers and the pool sizes after them.
    filters: Tuple[int, int, int] = field(default=(50, 125, 125), metadata=_WIDTH)
    kernel_sizes: Tuple[int, int, int] = field(default=(8, 6, 6), metadata=_WITHIN_FRAME)
    pool_sizes: Tuple[int, int, int] = field(default=(10, 5, 5), metadata=_WITHIN_FRAME)
    dropout: float = field(default=0.5, metadata=_DROPOUT)
    #: Conv padding inside a frame; "same" keeps 2205 samples -> 220 -> 44 -> 8 steps after the pools.
    padding: Literal["same", "valid"] = "same"
    #: How the steps left inside one 0.1 s frame after the last pool become one vector per frame.
    frame_pooling: Literal["max", "mean"] = "max"
    #: How conv1 + ReLU + pool1 are computed (emorec.models.paralinguistic): "phase_blocked" never
    #: writes the full-resolution activation; "reference" is the plain Conv1D -> MaxPooling1D. Same
    #: weights and outputs; only the speed differs.
    conv1_impl: Literal["phase_blocked", "reference"] = "phase_blocked"
    #: How the convs and max-pools are laid out (emorec.models.paralinguistic): "conv1d" on
    #: `[n, steps, C]`, "conv2d" as 2-D ops of height 1 on `[n, 1, steps, C]`, "auto" conv2d exactly
    #: when the model computes in bfloat16 (where it measured faster). Same weights and outputs.
    conv_layout: Literal["auto", "conv1d", "conv2d"] = "auto"


@dataclass
class SemanticFeaturesConfig(_Checked):
    """The frame features the model's semantic branch reads (`model.semantic_features`): which
    vectors, on which word boundaries, of what width. How those vectors are trained is the
    top-level `semantic` section (`SemanticTrainingConfig`).

    Example: `model: {semantic_features: {source: speech2vec, evaluation_boundaries: segmenter}}`.
    """

    #: Where frame-level semantic features come from; "none" switches the branch off.
    source: Literal["none", "word2vec", "speech2vec", "aligned_speech2vec"] = "none"
    #: Where word boundaries come from for the features the model trains on (and selects its
    #: epoch on): "given" (the converted word timings) or "segmenter" (transcript-free).
    boundaries: Literal["given", "segmenter"] = "given"
    #: Word boundaries of the features the model is evaluated on; None: the same as `boundaries`.
    #: The paper uses text in training and discards it at evaluation: `boundaries: given`,
    #: `evaluation_boundaries: segmenter` (features of both settings must be written).
    evaluation_boundaries: Optional[Literal["given", "segmenter"]] = None
    #: Folder of trained semantic artefacts (KeyedVectors, Speech2Vec encoder, alignment matrix).
    artefacts_dir: Optional[str] = None
    dim: int = field(default=100, metadata=_WIDTH)

    def problems(self) -> List[Tuple[str, str]]:
        # Word2Vec features are looked up by the transcript's words; the segmenter has no words.
        if self.source == "word2vec":
            for name in ("boundaries", "evaluation_boundaries"):
                if getattr(self, name) == "segmenter":
                    return [(name, "word2vec features read the transcript's words, so they need 'given' "
                                   "boundaries; use speech2vec or aligned_speech2vec for the segmenter")]
        return []

    def at_evaluation(self) -> "SemanticFeaturesConfig":
        """This section with `boundaries` set to the evaluation boundaries: the setting whose
        features folder (`<data>/semantic/<source>-<boundaries>/`) evaluation reads."""
        return dataclasses.replace(self, boundaries=self.evaluation_boundaries or self.boundaries,
                                   evaluation_boundaries=None)


@dataclass
class FusionConfig(_Checked):
    kind: Literal["concat", "attention"] = "concat"
    #: d_u of equations 4-7.
    projection_units: int = field(default=1024, metadata=_WIDTH)
    #: Order of dimensions folded by the head attention: "paper" = Attention(Attention(a, l), v),
    #: "authors_code" = Attention(Attention(a, v), l), or a list of the data's dimension names.
    head_order: Union[Literal["paper", "authors_code"], List[str]] = "paper"
    #: Activation of the per-dimension heads: linear in the paper, ReLU in the authors' code.
    head_activation: Literal["linear", "relu"] = "linear"
    #: Width of each head; None means projection_units (the paper). The authors' code used 512.
    head_units: Optional[int] = field(default=None, metadata=_WIDTH)
    #: Dropout on the outputs of the attention fusion's projections (eq. 4) and heads: the paper
    #: applies 0.5 to every non-recurrent layer. Concatenation has no weights, so none there.
    dropout: float = field(default=0.5, metadata=_DROPOUT)


@dataclass
class ModelConfig(_Checked):
    """The model's branches and sizes (`emorec.models.emotion_model.build_model`).

    Args:
        feature_statistics: `none`; `speaker`: the CNN's frame features and the semantic
            features are standardised (zero mean, unit variance per channel) over all real frames
            of one speaker, the feature-level per-speaker standardisation of classical
            paralinguistics. Training batches then hold one
            speaker each and evaluation passes each speaker's recordings together, so the
            statistics are that speaker's (transductive for test speakers: their own unlabelled
            audio sets them; no labels are read). Needs a speaker id on every recording; not
            exportable, since one file alone has no speaker statistics.
    """

    paralinguistic: bool = True
    feature_statistics: Literal["none", "speaker"] = "none"
    cnn: CNNConfig = field(default_factory=CNNConfig)
    semantic_features: SemanticFeaturesConfig = field(default_factory=SemanticFeaturesConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    lstm_units: int = field(default=256, metadata=_WIDTH)
    lstm_dropout: float = field(default=0.5, metadata=_DROPOUT)


@dataclass
class LRScheduleConfig(_Checked):
    """Learning-rate schedule around `training.learning_rate`.

    Args:
        kind: `constant`; `reduce_on_plateau`: multiply by `factor` after `patience` epochs without
            a better development mean CCC (needs a devel partition); `cosine`: cosine decay per step
            from the learning rate to `min_learning_rate` over all epochs.
        factor: reduce_on_plateau's multiplier, in (0, 1).
        patience: reduce_on_plateau's epochs without improvement.
        min_learning_rate: floor of reduce_on_plateau, end point of cosine.

    Example: `training: {lr_schedule: {kind: reduce_on_plateau, factor: 0.5, patience: 3}}`.
    """

    kind: Literal["constant", "reduce_on_plateau", "cosine"] = "constant"
    factor: float = field(default=0.5, metadata=_bounds(above=0, below=1))
    patience: int = field(default=3, metadata=_AT_LEAST_ONE)
    min_learning_rate: float = field(default=1e-6, metadata=_NOT_NEGATIVE)


#: `tf.distribute` strategies (emorec.training.strategy) and compute precisions
#: (emorec.training.precision) by name: the one list the config, the library and the CLI use.
STRATEGIES = ("auto", "default", "mirrored", "multiworker")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


@dataclass
class TrainingConfig(_Checked):
    epochs: int = field(default=50, metadata=_AT_LEAST_ONE)
    learning_rate: float = field(default=1e-4, metadata=_bounds(above=0))
    #: Global gradient-norm clip; Keras takes 0 as "clip everything to zero", never useful.
    clip_norm: float = field(default=5.0, metadata=_bounds(above=0))
    #: Seeds Python, NumPy and TensorFlow; NumPy takes 0 to 2**32 - 1.
    seed: int = field(default=42, metadata=_bounds(at_least=0, below=2**32))
    strategy: Literal[STRATEGIES] = "auto"
    #: "auto": mixed_bfloat16 where the CPU (AVX512_BF16, AMX) or GPU (compute capability >= 8.0)
    #: computes bfloat16, float32 elsewhere (emorec.training.precision).
    precision: Literal[PRECISIONS] = "auto"
    #: Steps per epoch; None runs each epoch over the whole training set once.
    steps_per_epoch: Optional[int] = field(default=None, metadata=_AT_LEAST_ONE)
    #: Passes over the development set per epoch for model selection (None: whole devel set).
    validation_steps: Optional[int] = field(default=None, metadata=_AT_LEAST_ONE)
    #: Epochs without a better development mean CCC before stopping; None trains all epochs.
    early_stopping_patience: Optional[int] = field(default=None, metadata=_NOT_NEGATIVE)
    lr_schedule: LRScheduleConfig = field(default_factory=LRScheduleConfig)


@dataclass
class EvaluationConfig(_Checked):
    #: Variance convention of CCC: "population" (ddof=0, AVEC's own scripts) or "sample" (ddof=1).
    variance: Literal["population", "sample"] = "population"
    postprocess: bool = False
    plot_recordings: int = field(default=3, metadata=_NOT_NEGATIVE)
    #: Label delays tried by the post-processing, in frames (0.1 s each).
    max_delay_frames: int = field(default=30, metadata=_bounds(at_least=0, at_most=_MAX_FRAMES))
    #: Median filter lengths tried by the post-processing, in frames (odd).
    median_windows: Tuple[int, ...] = field(default=(3, 5, 9, 15, 25), metadata=_FRAMES)
    #: Recordings predicted together in one batch (whole recordings, padded at the end).
    #: At most 256: each recording is padded to the longest of its batch, minutes of audio each.
    batch_recordings: int = field(default=8, metadata=_bounds(at_least=1, at_most=256))
    #: The partition `emorec ablation` scores; None: `data.test_partition`. The paper's Tables 2
    #: and 3 are development-set results (and a SEWA release has no test labels): `devel`.
    partition: Optional[str] = None
    #: Outputs scored (emorec.evaluation.outputs): `frame` each frame's prediction; `recording`
    #: every frame its recording's mean prediction, one output per recording, for corpora
    #: labelled per recording (EmoDB utterances), as an utterance-level baseline outputs.
    pool: Literal["frame", "recording"] = "frame"
    #: `speaker`: each speaker's outputs standardised over their recordings in the scored
    #: partition and mapped onto the training targets' mean and sd (speaker statistics,
    #: transductive; reads no label of the scored partition). Not with `postprocess`.
    output_statistics: Literal["none", "speaker"] = "none"

    def problems(self) -> List[Tuple[str, str]]:
        # The post-processing is fitted on devel frame outputs and saved once per run
        # (RUN/postprocess-<data folder>.json): it would be applied to outputs of another protocol.
        if self.postprocess and (self.pool != "frame" or self.output_statistics != "none"):
            return [("postprocess", "must be false with pool 'recording' or output_statistics 'speaker' "
                                    "(it is fitted on frame outputs)")]
        return []


@dataclass
class Word2VecConfig(_Checked):
    """Skip-gram Word2Vec (gensim) of `emorec semantic word2vec`, the target space of eq. 1-3.

    Example: `semantic: {word2vec: {vector_size: 300, min_count: 3}}`.
    """

    vector_size: int = field(default=100, metadata=_WIDTH)
    #: Words each side of the centre word.
    window: int = field(default=5, metadata=_AT_LEAST_ONE)
    #: Rarer words are left out of the vocabulary.
    min_count: int = field(default=5, metadata=_AT_LEAST_ONE)
    epochs: int = field(default=5, metadata=_AT_LEAST_ONE)
    #: Negative samples per positive pair (0 would need gensim's hierarchical softmax, not used).
    negative: int = field(default=5, metadata=_AT_LEAST_ONE)
    seed: int = field(default=0, metadata=_bounds(at_least=0, below=2**32))


@dataclass(frozen=True)
class MfccConfig(_Checked):
    """The MFCC front end of Speech2Vec (`emorec.semantic.mfcc`): 25 ms Hann windows every 10 ms,
    a mel filterbank, log, DCT-II. Frozen: it keys the cache of compiled MFCC graphs."""

    sample_rate_hz: int = field(default=SAMPLE_RATE_HZ, metadata=_AT_LEAST_ONE)
    window_s: float = field(default=0.025, metadata=_bounds(above=0))
    hop_s: float = field(default=0.010, metadata=_bounds(above=0))
    num_mel_bins: int = field(default=40, metadata=_AT_LEAST_ONE)
    num_coefficients: int = field(default=13, metadata=_AT_LEAST_ONE)
    lower_edge_hz: float = field(default=20.0, metadata=_NOT_NEGATIVE)
    upper_edge_hz: float = field(default=8000.0, metadata=_bounds(above=0))
    #: Added to the mel power before the log, so silence gives a finite floor.
    log_offset: float = field(default=1e-6, metadata=_bounds(above=0))

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.sample_rate_hz))

    @property
    def hop_samples(self) -> int:
        return int(round(self.hop_s * self.sample_rate_hz))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def problems(self) -> List[Tuple[str, str]]:
        if self.num_coefficients > self.num_mel_bins:
            return [("num_coefficients", f"must be <= num_mel_bins ({self.num_mel_bins}), got {self.num_coefficients}")]
        return []


@dataclass
class Speech2VecConfig(_Checked):
    """Speech2Vec (`emorec semantic speech2vec`): a GRU encoder of word segments trained to
    reconstruct its neighbours' MFCCs (skip-gram over speech).

    Example: `semantic: {speech2vec: {epochs: 6, encoder_units: 64}}`.
    """

    dim: int = field(default=100, metadata=_WIDTH)
    encoder_units: int = field(default=128, metadata=_WIDTH)
    decoder_units: int = field(default=128, metadata=_WIDTH)
    #: Neighbours on each side whose MFCCs the decoder reconstructs (skip-gram window). A step
    #: decodes every neighbour of its centres, so memory grows with it; 100 is a whole paragraph.
    window: int = field(default=3, metadata=_bounds(at_least=1, at_most=100))
    #: Segments are cut (or zero-padded) to this many MFCC frames (10 ms each); every segment is
    #: padded to it, so at most 6000 (a minute, where a word lasts under a second).
    max_frames: int = field(default=60, metadata=_bounds(at_least=1, at_most=6000))
    #: 0 gives an untrained (random, still deterministic) encoder, which tests use.
    epochs: int = field(default=10, metadata=_NOT_NEGATIVE)
    #: Skip-gram pairs per step, about: each step takes whole centre segments with all their
    #: neighbours, so that a centre is encoded once per step (emorec.semantic.speech2vec).
    batch_size: int = field(default=64, metadata=_BATCH)
    learning_rate: float = field(default=1e-3, metadata=_bounds(above=0))
    clip_norm: float = field(default=5.0, metadata=_bounds(above=0))
    seed: int = field(default=0, metadata=_bounds(at_least=0, below=2**32))
    mfcc: MfccConfig = field(default_factory=MfccConfig)


@dataclass
class AlignmentConfig(_Checked):
    """Alignment of Speech2Vec to Word2Vec (`emorec semantic align`, `emorec.semantic.alignment`,
    eq. 1-3). The algorithm and most values are MUSE's; the adversarial stage is shorter and the
    mapping's steps larger, so that a 10,000-word pair of 300-d spaces aligns in minutes on 2 CPU
    cores (benchmarks/alignment_text.py):

    - 4 epochs of 1,000 iterations of batch 32 (MUSE: 5 of 31,250), a 512-unit discriminator
      (MUSE: 2048), which also memorises a 10k vocabulary less than a wide one would;
    - W's learning rate 1.0 (MUSE: 0.1, the discriminator keeps 0.1): unit-length, centred vectors
      give W small gradients; with MUSE's rate W moved a third of the way to a random rotation in
      1,000 iterations and had not reached the aligned basin of real Word2Vec halves after 3,000;
    - orthogonalisation beta 0.3 (MUSE: 0.001): the same update, strong enough to hold W
      orthogonal under that rate (at 0.001, |W W^T - I| grew to 7); 0.5 would be a Newton-Schulz
      step to the nearest orthogonal matrix.

    Example: `semantic: {alignment: {adversarial_epochs: 2, refinement_iterations: 5}}`.
    """

    #: Procrustes on identically spelled words (a dictionary from the text: not the paper's
    #: unsupervised method), scored on the held-out ones; the adversarial settings are unused.
    supervised: bool = False
    #: supervised: fraction of the identically spelled words held out of the fit for scoring.
    held_out_fraction: float = field(default=0.5, metadata=_bounds(above=0, below=1))
    #: Keep only this many most frequent target (Word2Vec) words (0: all).
    target_most_frequent: int = field(default=0, metadata=_NOT_NEGATIVE)
    #: MUSE's renorm-center-renorm of both spaces before aligning (features apply the same).
    normalise: bool = True
    #: Run the adversarial stage (False: start refinement from the identity / a given W).
    adversarial: bool = True
    adversarial_epochs: int = field(default=4, metadata=_AT_LEAST_ONE)
    iterations_per_epoch: int = field(default=1000, metadata=_AT_LEAST_ONE)
    #: Discriminator steps per mapping step (MUSE: 5).
    discriminator_steps: int = field(default=5, metadata=_AT_LEAST_ONE)
    batch_size: int = field(default=32, metadata=_BATCH)
    discriminator_hidden: int = field(default=512, metadata=_WIDTH)
    #: Hidden layers of the discriminator (MUSE: 2); 64 of the widest are 1 G weights.
    discriminator_layers: int = field(default=2, metadata=_bounds(at_least=0, at_most=64))
    discriminator_dropout: float = field(default=0.0, metadata=_DROPOUT)
    discriminator_input_dropout: float = field(default=0.1, metadata=_DROPOUT)
    #: Label smoothing s: the discriminator's targets are 1 - s (mapped source) and s (target).
    label_smoothing: float = field(default=0.1, metadata=_bounds(at_least=0, below=0.5))
    learning_rate: float = field(default=0.1, metadata=_bounds(above=0))
    #: SGD learning rate of W alone (None: `learning_rate`).
    mapping_learning_rate: Optional[float] = field(default=1.0, metadata=_bounds(above=0))
    learning_rate_decay: float = field(default=0.98, metadata=_bounds(above=0))
    #: How W is kept orthogonal after each mapping step: "beta" is MUSE's soft update with
    #: `orthogonalisation_beta`; "project" replaces W by its nearest orthogonal matrix (polar
    #: factor U V^T, an SVD per step: slow at 300 dimensions).
    orthogonalisation: Literal["beta", "project"] = "beta"
    orthogonalisation_beta: float = field(default=0.3, metadata=_NOT_NEGATIVE)
    #: Only the most frequent rows take part in the adversarial game (0: all).
    adversarial_most_frequent: int = field(default=75000, metadata=_NOT_NEGATIVE)
    #: Independent adversarial runs, each refined; the one with the best unsupervised criterion
    #: after refinement is kept. Three, because one game can end in a wrong rotation depending on
    #: the seed and the machine's arithmetic (the CI-size Word2Vec pair: P@1 0.68 from the
    #: identity start on one CPU, 0.007 on another, where the seeded restarts scored 0.61-0.77).
    adversarial_restarts: int = field(default=3, metadata=_AT_LEAST_ONE)
    #: Refinement (Procrustes) iterations after the adversarial stage.
    refinement_iterations: int = field(default=5, metadata=_NOT_NEGATIVE)
    #: Dictionary candidates: the k most frequent words on each side.
    dictionary_most_frequent: int = field(default=15000, metadata=_AT_LEAST_ONE)
    #: k nearest neighbours of CSLS.
    csls_k: int = field(default=10, metadata=_AT_LEAST_ONE)
    #: Source words used by the unsupervised model-selection criterion.
    criterion_most_frequent: int = field(default=10000, metadata=_AT_LEAST_ONE)
    seed: int = field(default=0, metadata=_bounds(at_least=0, below=2**32))


#: Revision of the segmenter's algorithm (`emorec.semantic.segmenter.segment_words`), recorded
#: with segmenter features: bumped whenever the same settings would find other words (2: words
#: end where the next begins, times on the frames' sample positions), so features written by an
#: older one are refused instead of silently differing from what an export segments.
SEGMENTER_ALGORITHM = 2


@dataclass
class SegmenterConfig(_Checked):
    """The transcript-free word segmenter (`emorec.semantic.segmenter.segment_words`) behind
    `boundaries: segmenter` features (`emorec semantic features --config`). Its settings are
    stored with the features (`semantic.json`) and in an export, so a deployed model segments
    as its features were segmented.

    Args:
        window_s: analysis frame of the log energy (25 ms).
        hop_s: hop between analysis frames (10 ms); at most `window_s`, so no sample is skipped.
        threshold_db: speech frames are within this many dB of the recording's loudest frame.
        floor_db: ... and above this level in dB full scale, so a silent file has no words.
        max_gap_s: speech runs closer than this are merged into one word (0: never merged).
        min_word_s: shorter runs (counted in whole hops) are dropped; also the closest a split
            point comes to either edge of a run.
        max_word_s: longer runs are split at their quietest frame until every piece fits.
        smoothing_frames: energy is smoothed over this many frames before looking for split points.

    Example: `semantic: {segmenter: {threshold_db: 25, max_word_s: 0.8}}`.
    """

    window_s: float = field(default=0.025, metadata=_bounds(above=0))
    hop_s: float = field(default=0.010, metadata=_bounds(above=0))
    threshold_db: float = field(default=30.0, metadata=_bounds(above=0))
    #: Above the -120 dB an all-zero frame measures (power + 1e-12): lower, silence is speech.
    floor_db: float = field(default=-60.0, metadata=_bounds(above=-120))
    max_gap_s: float = field(default=0.06, metadata=_NOT_NEGATIVE)
    min_word_s: float = field(default=0.08, metadata=_bounds(above=0))
    max_word_s: float = field(default=0.6, metadata=_bounds(above=0))
    smoothing_frames: int = field(default=5, metadata=_AT_LEAST_ONE)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def problems(self) -> List[Tuple[str, str]]:
        out = []
        # A hop longer than the window leaves samples no frame sees: a short word could fall between.
        if self.hop_s > self.window_s:
            out.append(("hop_s", f"must be <= window_s ({self.window_s:g}), got {self.hop_s:g}"))
        # A run longer than max_word_s is split in two, each piece at least min_word_s where it
        # can be; a run just over max_word_s but under 2 * min_word_s cannot, and one of its
        # halves is then dropped as too short: speech lost. Lengths count whole hops, as
        # segment_words counts them.
        min_hops = max(1, int(round(self.min_word_s / self.hop_s)))
        max_hops = max(1, int(round(self.max_word_s / self.hop_s)))
        if 2 * min_hops > max_hops + 1:
            out.append(("min_word_s", f"must be at most about half of max_word_s ({self.max_word_s:g}), got "
                                      f"{self.min_word_s:g}: runs of {max_hops + 1} to {2 * min_hops - 1} hops would "
                                      f"be split into pieces shorter than {min_hops} hops and dropped"))
        return out


@dataclass
class SemanticTrainingConfig(_Checked):
    """How the semantic artefacts are trained and the features are written (`emorec semantic
    word2vec|speech2vec|align|features --config`): the recipe behind the features a
    `model.semantic_features` section reads.

    Example: `semantic: {speech2vec: {epochs: 6}, alignment: {adversarial_epochs: 2}}`.
    """

    word2vec: Word2VecConfig = field(default_factory=Word2VecConfig)
    speech2vec: Speech2VecConfig = field(default_factory=Speech2VecConfig)
    alignment: AlignmentConfig = field(default_factory=AlignmentConfig)
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)


@dataclass
class ExperimentConfig(_Checked):
    name: str = "experiment"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    #: The settings of the `emorec semantic` verbs: the semantic artefacts' training recipe
    #: (Word2Vec, Speech2Vec, alignment) and the segmenter of `boundaries: segmenter` features.
    #: Which features the model reads is `model.semantic_features`.
    semantic: SemanticTrainingConfig = field(default_factory=SemanticTrainingConfig)

    @property
    def scored_partition(self) -> str:
        """The partition an ablation table scores: `evaluation.partition`, else the test partition."""
        return self.evaluation.partition or self.data.test_partition


#: A number in exponent form without a dot ("5e-4"): YAML 1.2 reads it as a float, but PyYAML
#: follows YAML 1.1 and returns the string, which would make `learning_rate: 5e-4` a type error.
_EXPONENT_WITHOUT_DOT = re.compile(r"[-+]?[0-9]+[eE][-+]?[0-9]+")


#: Longest piece of a config's text or value that an error message quotes: it stays one line.
_EXCERPT_CHARS = 60
_EXCERPT_REPR = reprlib.Repr()
_EXCERPT_REPR.maxstring = _EXCERPT_REPR.maxother = _EXCERPT_CHARS
_EXCERPT_REPR.maxlist = _EXCERPT_REPR.maxtuple = _EXCERPT_REPR.maxdict = 6
_EXCERPT_REPR.maxlevel = 3


def _shown(value: Any) -> str:
    """`value` as an error message quotes it: reprlib stops at a few items and characters, so a
    huge value costs no time or memory to quote."""
    text = _EXCERPT_REPR.repr(value)
    return text if len(text) <= 2 * _EXCERPT_CHARS else text[:2 * _EXCERPT_CHARS] + "..."


class _AnchorFound(yaml.MarkedYAMLError):
    pass


class _NoAnchorLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors and aliases (`&name`, `*name`).

    No emorec config needs them, and nine nested aliases in 1 KB ("billion laughs") make a value
    of 10^9 strings, which checking or quoting it in a message expands: gigabytes, minutes.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if event.anchor is not None:
            raise _AnchorFound(problem="YAML anchors and aliases (&name, *name) are not allowed in configs; "
                                       "write the value out", problem_mark=event.start_mark)
        return super().compose_node(parent, index)


def _parse_yaml(text: str, source: PathLike, key: Optional[str]) -> Any:
    """The one parser of config text: a file's (key None) or a `--set` value's (its dotted key).
    A refused anchor is quoted from the raw text (a bounded excerpt), never from a parsed value."""
    loader = _NoAnchorLoader(text)  # what yaml.safe_load does, with this loader
    try:
        return loader.get_single_data()
    except _AnchorFound as error:
        line = error.problem_mark.line
        lines = text.splitlines() or [""]
        raw = lines[min(line, len(lines) - 1)].strip()
        where = f"line {line + 1}: " if key is None else ""
        raise ConfigError(source, key, f"{error.problem} ({where}{_shown(raw)})") from None
    except yaml.YAMLError as error:
        what = "valid YAML" if key is None else "a YAML value"
        raise ConfigError(source, key, f"not {what} ({str(error).splitlines()[0][:2 * _EXCERPT_CHARS]})") from None
    finally:
        loader.dispose()


def literal_choices(cls: type, name: str) -> Tuple[Any, ...]:
    """The values a `Literal` field of the config class `cls` allows (None left out of an
    Optional one): the choices of a command-line option that sets the field, e.g.
    `literal_choices(EvaluationConfig, "pool")` is `("frame", "recording")`."""
    tp = typing.get_type_hints(cls)[name]
    if typing.get_origin(tp) is Union:
        (tp,) = [arg for arg in typing.get_args(tp) if arg is not type(None)]
    if typing.get_origin(tp) is not Literal:
        raise TypeError(f"{cls.__name__}.{name} is not a Literal field")
    return typing.get_args(tp)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, source: str, key: str) -> Any:
    """Check `value` against annotation `tp`, converting lists to tuples and dicts to dataclasses."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(source, key, f"expected a mapping, got {type(value).__name__}")
        return _from_dict(tp, value, source, key)
    if origin is Union:
        return _coerce_union(value, args, source, key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(source, key, f"{_shown(value)} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (tuple, list):
        return _coerce_sequence(value, origin, args, source, key)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(source, key, f"expected a mapping, got {type(value).__name__}")
        return dict(value)
    if tp is Any:
        return value
    return _coerce_scalar(value, tp, source, key)


def _coerce_union(value: Any, args: Tuple[Any, ...], source: str, key: str) -> Any:
    """`Optional[X]` and `Union[...]`: None where allowed, else the first member `value` fits."""
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _coerce(value, arg, source, key)
        except ConfigError as error:
            errors.append(error.problem)
    raise ConfigError(source, key, "; ".join(errors))


def _coerce_sequence(value: Any, origin: type, args: Tuple[Any, ...], source: str, key: str) -> Any:
    """`Tuple[X, Y]` (that many items), `Tuple[X, ...]` and `List[X]`, each item checked."""
    if not isinstance(value, (list, tuple)):
        raise ConfigError(source, key, f"expected a list, got {type(value).__name__}")
    if origin is tuple and args and args[-1] is not Ellipsis and len(args) != len(value):
        raise ConfigError(source, key, f"expected {len(args)} items, got {len(value)}")
    item_types = [args[0]] * len(value) if origin is list or args[-1:] == (Ellipsis,) else args
    items = [_coerce(v, t, source, f"{key}[{i}]") for i, (v, t) in enumerate(zip(value, item_types))]
    return tuple(items) if origin is tuple else items


def _coerce_scalar(value: Any, tp: Any, source: str, key: str) -> Any:
    """`float`, `int`, `str` and `bool`, strictly: no bool as a number, no float as an integer."""
    if tp in (int, float) and isinstance(value, str) and _EXPONENT_WITHOUT_DOT.fullmatch(value.strip()):
        value = float(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(source, key, f"expected a number, got {_shown(value)}")
        return float(value)
    if tp is int:
        if isinstance(value, float):  # 1e8 too: a float even where it is whole, as in YAML 1.2
            raise ConfigError(source, key, f"expected an integer, got the float {value!r}; write it in digits")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(source, key, f"expected an integer, got {_shown(value)}")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ConfigError(source, key, f"expected {_type_name(tp)}, got {_shown(value)}")
        return value
    raise TypeError(f"unsupported config annotation {tp!r} at {key}")


def _from_dict(cls: type, data: Dict[str, Any], source: str, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(source, key, f"unknown key (allowed: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _coerce(value, hints[name], source, key)
    try:
        config = cls(**kwargs)
    except ConfigError as error:  # a range check of `_Checked`: name the file and the dotted key
        key = f"{prefix}.{error.key}" if prefix else error.key
        raise ConfigError(source, key, error.problem) from None
    return config


def config_from_dict(data: Dict[str, Any], source: str = "<dict>", cls: type = ExperimentConfig) -> Any:
    """Build a config dataclass from plain data, validating every key and type."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, None, f"expected a mapping at the top level, got {type(data).__name__}")
    return _from_dict(cls, data, source)


def parse_yaml_text(text: str, source: PathLike) -> Any:
    """YAML text from the file `source` parsed as configs are: safe types only, anchors and
    aliases refused (a ConfigError naming `source`). For the other YAML files emorec reads (label
    maps, corpus lists)."""
    return _parse_yaml(text, source, None)


#: The key of a config file that names the file it overlays (`load_config`).
BASE_KEY = "base"


def _merged(base: Dict[str, Any], overlay: Dict[str, Any]) -> Dict[str, Any]:
    """`overlay` deep-merged onto `base`: mappings merge key by key; anything else (a scalar, a
    list, null) replaces the base's value, so `filters: [50, 125, 250]` is the whole list."""
    out = dict(base)
    for key, value in overlay.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read_layers(path: Path, chain: Tuple[Path, ...] = ()) -> List[Tuple[Path, Dict[str, Any]]]:
    """The mappings of `path` and of the files its `base:` keys name in turn, the file itself
    first (its `base:` removed). `chain`: the files that include `path`, which `path`'s base must
    not be one of."""
    data = _parse_yaml(path.read_text(encoding="utf-8"), path, None)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, None, f"expected a mapping at the top level, got {type(data).__name__}")
    base = data.pop(BASE_KEY, None)
    if base is None:
        return [(path, data)]
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(path, BASE_KEY, f"expected the path of a YAML file (relative to this file's folder), "
                                          f"got {_shown(base)}")
    base_path = Path(os.path.normpath(path.parent / base))  # `a/b/../c.yaml` shown as `a/c.yaml`
    if not base_path.is_file():
        raise ConfigError(path, BASE_KEY, f"{base_path}: base config file not found")
    including = (*chain, path)
    if base_path.resolve() in [p.resolve() for p in including]:
        cycle = " -> ".join(str(p) for p in (*including, base_path))
        raise ConfigError(path, BASE_KEY, f"configs inherit in a circle ({cycle}); remove one of these bases")
    return [(path, data)] + _read_layers(base_path, including)


_MISSING = object()


def _source_of(key: str, layers: List[Tuple[Path, Dict[str, Any]]]) -> str:
    """The file of `layers` (the file itself first) whose mapping sets the dotted `key`: where an
    error in a merged config is fixed. A key set nowhere (a default) is the file's own."""
    parts = re.sub(r"\[\d+\]", "", key).split(".")
    for path, data in layers:
        node: Any = data
        for part in parts:
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
        if node is not _MISSING:
            return str(path) if path == layers[0][0] else f"{path} (base of {layers[0][0]})"
    return str(layers[0][0])


def load_config(path: PathLike, cls: type = ExperimentConfig) -> Any:
    """Load a YAML config file into `cls` (default `ExperimentConfig`).

    A config can overlay another with a top-level `base:` key: the path of a YAML file, relative
    to this file's folder. The overlay is deep-merged onto its base before any check, so the
    merged result is validated as one file would be: mappings merge key by key, a list or a
    scalar replaces the base's value whole. A base may have a base of its own (a cycle is an
    error naming the files); an error names the file that sets the offending key. `--set`
    overrides (`apply_overrides`) apply on top of the merged config. For example,
    `configs/paper/table3_attention.yaml` is its base with the attention fusion::

        base: base.yaml            # configs/paper/base.yaml: the paper's training settings
        name: table3_attention
        model:
          semantic_features: {source: aligned_speech2vec, evaluation_boundaries: segmenter}
          fusion: {kind: attention}

    An empty file (blank or `{}`) loads as all defaults, with a logged warning: it is more often
    the wrong file or a failed edit than a deliberate choice of every default.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, None, "config file not found")
    layers = _read_layers(path)
    data: Dict[str, Any] = {}
    for _, layer in reversed(layers):
        data = _merged(data, layer)
    if data == {}:
        logger.warning("%s: the config file is empty, so every value is the default", path)
    try:
        return config_from_dict(data, str(path), cls)
    except ConfigError as error:
        if len(layers) == 1 or error.key is None:
            raise
        raise ConfigError(_source_of(error.key, layers), error.key, error.problem) from None


def apply_overrides(config: Any, overrides: Sequence[str], source: str = "--set") -> Any:
    """A copy of `config` with dotted `KEY=VALUE` overrides, e.g. `training.learning_rate=5e-4`.

    The one parser of the command line's `--set` (train, ablation, demo). Each value is read as a
    YAML scalar or flow value (`8`, `5e-4`, `true`, `segmenter`, `[a, b]`, `null`) and the result
    is validated like a config file: an unknown key, a wrong type or a value out of range is a
    `ConfigError` naming `source` and the dotted key. Later overrides of the same key win.
    """
    data = config_to_dict(config)
    for override in overrides:
        key, sep, text = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(source, override, "expected KEY=VALUE, e.g. training.learning_rate=5e-4")
        node = data
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            if not isinstance(node.get(part), dict):
                section = ".".join(parts[:depth + 1])
                raise ConfigError(source, key, f"{section!r} is not a config section")
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(source, key, f"unknown key (allowed: {', '.join(sorted(node))})")
        node[parts[-1]] = _parse_yaml(text, source, key)
    return config_from_dict(data, source, type(config))


def config_to_dict(config: Any) -> Dict[str, Any]:
    """Plain data (lists, not tuples) so that the result dumps to YAML and loads back equal."""

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def save_config(config: Any, path: PathLike) -> None:
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False), encoding="utf-8")
