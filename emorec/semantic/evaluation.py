"""Checks of the semantic spaces: Speech2Vec word-type retrieval and aligned-space translation.

Every figure comes with its chance level, because small corpora make all of them low.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from emorec.semantic.alignment import normalise_rows, precision_at_k


def split_by_speaker(utterances: Sequence, held_out_speakers: Sequence[str]) -> Tuple[list, list]:
    """(training utterances, held-out utterances) by speaker id."""
    held = set(held_out_speakers)
    return [u for u in utterances if u.speaker not in held], [u for u in utterances if u.speaker in held]


def type_retrieval_accuracy(type_vectors, embeddings: np.ndarray, words: Sequence[str]) -> Dict[str, float]:
    """Held-out word instances against per-type vectors (cosine nearest type).

    Only instances whose type has a vector count. Returns accuracy, the chance of a uniform guess
    among the types (1 / types), the majority baseline (always guessing the most frequent type
    among the evaluated instances), and the instance count.
    """
    keys = list(type_vectors.index_to_key)
    index = {w: i for i, w in enumerate(keys)}
    known = [i for i, w in enumerate(words) if w in index]
    if not known:
        return {"accuracy": float("nan"), "chance": float("nan"), "majority": float("nan"), "instances": 0}
    queries = normalise_rows(np.asarray(embeddings)[known])
    vectors = normalise_rows(np.asarray(type_vectors.vectors))
    predicted = np.argmax(queries @ vectors.T, axis=1)
    gold = np.array([index[words[i]] for i in known])
    counts = np.bincount(gold, minlength=len(keys))
    return {"accuracy": float(np.mean(predicted == gold)), "chance": 1.0 / len(keys),
            "majority": float(counts.max() / len(gold)), "instances": len(known), "types": len(keys)}


def shared_word_pairs(source_kv, target_kv, words: Optional[Sequence[str]] = None) -> List[Tuple[int, int]]:
    """(source_row, target_row) for words spelled the same in both vocabularies (optionally only
    those in `words`)."""
    candidates = source_kv.index_to_key if words is None else words
    return [(source_kv.key_to_index[w], target_kv.key_to_index[w]) for w in candidates
            if w in source_kv.key_to_index and w in target_kv.key_to_index]


def translation_report(source_kv, target_kv, W: np.ndarray, words: Optional[Sequence[str]] = None,
                       csls_k: int = 10) -> Dict[str, float]:
    """Precision at 1 and 5 (CSLS and plain NN) of translating source words to the same word in
    the target vocabulary, with the chance levels k / target vocabulary size."""
    pairs = shared_word_pairs(source_kv, target_kv, words)
    if not pairs:
        return {"pairs": 0}
    S = np.asarray(source_kv.vectors)
    T = np.asarray(target_kv.vectors)
    report: Dict[str, float] = {"pairs": len(pairs), "target_vocabulary": len(T)}
    for k in (1, 5):
        report[f"p@{k}_csls"] = precision_at_k(S, T, W, pairs, k, "csls", csls_k)
        report[f"p@{k}_nn"] = precision_at_k(S, T, W, pairs, k, "nn")
        report[f"chance@{k}"] = min(1.0, k / len(T))
    return report


def supervised_holdout(source_kv, target_kv, held_out_fraction: float = 0.5, seed: int = 0,
                       csls_k: int = 10) -> Tuple[np.ndarray, Dict[str, float]]:
    """Procrustes (eq. 3) on a seeded random part of the identically spelled words; precision at
    1/5 on the rest (held-out words). Returns W and the report."""
    from emorec.semantic.alignment import supervised_align

    pairs = shared_word_pairs(source_kv, target_kv)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))
    held = int(round(len(pairs) * held_out_fraction))
    held_pairs = [pairs[i] for i in order[:held]]
    train_pairs = [pairs[i] for i in order[held:]]
    if len(train_pairs) < 2 or not held_pairs:
        raise ValueError(f"only {len(pairs)} shared words: too few for a held-out split")
    W = supervised_align(source_kv.vectors, target_kv.vectors, train_pairs)
    held_words = [source_kv.index_to_key[s] for s, _ in held_pairs]
    report = translation_report(source_kv, target_kv, W, held_words, csls_k)
    report["train_pairs"] = len(train_pairs)
    return W, report
