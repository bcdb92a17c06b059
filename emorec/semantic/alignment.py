"""Cross-space alignment of embeddings (paper equations 1-3; Conneau et al. 2018, "MUSE").

A linear map W takes a source embedding x (a Speech2Vec vector) to the target space (Word2Vec):
`mapped = x @ W.T`, i.e. W has shape `[target_dim, source_dim]` and maps column vectors `W x`.

1. Adversarial stage (eq. 1-2): a discriminator learns to tell mapped source vectors from target
   vectors; W learns to fool it. After each W step, W is pulled towards the orthogonal manifold,
   `W <- (1 + beta) W - beta (W W^T) W`. The epoch whose W maximises the unsupervised criterion (mean
   cosine of CSLS translations of the most frequent source words) is kept. Several seeded games
   (restarts) give several candidates; no gold pairs are needed to choose among them.
2. Refinement (eq. 3): a dictionary of mutual nearest neighbours under CSLS among the most frequent
   words, then the orthogonal Procrustes solution `W* = U V^T` with `U S V^T = SVD(Y^T X)`; iterated.
   Every candidate is refined; the one with the best criterion after refinement is the result.

Rows of the embedding matrices are expected in decreasing word frequency (as gensim stores them),
because "the k most frequent words" is row `0..k-1`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

# The hyper-parameters live in the experiment config (the `semantic.alignment` YAML section);
# imported here so `emorec.semantic.alignment.AlignmentConfig` keeps working.
from emorec.config import AlignmentConfig
from emorec.data.console import progress_bar

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

logger = logging.getLogger(__name__)


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


def _unit_tensor(matrix: np.ndarray):
    import tensorflow as tf

    return tf.constant(normalise_rows(matrix))


def _mean_topk_similarity(queries: np.ndarray, keys: np.ndarray, k: int, chunk: int = 4096) -> np.ndarray:
    """For each unit query row, the mean cosine to its k nearest unit key rows: `[n_queries]`."""
    import tensorflow as tf

    k = max(1, min(k, keys.shape[0]))
    keys_t = tf.constant(np.asarray(keys, dtype=np.float32))
    out = []
    for start in range(0, queries.shape[0], chunk):
        sims = tf.matmul(tf.constant(np.asarray(queries[start : start + chunk], dtype=np.float32)), keys_t,
                         transpose_b=True)
        out.append(tf.reduce_mean(tf.math.top_k(sims, k, sorted=False).values, axis=1).numpy())
    return np.concatenate(out) if out else np.empty(0, dtype=np.float32)


@dataclass
class _CSLSNeighbours:
    """Both directions of CSLS retrieval between unit source rows S `[n, d]` and target rows T `[m, d]`."""

    #: r_T(Wx): mean cosine of each source row to its k nearest targets, `[n]`.
    r_target: np.ndarray
    #: r_S(y): mean cosine of each target row to its k nearest sources, `[m]`.
    r_source: np.ndarray
    #: Best target of each source row under CSLS, `[n]`, and the plain cosine to it, `[n]`.
    forward: np.ndarray
    forward_cosine: np.ndarray
    #: Best source of each target row under CSLS, `[m]`.
    backward: np.ndarray


def _csls_neighbours(source: np.ndarray, target: np.ndarray, k: int, chunk: int = 2048) -> _CSLSNeighbours:
    """CSLS nearest neighbours both ways from two passes over `source @ target.T` in row chunks,
    without holding the `[n, m]` matrix: pass 1 collects the k-NN means of rows and of columns
    (a column's top k is the top k of its chunks' top k), pass 2 the CSLS arg-max of rows and of
    columns. The matrix is shared by both directions, so a dictionary costs two matmuls, not six."""
    import tensorflow as tf

    S, T = _unit_tensor(source), _unit_tensor(target)
    n, m = int(S.shape[0]), int(T.shape[0])
    k_target, k_source = max(1, min(k, m)), max(1, min(k, n))
    r_target, column_top = [], []
    for start in range(0, n, chunk):
        sims = tf.matmul(S[start : start + chunk], T, transpose_b=True)
        r_target.append(tf.reduce_mean(tf.math.top_k(sims, k_target, sorted=False).values, axis=1))
        column_top.append(tf.math.top_k(tf.transpose(sims), min(k_source, int(sims.shape[0])), sorted=False).values)
    r_target_t = tf.concat(r_target, 0)
    r_source_t = tf.reduce_mean(tf.math.top_k(tf.concat(column_top, 1), k_source, sorted=False).values, axis=1)

    forward, forward_cosine = [], []
    best_column_score = tf.fill([m], -np.inf)
    best_column_row = tf.zeros([m], dtype=tf.int64)
    for start in range(0, n, chunk):
        sims = tf.matmul(S[start : start + chunk], T, transpose_b=True)
        scores = 2.0 * sims - r_target_t[start : start + chunk, None] - r_source_t[None, :]
        rows = tf.argmax(scores, axis=1)
        forward.append(rows)
        forward_cosine.append(tf.gather(sims, rows, axis=1, batch_dims=1))
        chunk_best = tf.reduce_max(scores, axis=0)
        # Strictly greater: ties keep the earlier row, as a single arg-max over all rows would.
        better = chunk_best > best_column_score
        best_column_row = tf.where(better, tf.argmax(scores, axis=0) + start, best_column_row)
        best_column_score = tf.where(better, chunk_best, best_column_score)
    return _CSLSNeighbours(r_target_t.numpy(), r_source_t.numpy(), tf.concat(forward, 0).numpy(),
                           tf.concat(forward_cosine, 0).numpy(), best_column_row.numpy())


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
    import tensorflow as tf

    if top == 1:
        return _csls_neighbours(mapped_source, target, k, chunk).forward[:, None].astype(np.int64)
    source_unit = normalise_rows(mapped_source)
    target_unit = normalise_rows(target)
    r_target = _mean_topk_similarity(source_unit, target_unit, k)
    r_source = tf.constant(_mean_topk_similarity(target_unit, source_unit, k))
    target_t = tf.constant(target_unit)
    top = min(top, target_unit.shape[0])
    out = []
    for start in range(0, source_unit.shape[0], chunk):
        scores = 2.0 * tf.matmul(tf.constant(source_unit[start : start + chunk]), target_t, transpose_b=True)
        scores -= r_target[start : start + chunk, None] + r_source[None, :]
        out.append(tf.math.top_k(scores, top, sorted=True).indices.numpy())
    return np.concatenate(out).astype(np.int64) if out else np.empty((0, top), dtype=np.int64)


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
    neighbours = _csls_neighbours(mapped_source[: most_frequent or None], target[: most_frequent or None], k)
    return _mutual_pairs(neighbours)


def _mutual_pairs(neighbours: _CSLSNeighbours) -> np.ndarray:
    sources = np.arange(len(neighbours.forward))
    mutual = neighbours.backward[neighbours.forward] == sources
    return np.stack([sources[mutual], neighbours.forward[mutual]], axis=1).astype(np.int64).reshape(-1, 2)


def unsupervised_criterion(source_vectors: np.ndarray, target_vectors: np.ndarray, W: np.ndarray,
                           most_frequent: int = 10000, k: int = 10) -> float:
    """MUSE's model-selection criterion: mean cosine between the most frequent mapped source
    words and their CSLS translations."""
    mapped = apply_mapping(source_vectors[: most_frequent or None], W)
    return float(np.mean(_csls_neighbours(mapped, target_vectors, k).forward_cosine))


def _criterion_and_dictionary(source_vectors: np.ndarray, target_vectors: np.ndarray, W: np.ndarray,
                              config: AlignmentConfig, dictionary: bool = True) -> Tuple[float, Optional[np.ndarray]]:
    """`unsupervised_criterion` and `build_dictionary` at W; one CSLS pass serves both when the
    criterion's and the dictionary's word ranges are the same rows (true whenever both cover the
    whole vocabulary)."""
    def rows(count: int, total: int) -> int:
        return total if not count else min(count, total)

    n_source, n_target = len(source_vectors), len(target_vectors)
    criterion_rows = (rows(config.criterion_most_frequent, n_source), n_target)
    dictionary_rows = (rows(config.dictionary_most_frequent, n_source), rows(config.dictionary_most_frequent, n_target))
    mapped = apply_mapping(source_vectors[: max(criterion_rows[0], dictionary_rows[0])], W)
    neighbours = _csls_neighbours(mapped[: criterion_rows[0]], target_vectors, config.csls_k)
    score = float(np.mean(neighbours.forward_cosine))
    if not dictionary:
        return score, None
    if dictionary_rows != criterion_rows:
        neighbours = _csls_neighbours(mapped[: dictionary_rows[0]], target_vectors[: dictionary_rows[1]], config.csls_k)
    return score, _mutual_pairs(neighbours)


def adversarial_mapping(source_vectors: np.ndarray, target_vectors: np.ndarray,
                        config: Optional[AlignmentConfig] = None,
                        on_epoch_end: Optional[Callable[[int, np.ndarray], None]] = None, *,
                        progress: bool = True) -> np.ndarray:
    """The adversarial stage (eq. 1-2): W `[target_dim, source_dim]` from unpaired vectors.

    Runs `config.adversarial_restarts` seeded games and keeps the W whose epoch-end unsupervised
    criterion is highest. `progress` shows a bar of iterations on stderr.
    """
    candidates = adversarial_candidates(source_vectors, target_vectors, config, on_epoch_end, progress=progress)
    return max(candidates, key=lambda candidate: candidate[1])[0]


def adversarial_candidates(source_vectors: np.ndarray, target_vectors: np.ndarray,
                           config: Optional[AlignmentConfig] = None,
                           on_epoch_end: Optional[Callable[[int, np.ndarray], None]] = None, *,
                           progress: bool = True) -> List[Tuple[np.ndarray, float]]:
    """`(W, criterion)` of each of the `config.adversarial_restarts` seeded games, in seed order."""
    config = config or AlignmentConfig()
    candidates = []
    for restart in range(max(1, config.adversarial_restarts)):
        W, score = _adversarial_run(source_vectors, target_vectors, config, config.seed + 1000 * restart,
                                    on_epoch_end, progress=progress)
        logger.info("adversarial restart %d: criterion %.4f", restart, score)
        candidates.append((W, score))
    return candidates


def _adversarial_run(source_vectors: np.ndarray, target_vectors: np.ndarray, config: AlignmentConfig,
                     seed: int, on_epoch_end: Optional[Callable[[int, np.ndarray], None]] = None, *,
                     progress: bool = True) -> Tuple[np.ndarray, float]:
    """One seeded game: W `[target_dim, source_dim]` of the epoch with the highest unsupervised
    criterion (on all of `source_vectors` and `target_vectors`), and that criterion. The game
    itself samples only the `config.adversarial_most_frequent` first rows of each."""
    source = np.asarray(source_vectors[: config.adversarial_most_frequent or None], dtype=np.float32)
    target = np.asarray(target_vectors[: config.adversarial_most_frequent or None], dtype=np.float32)
    game = _AdversarialGame(source, target, config, seed)
    best_W, best_score = game.W.numpy(), -np.inf
    bar = progress_bar(config.adversarial_epochs * config.iterations_per_epoch, "adversarial", unit="iteration",
                       enabled=progress, line_every=config.iterations_per_epoch)
    for epoch in range(config.adversarial_epochs):
        loss = game.play_epoch(epoch, bar)
        score, _ = _criterion_and_dictionary(source_vectors, target_vectors, game.W.numpy(), config, dictionary=False)
        logger.info("adversarial epoch %d: discriminator loss %.4f, criterion %.4f", epoch, loss, score)
        if on_epoch_end is not None:
            on_epoch_end(epoch, game.W.numpy())
        if score > best_score:
            best_W, best_score = game.W.numpy().copy(), score
        game.decay_learning_rates()
    bar.close()
    return best_W, best_score


def _initial_mapping(source_dim: int, target_dim: int, seed: int, config: AlignmentConfig) -> np.ndarray:
    """W's start, `[target_dim, source_dim]` float32.

    The identity (MUSE) for the first restart of equal dimensions; later restarts, and unequal
    dimensions, start from a seeded random (semi-)orthogonal map. An orthogonal W kept orthogonal
    by projection cannot change the sign of its determinant, so restarts from random maps also
    reach reflections."""
    if source_dim == target_dim and seed == config.seed:
        return np.eye(target_dim, dtype=np.float32)
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((max(source_dim, target_dim), min(source_dim, target_dim))))
    return (q if target_dim >= source_dim else q.T).astype(np.float32)


def _discriminator(config: AlignmentConfig, target_dim: int, seed: int) -> keras.Sequential:
    """The built discriminator, `[batch, target_dim] -> [batch, 1]` logits (1: a mapped source
    vector): input dropout, `discriminator_layers` x (Dense, LeakyReLU 0.2, dropout), Dense(1)."""
    import keras

    layers: List[keras.layers.Layer] = [keras.layers.Dropout(config.discriminator_input_dropout, seed=seed)]
    for _ in range(config.discriminator_layers):
        layers += [keras.layers.Dense(config.discriminator_hidden), keras.layers.LeakyReLU(0.2)]
        if config.discriminator_dropout:
            layers.append(keras.layers.Dropout(config.discriminator_dropout, seed=seed + 1))
    layers.append(keras.layers.Dense(1))
    discriminator = keras.Sequential(layers)
    discriminator.build((None, target_dim))
    return discriminator


class _AdversarialGame:
    """The state of one seeded game of eq. 1-2: the mapping W (a `tf.Variable`
    `[target_dim, source_dim]`), the discriminator, an SGD optimizer for each and the sampler of
    their batches; `source` `[n_source, source_dim]` and `target` `[n_target, target_dim]` are the
    float32 rows the batches are drawn from."""

    #: Iterations per call of the compiled loop.
    ITERATIONS_PER_CALL = 50

    def __init__(self, source: np.ndarray, target: np.ndarray, config: AlignmentConfig, seed: int):
        import keras
        import tensorflow as tf

        self.config = config
        keras.utils.set_random_seed(seed)
        self.W = tf.Variable(_initial_mapping(source.shape[1], target.shape[1], seed, config), name="mapping")
        self.discriminator = _discriminator(config, target.shape[1], seed)
        self.learning_rate = config.learning_rate
        self.map_learning_rate = config.learning_rate if config.mapping_learning_rate is None \
            else config.mapping_learning_rate
        self.dis_optimizer = keras.optimizers.SGD(learning_rate=self.learning_rate)
        self.map_optimizer = keras.optimizers.SGD(learning_rate=self.map_learning_rate)
        # Built here because optimizer variables cannot be created inside the compiled loop below.
        self.dis_optimizer.build(self.discriminator.trainable_variables)
        self.map_optimizer.build([self.W])
        smooth = config.label_smoothing
        self.labels = tf.concat([tf.fill([config.batch_size, 1], 1.0 - smooth),
                                 tf.fill([config.batch_size, 1], smooth)], axis=0)
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)
        self.source, self.target = tf.constant(source), tf.constant(target)
        self.n_source, self.n_target = len(source), len(target)
        if config.orthogonalisation not in ("beta", "project"):
            raise ValueError(f"orthogonalisation must be 'beta' or 'project', got {config.orthogonalisation!r}")
        self.sampler = tf.random.Generator.from_seed(seed)
        # Many iterations per call, inside one graph: a Python loop of single steps spends most of
        # its time dispatching small ops, not computing them.
        self.run_iterations = tf.function(self._iterations)

    def _batches(self) -> Tuple[tf.Tensor, tf.Tensor]:
        """A batch of source rows `[batch, source_dim]` and one of target rows `[batch, target_dim]`."""
        import tensorflow as tf

        batch = self.config.batch_size
        x = tf.gather(self.source, self.sampler.uniform([batch], 0, self.n_source, dtype=tf.int64))
        y = tf.gather(self.target, self.sampler.uniform([batch], 0, self.n_target, dtype=tf.int64))
        return x, y

    def discriminator_step(self) -> tf.Tensor:
        """One SGD step of the discriminator on mapped source vectors (label 1) and target vectors
        (label 0), both smoothed; returns its loss."""
        import tensorflow as tf

        x, y = self._batches()
        x = tf.matmul(x, tf.stop_gradient(self.W), transpose_b=True)
        with tf.GradientTape() as tape:
            loss = self.bce(self.labels, self.discriminator(tf.concat([x, y], 0), training=True))
        variables = self.discriminator.trainable_variables
        self.dis_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    def mapping_step(self) -> None:
        """One SGD step of W, then W pulled back towards the orthogonal matrices."""
        import tensorflow as tf

        W = self.W
        x, y = self._batches()
        with tf.GradientTape() as tape:
            mapped = tf.matmul(x, W, transpose_b=True)
            # Eq. 2: the mapping is trained with flipped labels, to make the discriminator err.
            # MUSE scores the mapping step with the discriminator in evaluation mode (no dropout).
            map_loss = self.bce(1.0 - self.labels, self.discriminator(tf.concat([mapped, y], 0), training=False))
        self.map_optimizer.apply_gradients([(tape.gradient(map_loss, W), W)])
        if self.config.orthogonalisation == "project":
            _, u, v = tf.linalg.svd(W)
            W.assign(tf.matmul(u, v, transpose_b=True))
        else:
            # Keep W close to orthogonal (MUSE's update with beta).
            beta = self.config.orthogonalisation_beta
            W.assign((1.0 + beta) * W - beta * tf.matmul(tf.matmul(W, W, transpose_b=True), W))

    def _iterations(self, count: tf.Tensor) -> tf.Tensor:
        """`count` iterations of `discriminator_steps` discriminator steps and one mapping step;
        the mean discriminator loss."""
        import tensorflow as tf

        loss_sum = tf.constant(0.0)
        for _ in tf.range(count):
            for _ in range(self.config.discriminator_steps):
                loss_sum += self.discriminator_step()
            self.mapping_step()
        return loss_sum / tf.cast(count * self.config.discriminator_steps, tf.float32)

    def play_epoch(self, epoch: int, bar: Any) -> float:
        """`config.iterations_per_epoch` iterations, shown on `bar`; the last call's mean
        discriminator loss."""
        import tensorflow as tf

        per_epoch = self.config.iterations_per_epoch
        done = 0
        while done < per_epoch:
            count = min(self.ITERATIONS_PER_CALL, per_epoch - done)
            loss = float(self.run_iterations(tf.constant(count)))
            done += count
            bar.set_postfix_str(f"epoch {epoch + 1}, discriminator loss {loss:.3f}", refresh=False)
            bar.update(count)
        return loss

    def decay_learning_rates(self) -> None:
        """Both learning rates times `config.learning_rate_decay`, for the next epoch."""
        self.learning_rate *= self.config.learning_rate_decay
        self.map_learning_rate *= self.config.learning_rate_decay
        self.dis_optimizer.learning_rate.assign(self.learning_rate)
        self.map_optimizer.learning_rate.assign(self.map_learning_rate)


def refine(source_vectors: np.ndarray, target_vectors: np.ndarray, W: np.ndarray,
           config: Optional[AlignmentConfig] = None, *, progress: bool = True) -> np.ndarray:
    """Iterative Procrustes refinement (eq. 3) on CSLS mutual-NN dictionaries; returns the W of
    the iteration with the best unsupervised criterion (the start W included)."""
    return refine_with_criterion(source_vectors, target_vectors, W, config, progress=progress)[0]


def refine_with_criterion(source_vectors: np.ndarray, target_vectors: np.ndarray, W: np.ndarray,
                          config: Optional[AlignmentConfig] = None, *,
                          progress: bool = True) -> Tuple[np.ndarray, float]:
    """`refine`'s W and its unsupervised criterion."""
    config = config or AlignmentConfig()
    best_W = W
    # The dictionary for the next Procrustes step comes from the same CSLS pass as W's criterion.
    best_score, pairs = _criterion_and_dictionary(source_vectors, target_vectors, W, config)
    bar = progress_bar(config.refinement_iterations, "refinement", unit="iteration", enabled=progress)
    for iteration in range(config.refinement_iterations):
        if len(pairs) < 2:
            logger.warning("refinement %d: dictionary has %d pairs; stopping", iteration, len(pairs))
            break
        W = procrustes(source_vectors[pairs[:, 0]], target_vectors[pairs[:, 1]])
        dictionary_size = len(pairs)
        last = iteration == config.refinement_iterations - 1
        score, pairs = _criterion_and_dictionary(source_vectors, target_vectors, W, config, dictionary=not last)
        logger.info("refinement %d: %d pairs, criterion %.4f", iteration, dictionary_size, score)
        bar.set_postfix_str(f"{dictionary_size} pairs, criterion {score:.4f}", refresh=False)
        bar.update(1)
        if score > best_score:
            best_W, best_score = W, score
    bar.close()
    return best_W, best_score


