"""Speech2Vec (Chung & Glass, 2018) in Keras: skip-gram over spoken word segments.

An RNN encoder reads the MFCC sequence of one word segment and emits a vector; an RNN decoder,
started from that vector (and a learned embedding of the neighbour's relative position), produces
the MFCC sequence of each neighbouring word within `window` words (teacher forcing, masked MSE).
After training, the encoder embeds any segment, and each word type's vector is the mean of its
instances' embeddings, as in the original.

Saved folder (`SpeechEncoder.save` / `SpeechEncoder.load`):
- `encoder.keras`: the Keras encoder model, inputs `mfcc [batch, max_frames, c]`, `lengths [batch]`;
- `speech2vec.json`: the MFCC settings, `max_frames`, `dim`, the training settings;
- `word_vectors.bin` (written by `train_speech2vec`'s caller via `save_speech2vec`): per-type
  mean embeddings in the word2vec binary format (no pickle; see `emorec.semantic.word2vec`), rows
  by decreasing instance count.
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import keras
import numpy as np
import tensorflow as tf

# The hyper-parameters live in the experiment config (the `semantic.speech2vec` YAML section).
from emorec.config import MfccConfig, Speech2VecConfig
from emorec.data.console import progress_bar
from emorec.errors import InputFileError, PathLike

if TYPE_CHECKING:
    import gensim
from emorec.semantic.mfcc import mfcc, pad_sequences
from emorec.semantic.segments import Utterance

logger = logging.getLogger(__name__)

ENCODER_FILENAME = "encoder.keras"
SETTINGS_FILENAME = "speech2vec.json"


@keras.saving.register_keras_serializable(package="emorec")
class SegmentEncoder(keras.layers.Layer):
    """`(mfcc [batch, frames, c], lengths [batch]) -> [batch, dim]`.

    Standardises the MFCCs with stored training statistics (non-trainable weights, so the saved
    model carries them), runs a bidirectional GRU over the valid frames and projects its final
    states to `dim`.
    """

    def __init__(self, units: int = 128, dim: int = 100, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dim = dim
        self.rnn = keras.layers.Bidirectional(keras.layers.GRU(units), name="rnn")
        self.projection = keras.layers.Dense(dim, name="projection")

    def build(self, input_shape):
        features_shape = input_shape[0]
        channels = int(features_shape[-1])
        self.feature_mean = self.add_weight(name="feature_mean", shape=(channels,), initializer="zeros", trainable=False)
        self.feature_std = self.add_weight(name="feature_std", shape=(channels,), initializer="ones", trainable=False)
        self.rnn.build((None, None, channels))
        self.projection.build((None, 2 * self.units))

    def call(self, inputs, training=None):
        features, lengths = inputs
        frames = tf.shape(features)[1]
        mask = tf.sequence_mask(tf.cast(lengths, tf.int32), frames)
        normalised = (features - self.feature_mean) / self.feature_std
        normalised = normalised * tf.cast(mask, normalised.dtype)[..., None]
        return self.projection(self.rnn(normalised, mask=mask, training=training))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "dim": self.dim}


@keras.saving.register_keras_serializable(package="emorec")
class SegmentDecoder(keras.layers.Layer):
    """`(embedding [batch, dim], offset_index [batch], previous_frames [batch, frames, c])
    -> predicted frames [batch, frames, c]` (in standardised MFCC units).

    The GRU's initial state is tanh(Dense([embedding; position embedding])); its input at step t is
    the true frame t-1 (teacher forcing; zeros at t=0).
    """

    def __init__(self, units: int = 128, channels: int = 13, num_offsets: int = 6, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.channels = channels
        self.num_offsets = num_offsets
        self.position = keras.layers.Embedding(num_offsets, 16, name="position")
        self.initial = keras.layers.Dense(units, activation="tanh", name="initial_state")
        self.rnn = keras.layers.GRU(units, return_sequences=True, name="rnn")
        self.output_projection = keras.layers.Dense(channels, name="output")

    def build(self, input_shape):
        embedding_shape = input_shape[0]
        self.position.build((None,))
        self.initial.build((None, int(embedding_shape[-1]) + 16))
        self.rnn.build((None, None, self.channels))
        self.output_projection.build((None, None, self.units))

    def call(self, inputs, training=None):
        embedding, offset_index, previous_frames = inputs
        state = self.initial(tf.concat([embedding, self.position(offset_index)], axis=-1))
        hidden = self.rnn(previous_frames, initial_state=state, training=training)
        return self.output_projection(hidden)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "channels": self.channels,
                "num_offsets": self.num_offsets}


def build_encoder_model(channels: int, config: Speech2VecConfig) -> keras.Model:
    features = keras.Input((None, channels), name="mfcc")
    lengths = keras.Input((), dtype="int32", name="lengths")
    embedding = SegmentEncoder(config.encoder_units, config.dim, name="segment_encoder")((features, lengths))
    return keras.Model([features, lengths], embedding, name="speech2vec_encoder")


class SpeechEncoder:
    """A trained Speech2Vec encoder plus the MFCC front end it expects.

    `embed_segments(waveforms_22k)`: list of 1-D float waveforms at 22.05 kHz -> `[n, dim]` float32.
    """

    def __init__(self, model: keras.Model, mfcc_config: MfccConfig, max_frames: int, settings: Optional[dict] = None):
        self.model = model
        self.mfcc_config = mfcc_config
        self.max_frames = max_frames
        self.settings = settings or {}
        channels = int(model.inputs[0].shape[-1])
        # One traced graph for any batch and length; eager calls of a masked GRU are slow.
        self._embed = tf.function(
            lambda features, lengths: self.model([features, lengths], training=False),
            input_signature=[tf.TensorSpec([None, None, channels], tf.float32), tf.TensorSpec([None], tf.int32)])

    @property
    def dim(self) -> int:
        return int(self.model.output_shape[-1])

    def features(self, waveforms_22k: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        """Padded MFCCs `[n, max_frames, c]` and lengths `[n]`."""
        return pad_sequences([mfcc(w, self.mfcc_config) for w in waveforms_22k], self.max_frames)

    def embed_features(self, features: np.ndarray, lengths: np.ndarray, batch_size: int = 256) -> np.ndarray:
        out = [self._embed(tf.constant(features[i : i + batch_size]), tf.constant(lengths[i : i + batch_size])).numpy()
               for i in range(0, len(features), batch_size)]
        return np.concatenate(out, 0).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)

    def embed_segments(self, waveforms_22k: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
        if len(waveforms_22k) == 0:
            return np.zeros((0, self.dim), np.float32)
        features, lengths = self.features(waveforms_22k)
        return self.embed_features(features, lengths, batch_size)

    def save(self, folder: PathLike) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(folder / ENCODER_FILENAME)
        settings = {**self.settings, "mfcc": self.mfcc_config.to_dict(), "max_frames": self.max_frames, "dim": self.dim}
        (folder / SETTINGS_FILENAME).write_text(json.dumps(settings, indent=2))
        return folder

    @classmethod
    def load(cls, folder: PathLike) -> "SpeechEncoder":
        folder = Path(folder)
        for name in (ENCODER_FILENAME, SETTINGS_FILENAME):
            if not (folder / name).is_file():
                raise InputFileError(folder / name, "missing: not a saved Speech2Vec encoder folder")
        settings = json.loads((folder / SETTINGS_FILENAME).read_text())
        model = keras.saving.load_model(folder / ENCODER_FILENAME)
        return cls(model, MfccConfig(**settings["mfcc"]), int(settings["max_frames"]), settings)


def skipgram_pairs(utterances: Sequence[Utterance], window: int) -> np.ndarray:
    """(centre segment, context segment, offset index) triples `[pairs, 3]` over flat segment
    indices; offset index maps -window..-1, 1..window to 0..2*window-1."""
    pairs = []
    base = 0
    for utt in utterances:
        n = len(utt.segments)
        for i in range(n):
            for offset in range(-window, window + 1):
                j = i + offset
                if offset == 0 or j < 0 or j >= n:
                    continue
                pairs.append((base + i, base + j, offset + window if offset < 0 else offset + window - 1))
        base += n
    return np.array(pairs, dtype=np.int64).reshape(-1, 3)


def centre_groups(pairs: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`skipgram_pairs` (sorted by centre) grouped by centre: the centres, the first row of each
    centre's pairs and their count, `[centres]` each."""
    centres, starts, counts = np.unique(pairs[:, 0], return_index=True, return_counts=True)
    return centres, starts, counts


