"""Cross-space alignment of embeddings (paper equations 1-3; Conneau et al. 2018, "MUSE").

A linear map W takes a source embedding x (a Speech2Vec vector) to the target space (Word2Vec):
`mapped = x @ W.T`, i.e. W has shape `[target_dim, source_dim]` and maps column vectors `W x`.

1. Adversarial stage (eq. 1-2): a discriminator learns to tell mapped source vectors from target
   vectors; W learns to fool it. After each W step, W is pulled towards the orthogonal manifold,
   `W <- (1 + beta) W - beta (W W^T) W`. The epoch whose W maximises the unsupervised criterion (mean
   cosine of CSLS translations of the most frequent source words) is kept.
2. Refinement (eq. 3): a dictionary of mutual nearest neighbours under CSLS among the most frequent
   words, then the orthogonal Procrustes solution `W* = U V^T` with `U S V^T = SVD(Y^T X)`; iterated.

Rows of the embedding matrices are expected in decreasing word frequency (as gensim stores them),
because "the k most frequent words" is row `0..k-1`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class AlignmentConfig:
    """Hyper-parameters of `align`; the defaults follow MUSE, scaled for small vocabularies."""

    #: Run the adversarial stage (False: start refinement from the identity / a given W).
    adversarial: bool = True
    adversarial_epochs: int = 5
    iterations_per_epoch: int = 1000
    #: Discriminator steps per mapping step (MUSE: 5).
    discriminator_steps: int = 5
    batch_size: int = 32
    discriminator_hidden: int = 2048
    discriminator_layers: int = 2
    discriminator_dropout: float = 0.0
    discriminator_input_dropout: float = 0.1
    #: Label smoothing s: the discriminator's targets are 1 - s (mapped source) and s (target).
    label_smoothing: float = 0.1
    learning_rate: float = 0.1
    learning_rate_decay: float = 0.98
    #: How W is kept orthogonal after each mapping step: "beta" is MUSE's soft update with
    #: `orthogonalisation_beta`; "project" replaces W by its nearest orthogonal matrix (polar
    #: factor U V^T), which holds even when the learning rate is large for the data's scale.
    orthogonalisation: str = "beta"
    orthogonalisation_beta: float = 0.001
    #: Only the most frequent rows take part in the adversarial game (0: all).
    adversarial_most_frequent: int = 75000
    #: Independent adversarial runs; the one with the best unsupervised criterion is kept.
    adversarial_restarts: int = 1
    #: Refinement (Procrustes) iterations after the adversarial stage.
    refinement_iterations: int = 5
    #: Dictionary candidates: the k most frequent words on each side.
    dictionary_most_frequent: int = 15000
    #: k nearest neighbours of CSLS.
    csls_k: int = 10
    #: Source words used by the unsupervised model-selection criterion.
    criterion_most_frequent: int = 10000
    seed: int = 0


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Unit-length rows, `[n, d]`; zero rows stay zero."""
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def center_and_normalise(matrix: np.ndarray) -> np.ndarray:
    """MUSE's "renorm,center,renorm" preprocessing: unit rows, mean removed, unit rows again, so
    that two spaces of different scale and offset can be related by a rotation. `[n, d]`."""
    unit = normalise_rows(matrix)
    return normalise_rows(unit - unit.mean(axis=0, keepdims=True))


