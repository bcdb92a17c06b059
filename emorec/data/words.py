"""Word tokens with start and end times: the tokenisation every word timing goes through.

Every text goes through `emorec.text.tokenize`, the one tokenizer Word2Vec and Speech2Vec use, so
the converter's word fields and the semantic branch's spoken-word vocabulary agree. A row that
tokenizes to several tokens shares its span among them in proportion to their length.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Sequence, Tuple

import numpy as np

from emorec.text import tokenize


@dataclass(frozen=True)
class Word:
    token: str
    start_s: float
    end_s: float


def _token_weight(token: str) -> int:
    return max(1, len(token.strip("<>")))


def split_span(tokens: Sequence[str], start_s: float, end_s: float) -> List[Word]:
    """Split [start_s, end_s] among `tokens` in proportion to their length; contiguous, in order."""
    if not tokens:
        return []
    weights = np.array([_token_weight(t) for t in tokens], dtype=np.float64)
    edges = start_s + (end_s - start_s) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return [Word(t, float(edges[i]), float(edges[i + 1])) for i, t in enumerate(tokens)]


def proportional_words(sentences: Iterable[Tuple[float, float, str]]) -> List[Word]:
    """`(start_s, end_s, text)` per sentence -> word timings by proportional split."""
    words: List[Word] = []
    for start_s, end_s, text in sentences:
        words.extend(split_span(tokenize(text), start_s, end_s))
    return words


def words_from_timings(rows: Iterable[Tuple[float, float, str]]) -> List[Word]:
    """Word-level rows `(start_s, end_s, word)` -> tokens. A row that tokenizes to several tokens
    (e.g. "don't-know") shares its span proportionally; one with none (punctuation) is dropped."""
    return proportional_words(rows)