def train_speech2vec(utterances: Sequence[Utterance], config: Optional[Speech2VecConfig] = None, *,
                     progress: bool = False,
                     ) -> Tuple[SpeechEncoder, "gensim.models.KeyedVectors", Dict[str, List[float]]]:
    """Train Speech2Vec on the word segments of `utterances`.

    progress: a bar of batches over all epochs with ETA and the running loss on stderr; when
    stderr is not a terminal, one plain line per epoch.

    Returns the encoder, the per-word-type mean vectors (gensim KeyedVectors, rows by decreasing
    count; counts in `get_vecattr(word, "count")`), and the per-epoch loss history.
    utterances: `Utterance`s (emorec.semantic.segments) whose `segments` are 22.05 kHz waveforms.
    progress: a progress bar per epoch on stderr (steps, loss).

    Each step takes whole centres with all their neighbours, about `config.batch_size` skip-gram
    pairs, and encodes each centre once: a centre has up to 2 * window neighbours, and encoding it
    once per pair (as a batch of random pairs does) repeated the bidirectional encoder's work up to
    six times per epoch. The loss is the same mean over the pairs' frames.
    """
    config = config or Speech2VecConfig()
    keras.utils.set_random_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    words = [w for utt in utterances for w in utt.words]
    segments = [s for utt in utterances for s in utt.segments]
    if len(segments) < 2:
        raise ValueError("Speech2Vec needs at least two word segments")
    features, lengths = pad_sequences([mfcc(s, config.mfcc) for s in segments], config.max_frames)
    valid = np.concatenate([features[i, : lengths[i]] for i in range(len(features))], 0)
    mean, std = valid.mean(0), valid.std(0) + 1e-6
    encoder_model, decoder = _networks(features.shape[-1], mean, std, config)
    train_step = _train_step(encoder_model, decoder, features, lengths, mean, std, config)

    pairs = skipgram_pairs(utterances, config.window)
    if len(pairs) == 0:
        raise ValueError("no skip-gram pairs: every utterance has a single word")
    batches = _CentreBatches(pairs, config)
    logger.info("speech2vec: %d segments, %d pairs, %d steps of about %d pairs per epoch",
                len(segments), len(pairs), batches.steps, config.batch_size)
    history: Dict[str, List[float]] = {"loss": []}
    with progress_bar(config.epochs * batches.steps, "speech2vec", unit="step", enabled=progress,
                      line_every=batches.steps) as bar:
        for epoch in range(config.epochs):
            losses = []
            for chosen in batches.epoch(rng.permutation(len(batches.centres))):
                losses.append(float(train_step(*batches.inputs(chosen))))
                if len(losses) == 1 or len(losses) == batches.steps:
                    bar.set_postfix_str(f"epoch {epoch + 1}/{config.epochs}, loss {np.mean(losses):.4f}")
                bar.update(1)
            history["loss"].append(float(np.mean(losses)))
            logger.info("speech2vec epoch %d: loss %.4f", epoch, history["loss"][-1])

    settings = {"training": {k: v for k, v in asdict(config).items() if k != "mfcc"}}
    encoder = SpeechEncoder(encoder_model, config.mfcc, config.max_frames, settings)
    embeddings = encoder.embed_features(features, lengths)
    return encoder, type_vectors(words, embeddings), history