@dataclass
class LinearMap:
    """A learned alignment with the preprocessing it was learned on.

    `apply(X)`: `[n, source_dim] -> [n, target_dim]`. With `source_mean` set, rows first get
    renorm-center-renorm with that (training) mean, as `center_and_normalise` did during alignment.
    Saved as `<name>.npy` (W) plus `<name>.json` (the preprocessing).
    """

    W: np.ndarray
    source_mean: Optional[np.ndarray] = None

    @property
    def output_dim(self) -> int:
        return int(np.asarray(self.W).shape[0])

    def apply(self, source_vectors: np.ndarray) -> np.ndarray:
        X = np.asarray(source_vectors, dtype=np.float32)
        if self.source_mean is not None:
            X = normalise_rows(normalise_rows(X) - np.asarray(self.source_mean, dtype=np.float32))
        return apply_mapping(X, self.W)

    def save(self, path) -> None:
        import json
        from pathlib import Path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.asarray(self.W, dtype=np.float32))
        mean = None if self.source_mean is None else [float(v) for v in np.ravel(self.source_mean)]
        path.with_suffix(".json").write_text(json.dumps({"source_mean": mean}))

    @classmethod
    def load(cls, path) -> "LinearMap":
        import json
        from pathlib import Path

        path = Path(path)
        W = np.load(path)
        sidecar = path.with_suffix(".json")
        mean = json.loads(sidecar.read_text()).get("source_mean") if sidecar.is_file() else None
        return cls(W, None if mean is None else np.asarray(mean, dtype=np.float32))