def align(source_vectors: np.ndarray, target_vectors: np.ndarray, config: Optional[AlignmentConfig] = None,
          initial_W: Optional[np.ndarray] = None, *, progress: bool = True) -> np.ndarray:
    """Unsupervised alignment: adversarial stage, then iterative CSLS/Procrustes refinement.

    source_vectors `[n_source, source_dim]`, target_vectors `[n_target, target_dim]`, rows by
    decreasing frequency. Returns W `[target_dim, source_dim]`; map with `apply_mapping`.
    Procrustes refinement needs equal dimensions. `progress` shows progress bars on stderr.

    Each adversarial restart is refined and the one with the best refined criterion is kept: a
    game can end in a wrong rotation on one seed (and on one machine's arithmetic) and not on
    another, and refinement widens the criterion's gap between a right and a wrong start.
    """
    config = config or AlignmentConfig()
    source_vectors = np.asarray(source_vectors, dtype=np.float32)
    target_vectors = np.asarray(target_vectors, dtype=np.float32)
    if initial_W is not None:
        candidates = [(np.asarray(initial_W, dtype=np.float32), -np.inf)]
    elif config.adversarial:
        candidates = adversarial_candidates(source_vectors, target_vectors, config, progress=progress)
    else:
        candidates = [(np.eye(target_vectors.shape[1], source_vectors.shape[1], dtype=np.float32), -np.inf)]
    if config.refinement_iterations and source_vectors.shape[1] == target_vectors.shape[1]:
        candidates = [refine_with_criterion(source_vectors, target_vectors, W, config, progress=progress)
                      for W, _ in candidates]
        for restart, (_, score) in enumerate(candidates):
            logger.info("restart %d after refinement: criterion %.4f", restart, score)
    return max(candidates, key=lambda candidate: candidate[1])[0]


def supervised_align(source_vectors: np.ndarray, target_vectors: np.ndarray,
                     pairs: Sequence[Tuple[int, int]]) -> np.ndarray:
    """Procrustes on a given seed dictionary of (source_row, target_row) pairs (eq. 3 alone)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return procrustes(np.asarray(source_vectors)[pairs[:, 0]], np.asarray(target_vectors)[pairs[:, 1]])