def _networks(channels: int, mean: np.ndarray, std: np.ndarray,
              config: Speech2VecConfig) -> Tuple[keras.Model, SegmentDecoder]:
    """The encoder model (standardising its `[batch, max_frames, channels]` MFCC input with the
    training frames' `mean` and `std`, `[channels]` each) and the built decoder."""
    encoder_model = build_encoder_model(channels, config)
    encoder_layer = encoder_model.get_layer("segment_encoder")
    encoder_layer.feature_mean.assign(mean)
    encoder_layer.feature_std.assign(std)
    decoder = SegmentDecoder(config.decoder_units, channels, 2 * config.window, name="segment_decoder")
    decoder.build(((None, config.dim), (None,), (None, None, channels)))
    return encoder_model, decoder


def _train_step(encoder_model: keras.Model, decoder: SegmentDecoder, features: np.ndarray, lengths: np.ndarray,
                mean: np.ndarray, std: np.ndarray, config: Speech2VecConfig) -> Callable[..., tf.Tensor]:
    """One compiled Adam step on the masked MSE of the decoded neighbours' standardised MFCCs, over
    all segments' `features` `[segments, max_frames, channels]` and `lengths` `[segments]`; its
    inputs are `_CentreBatches.inputs`, its output the loss."""
    optimizer = keras.optimizers.Adam(config.learning_rate, global_clipnorm=config.clip_norm)
    trainable = encoder_model.trainable_variables + decoder.trainable_variables
    normalised_targets = ((features - mean) / std * (np.arange(config.max_frames)[None, :, None]
                                                     < lengths[:, None, None])).astype(np.float32)
    features_t = tf.constant(features)
    lengths_t = tf.constant(lengths)
    targets_t = tf.constant(normalised_targets)

    # Every step has the same shapes (centres and pairs padded to a fixed count, all max_frames
    # frames), so XLA compiles the step once: jit_compile fuses the GRUs' per-frame loops, which
    # otherwise run one small op at a time (about 2.5x faster on 2 CPU cores,
    # benchmarks/speech2vec_speed.py). Padded pairs have weight 0.
    index_spec = tf.TensorSpec([None], tf.int64)

    @tf.function(input_signature=[index_spec] * 4 + [tf.TensorSpec([None], tf.float32)], jit_compile=True)
    def train_step(centre, slot, context, offset, weight):
        """centre `[c]` segment indices; per pair `[p]`: slot (its centre's position in `centre`),
        context segment, offset index, weight (1, or 0 for padding)."""
        target = tf.gather(targets_t, context)
        previous = tf.pad(target[:, :-1], [[0, 0], [1, 0], [0, 0]])
        mask = tf.sequence_mask(tf.gather(lengths_t, context), config.max_frames, dtype=tf.float32) * weight[:, None]
        with tf.GradientTape() as tape:
            embedding = encoder_model([tf.gather(features_t, centre), tf.gather(lengths_t, centre)], training=True)
            prediction = decoder((tf.gather(embedding, slot), offset, previous), training=True)
            per_frame = tf.reduce_mean(tf.square(prediction - target), axis=-1)
            loss = tf.reduce_sum(per_frame * mask) / tf.reduce_sum(mask)
        grads = tape.gradient(loss, trainable)
        optimizer.apply_gradients(zip(grads, trainable))
        return loss

    return train_step