def apply_mapping(source_vectors: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Map source rows into the target space: `[n, source_dim] -> [n, target_dim]` (= `W x`)."""
    return np.asarray(source_vectors, dtype=np.float32) @ np.asarray(W, dtype=np.float32).T


def procrustes(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Orthogonal W minimising `||X W^T - Y||_F` (eq. 3) for paired rows X `[n, d]`, Y `[n, d]`.

    Returns W `[d, d]` = U V^T with U S V^T = SVD(Y^T X).
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.shape != Y.shape:
        raise ValueError(f"procrustes needs paired rows of one dimension, got {X.shape} and {Y.shape}")
    U, _, Vt = np.linalg.svd(Y.T @ X)
    return (U @ Vt).astype(np.float32)


def _mean_topk_similarity(queries: np.ndarray, keys: np.ndarray, k: int, chunk: int = 4096) -> np.ndarray:
    """For each unit query row, the mean cosine to its k nearest unit key rows: `[n_queries]`."""
    k = max(1, min(k, keys.shape[0]))
    out = np.empty(queries.shape[0], dtype=np.float32)
    for start in range(0, queries.shape[0], chunk):
        sims = queries[start : start + chunk] @ keys.T
        top = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:]
        out[start : start + chunk] = top.mean(axis=1)
    return out


def csls_scores(mapped_source: np.ndarray, target: np.ndarray, k: int = 10,
                source_pool: Optional[np.ndarray] = None, target_pool: Optional[np.ndarray] = None) -> np.ndarray:
    """CSLS(Wx, y) = 2 cos(Wx, y) - r_T(Wx) - r_S(y), `[n_source, n_target]`.

    r_T(Wx) is the mean cosine of Wx to its k nearest targets (in `target_pool`, default `target`),
    r_S(y) the mean cosine of y to its k nearest mapped sources (in `source_pool`).
    """
    source_unit = normalise_rows(mapped_source)
    target_unit = normalise_rows(target)
    target_pool_unit = target_unit if target_pool is None else normalise_rows(target_pool)
    source_pool_unit = source_unit if source_pool is None else normalise_rows(source_pool)
    r_target = _mean_topk_similarity(source_unit, target_pool_unit, k)
    r_source = _mean_topk_similarity(target_unit, source_pool_unit, k)
    return 2.0 * source_unit @ target_unit.T - r_target[:, None] - r_source[None, :]


def csls_translate(mapped_source: np.ndarray, target: np.ndarray, k: int = 10, top: int = 1,
                   chunk: int = 2048) -> np.ndarray:
    """Indices of the `top` best targets under CSLS for each mapped source row: `[n_source, top]`."""
    source_unit = normalise_rows(mapped_source)
    target_unit = normalise_rows(target)
    r_target = _mean_topk_similarity(source_unit, target_unit, k)
    r_source = _mean_topk_similarity(target_unit, source_unit, k)
    top = min(top, target_unit.shape[0])
    out = np.empty((source_unit.shape[0], top), dtype=np.int64)
    for start in range(0, source_unit.shape[0], chunk):
        scores = 2.0 * source_unit[start : start + chunk] @ target_unit.T
        scores -= r_target[start : start + chunk, None] + r_source[None, :]
        best = np.argpartition(-scores, top - 1, axis=1)[:, :top]
        order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1)
        out[start : start + chunk] = np.take_along_axis(best, order, axis=1)
    return out


def nn_translate(mapped_source: np.ndarray, target: np.ndarray, top: int = 1) -> np.ndarray:
    """Indices of the `top` nearest targets by cosine: `[n_source, top]`."""
    scores = normalise_rows(mapped_source) @ normalise_rows(target).T
    top = min(top, target.shape[0])
    best = np.argpartition(-scores, top - 1, axis=1)[:, :top]
    order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1)
    return np.take_along_axis(best, order, axis=1)


def precision_at_k(source_vectors: np.ndarray, target_vectors: np.ndarray, W: np.ndarray,
                   pairs: Sequence[Tuple[int, int]], k: int = 1, method: str = "csls",
                   csls_k: int = 10) -> float:
    """Word-translation precision at k: the share of source words (rows) whose k best translations
    include a gold target row. `pairs` lists (source_row, target_row); a source row may have several
    gold targets. Candidates are all rows of `target_vectors`."""
    gold: Dict[int, set] = {}
    for s, t in pairs:
        gold.setdefault(int(s), set()).add(int(t))
    if not gold:
        raise ValueError("precision_at_k needs at least one gold pair")
    sources = np.array(sorted(gold), dtype=np.int64)
    mapped_all = apply_mapping(source_vectors, W)
    if method == "csls":
        # r_S(y) is computed against all mapped source words, as in MUSE's evaluation.
        scores = csls_scores(mapped_all[sources], target_vectors, csls_k, source_pool=mapped_all)
        top = min(k, scores.shape[1])
        best = np.argpartition(-scores, top - 1, axis=1)[:, :top]
    elif method == "nn":
        best = nn_translate(mapped_all[sources], target_vectors, top=k)
    else:
        raise ValueError(f"unknown retrieval method {method!r} (csls or nn)")
    hits = [bool(gold[int(s)] & set(row.tolist())) for s, row in zip(sources, best)]
    return float(np.mean(hits))


def build_dictionary(mapped_source: np.ndarray, target: np.ndarray, most_frequent: int = 15000,
                     k: int = 10) -> np.ndarray:
    """Mutual nearest neighbours under CSLS among the most frequent rows: `[pairs, 2]` of
    (source_row, target_row), sorted by source row."""
    source = mapped_source[: most_frequent or None]
    target = target[: most_frequent or None]
    forward = csls_translate(source, target, k)[:, 0]
    backward = csls_translate(target, source, k)[:, 0]
    pairs = [(s, t) for s, t in enumerate(forward) if backward[t] == s]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def unsupervised_criterion(source_vectors: np.ndarray, target_vectors: np.ndarray, W: np.ndarray,
                           most_frequent: int = 10000, k: int = 10) -> float:
    """MUSE's model-selection criterion: mean cosine between the most frequent mapped source
    words and their CSLS translations."""
    mapped = apply_mapping(source_vectors[: most_frequent or None], W)
    translation = csls_translate(mapped, target_vectors, k)[:, 0]
    cosines = np.sum(normalise_rows(mapped) * normalise_rows(target_vectors[translation]), axis=1)
    return float(np.mean(cosines))


def adversarial_mapping(source_vectors: np.ndarray, target_vectors: np.ndarray,
                        config: Optional[AlignmentConfig] = None,
                        on_epoch_end: Optional[Callable[[int, np.ndarray], None]] = None) -> np.ndarray:
    """The adversarial stage (eq. 1-2): W `[target_dim, source_dim]` from unpaired vectors.

    Runs `config.adversarial_restarts` seeded games and keeps the W whose epoch-end unsupervised
    criterion is highest.
    """
    config = config or AlignmentConfig()
    best_W, best_score = None, -np.inf
    for restart in range(max(1, config.adversarial_restarts)):
        W, score = _adversarial_run(source_vectors, target_vectors, config, config.seed + 1000 * restart,
                                    on_epoch_end)
        logger.info("adversarial restart %d: criterion %.4f", restart, score)
        if score > best_score:
            best_W, best_score = W, score
    return best_W


def _adversarial_run(source_vectors: np.ndarray, target_vectors: np.ndarray, config: AlignmentConfig,
                     seed: int, on_epoch_end: Optional[Callable[[int, np.ndarray], None]] = None,
                     ) -> Tuple[np.ndarray, float]:
    import keras
    import tensorflow as tf

    source = np.asarray(source_vectors[: config.adversarial_most_frequent or None], dtype=np.float32)
    target = np.asarray(target_vectors[: config.adversarial_most_frequent or None], dtype=np.float32)
    source_dim, target_dim = source.shape[1], target.shape[1]
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)

    # W starts at the identity (MUSE); later restarts, and unequal dimensions, start from a seeded
    # random (semi-)orthogonal map. An orthogonal W kept orthogonal by projection cannot change the
    # sign of its determinant, so restarts from random maps also reach reflections.
    if source_dim == target_dim and seed == config.seed:
        initial = np.eye(target_dim, dtype=np.float32)
    else:
        q, _ = np.linalg.qr(rng.standard_normal((max(source_dim, target_dim), min(source_dim, target_dim))))
        initial = (q if target_dim >= source_dim else q.T).astype(np.float32)
    W = tf.Variable(initial, name="mapping")

    layers: List[keras.layers.Layer] = [keras.layers.Dropout(config.discriminator_input_dropout)]
    for _ in range(config.discriminator_layers):
        layers += [keras.layers.Dense(config.discriminator_hidden), keras.layers.LeakyReLU(0.2)]
        if config.discriminator_dropout:
            layers.append(keras.layers.Dropout(config.discriminator_dropout))
    layers.append(keras.layers.Dense(1))
    discriminator = keras.Sequential(layers)
    discriminator.build((None, target_dim))
    dis_optimizer = keras.optimizers.SGD(learning_rate=config.learning_rate)
    map_optimizer = keras.optimizers.SGD(learning_rate=config.learning_rate)
    smooth = config.label_smoothing
    batch = config.batch_size
    labels = tf.concat([tf.fill([batch, 1], 1.0 - smooth), tf.fill([batch, 1], smooth)], axis=0)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    source_t = tf.constant(source)
    target_t = tf.constant(target)
    beta = config.orthogonalisation_beta
    if config.orthogonalisation not in ("beta", "project"):
        raise ValueError(f"orthogonalisation must be 'beta' or 'project', got {config.orthogonalisation!r}")
    project = config.orthogonalisation == "project"

    @tf.function
    def step(source_ids: tf.Tensor, target_ids: tf.Tensor, map_source_ids: tf.Tensor) -> tf.Tensor:
        for i in range(config.discriminator_steps):
            x = tf.matmul(tf.gather(source_t, source_ids[i]), tf.stop_gradient(W), transpose_b=True)
            y = tf.gather(target_t, target_ids[i])
            with tf.GradientTape() as tape:
                loss = bce(labels, discriminator(tf.concat([x, y], 0), training=True))
            grads = tape.gradient(loss, discriminator.trainable_variables)
            dis_optimizer.apply_gradients(zip(grads, discriminator.trainable_variables))
        x = tf.gather(source_t, map_source_ids)
        y = tf.gather(target_t, target_ids[0])
        with tf.GradientTape() as tape:
            mapped = tf.matmul(x, W, transpose_b=True)
            # Eq. 2: the mapping is trained with flipped labels, to make the discriminator err.
            map_loss = bce(1.0 - labels, discriminator(tf.concat([mapped, y], 0), training=True))
        map_optimizer.apply_gradients([(tape.gradient(map_loss, W), W)])
        if project:
            _, u, v = tf.linalg.svd(W)
            W.assign(tf.matmul(u, v, transpose_b=True))
        else:
            # Keep W close to orthogonal (MUSE's update with beta).
            W.assign((1.0 + beta) * W - beta * tf.matmul(tf.matmul(W, W, transpose_b=True), W))
        return loss

    best_W, best_score = W.numpy(), -np.inf
    lr = config.learning_rate
    for epoch in range(config.adversarial_epochs):
        for _ in range(config.iterations_per_epoch):
            source_ids = rng.integers(0, len(source), size=(config.discriminator_steps, batch))
            target_ids = rng.integers(0, len(target), size=(config.discriminator_steps, batch))
            map_ids = rng.integers(0, len(source), size=batch)
            step(tf.constant(source_ids), tf.constant(target_ids), tf.constant(map_ids))
        score = unsupervised_criterion(source_vectors, target_vectors, W.numpy(),
                                       config.criterion_most_frequent, config.csls_k)
        logger.info("adversarial epoch %d: criterion %.4f", epoch, score)
        if on_epoch_end is not None:
            on_epoch_end(epoch, W.numpy())
        if score > best_score:
            best_W, best_score = W.numpy().copy(), score
        lr *= config.learning_rate_decay
        dis_optimizer.learning_rate.assign(lr)
        map_optimizer.learning_rate.assign(lr)
    return best_W, best_score


def refine(source_vectors: np.ndarray, target_vectors: np.ndarray, W: np.ndarray,
           config: Optional[AlignmentConfig] = None) -> np.ndarray:
    """Iterative Procrustes refinement (eq. 3) on CSLS mutual-NN dictionaries; returns the W of
    the iteration with the best unsupervised criterion (the start W included)."""
    config = config or AlignmentConfig()
    best_W = W
    best_score = unsupervised_criterion(source_vectors, target_vectors, W, config.criterion_most_frequent, config.csls_k)
    for iteration in range(config.refinement_iterations):
        mapped = apply_mapping(source_vectors, W)
        pairs = build_dictionary(mapped, target_vectors, config.dictionary_most_frequent, config.csls_k)
        if len(pairs) < 2:
            logger.warning("refinement %d: dictionary has %d pairs; stopping", iteration, len(pairs))
            break
        W = procrustes(source_vectors[pairs[:, 0]], target_vectors[pairs[:, 1]])
        score = unsupervised_criterion(source_vectors, target_vectors, W, config.criterion_most_frequent, config.csls_k)
        logger.info("refinement %d: %d pairs, criterion %.4f", iteration, len(pairs), score)
        if score > best_score:
            best_W, best_score = W, score
    return best_W


def align(source_vectors: np.ndarray, target_vectors: np.ndarray, config: Optional[AlignmentConfig] = None,
          initial_W: Optional[np.ndarray] = None) -> np.ndarray:
    """Unsupervised alignment: adversarial stage, then iterative CSLS/Procrustes refinement.

    source_vectors `[n_source, source_dim]`, target_vectors `[n_target, target_dim]`, rows by
    decreasing frequency. Returns W `[target_dim, source_dim]`; map with `apply_mapping`.
    Procrustes refinement needs equal dimensions.
    """
    config = config or AlignmentConfig()
    source_vectors = np.asarray(source_vectors, dtype=np.float32)
    target_vectors = np.asarray(target_vectors, dtype=np.float32)
    if initial_W is not None:
        W = np.asarray(initial_W, dtype=np.float32)
    elif config.adversarial:
        W = adversarial_mapping(source_vectors, target_vectors, config)
    else:
        W = np.eye(target_vectors.shape[1], source_vectors.shape[1], dtype=np.float32)
    if config.refinement_iterations and source_vectors.shape[1] == target_vectors.shape[1]:
        W = refine(source_vectors, target_vectors, W, config)
    return W


def supervised_align(source_vectors: np.ndarray, target_vectors: np.ndarray,
                     pairs: Sequence[Tuple[int, int]]) -> np.ndarray:
    """Procrustes on a given seed dictionary of (source_row, target_row) pairs (eq. 3 alone)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return procrustes(np.asarray(source_vectors)[pairs[:, 0]], np.asarray(target_vectors)[pairs[:, 1]])