class _CentreBatches:
    """The steps of an epoch over `skipgram_pairs` grouped by centre (`centre_groups`): each step
    takes `centres_per_step` whole centres, about `config.batch_size` pairs, padded to the most
    pairs those centres can have (`pairs_per_step`), so every step has the same shapes."""

    def __init__(self, pairs: np.ndarray, config: Speech2VecConfig):
        self.pairs = pairs
        self.centres, self.starts, self.counts = centre_groups(pairs)
        self.centres_per_step = max(1, int(round(config.batch_size * len(self.centres) / len(pairs))))
        self.steps = -(-len(self.centres) // self.centres_per_step)
        self.pairs_per_step = self.centres_per_step * 2 * config.window

    def epoch(self, order: np.ndarray) -> Iterator[np.ndarray]:
        """The centres (positions in `centres`) of each step, taking `order` in turn."""
        for start in range(0, len(order), self.centres_per_step):
            yield order[start : start + self.centres_per_step]

    def inputs(self, chosen: np.ndarray) -> Tuple[tf.Tensor, ...]:
        """`_train_step`'s inputs for the `chosen` centres: centre segments `[centres_per_step]`
        and per pair `[pairs_per_step]` slot, context segment, offset index and weight."""
        chosen_counts = self.counts[chosen]
        # The rows of the chosen centres' pairs: each centre's run starts[c] .. starts[c] + counts[c].
        first = np.repeat(self.starts[chosen], chosen_counts)
        within = np.arange(chosen_counts.sum()) - np.repeat(np.cumsum(chosen_counts) - chosen_counts, chosen_counts)
        batch = self.pairs[first + within]
        slot = np.repeat(np.arange(len(chosen)), chosen_counts)
        pad_pairs, pad_centres = self.pairs_per_step - len(batch), self.centres_per_step - len(chosen)
        weight = np.concatenate([np.ones(len(batch), np.float32), np.zeros(pad_pairs, np.float32)])
        return (tf.constant(np.pad(self.centres[chosen], (0, pad_centres))), tf.constant(np.pad(slot, (0, pad_pairs))),
                tf.constant(np.pad(batch[:, 1], (0, pad_pairs))), tf.constant(np.pad(batch[:, 2], (0, pad_pairs))),
                tf.constant(weight))


def type_vectors(words: Sequence[str], embeddings: np.ndarray):
    """Per-word-type mean of instance embeddings as gensim KeyedVectors (rows by decreasing count,
    ties by word), with each type's instance count stored as the `count` attribute."""
    from gensim.models import KeyedVectors

    groups: Dict[str, List[int]] = {}
    for i, w in enumerate(words):
        groups.setdefault(w, []).append(i)
    vocabulary = sorted(groups, key=lambda w: (-len(groups[w]), w))
    vectors = np.stack([embeddings[groups[w]].mean(0) for w in vocabulary]).astype(np.float32)
    keyed = KeyedVectors(vectors.shape[1])
    keyed.add_vectors(vocabulary, vectors)
    for w in vocabulary:
        keyed.set_vecattr(w, "count", len(groups[w]))
    return keyed


def save_speech2vec(folder: PathLike, encoder: SpeechEncoder, word_vectors, history: Optional[dict] = None) -> Path:
    """Write the encoder, its settings and the word vectors into `folder`."""
    from emorec.semantic.word2vec import SPEECH2VEC_VECTORS_FILENAME, save_keyed_vectors

    folder = encoder.save(folder)
    save_keyed_vectors(word_vectors, folder / SPEECH2VEC_VECTORS_FILENAME)
    if history is not None:
        (folder / "history.json").write_text(json.dumps(history, indent=2))
    return folder
