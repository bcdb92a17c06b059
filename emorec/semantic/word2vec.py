"""Word2Vec (gensim skip-gram) on a text corpus or on a converted dataset's transcripts.

Every token goes through `emorec.text.tokenize`, the tokenizer the converter and the text features
use too, so the vocabularies agree. Training is deterministic: one worker thread, a fixed seed and
a process-independent hash function.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterable, Iterator, List, Sequence, Union

import numpy as np

from emorec.errors import InputFileError, PathLike
from emorec.text import tokenize

logger = logging.getLogger(__name__)

#: File names in corpus folders that describe the corpus rather than hold its text (NLTK data).
NON_TEXT_FILES = frozenset({"README", "CONTENTS", "cats.txt", "stopwords", "LICENSE", "LICENSE.txt",
                            "readme.txt", "allfilelist.txt"})
#: Longest "sentence" handed to gensim; gensim itself truncates at 10,000 tokens.
MAX_SENTENCE_TOKENS = 1000

# A Brown-corpus token: word/TAG where TAG is lower-case letters and tag punctuation.
_TAGGED_TOKEN = re.compile(r"^\S+/[a-z$*+\-`'.,:()&]+$")


def is_tagged_text(text: str, sample_tokens: int = 400, threshold: float = 0.8) -> bool:
    """True if the text looks like word/TAG tokens (the Brown corpus format)."""
    tokens = text.split()[:sample_tokens]
    if not tokens:
        return False
    return sum(bool(_TAGGED_TOKEN.match(t)) for t in tokens) / len(tokens) >= threshold


def strip_tags(text: str) -> str:
    """`The/at jury/nn said/vbd ./.` -> `The jury said .` (the tag follows the last slash)."""
    return " ".join(t.rsplit("/", 1)[0] if "/" in t else t for t in text.split())


def read_text_file(path: PathLike) -> Iterator[List[str]]:
    """Token lists of one text file, one per paragraph (blank-line separated), split into chunks
    of at most `MAX_SENTENCE_TOKENS`. Brown-style tagged text has its tags removed; for it, each
    line is a sentence. Undecodable bytes are read as Latin-1."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    tagged = is_tagged_text(text)
    if tagged:
        blocks = [strip_tags(line) for line in text.splitlines()]
    else:
        blocks = re.split(r"\n\s*\n", text)
    for block in blocks:
        tokens = tokenize(block)
        for start in range(0, len(tokens), MAX_SENTENCE_TOKENS):
            if tokens[start : start + MAX_SENTENCE_TOKENS]:
                yield tokens[start : start + MAX_SENTENCE_TOKENS]


def corpus_files(folder: PathLike) -> List[Path]:
    """Text files under `folder`, recursively, sorted (so the corpus order is reproducible)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(folder, "is not a folder of text files")
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in NON_TEXT_FILES
             and not p.name.startswith(".") and p.suffix.lower() not in {".doc", ".pdf", ".zip", ".gz", ".wav"}]
    if not files:
        raise InputFileError(folder, "holds no text files")
    return files


class FolderCorpus:
    """Restartable iterable of token lists over a folder (gensim iterates several times)."""

    def __init__(self, folder: PathLike):
        self.files = corpus_files(folder)

    def __iter__(self) -> Iterator[List[str]]:
        for path in self.files:
            yield from read_text_file(path)


def dataset_transcripts(converted_dir: PathLike, partitions: Sequence[str] = ("train",)) -> List[List[str]]:
    """The word lists of every recording in the given partitions of a converted dataset folder."""
    from emorec.data.recordings import iter_recordings

    return [list(rec.words) for _, rec in iter_recordings(converted_dir, partitions) if rec.words]


def train_word2vec(texts: Union[Iterable[List[str]], PathLike], *, vector_size: int = 100, window: int = 5,
                   min_count: int = 5, epochs: int = 5, sg: int = 1, negative: int = 5,
                   seed: int = 0, workers: int = 1):
    """Train skip-gram Word2Vec and return its `gensim.models.KeyedVectors` (rows by frequency).

    texts: an iterable of token lists (already tokenised with `emorec.text.tokenize`), or a folder
    of text files read with `FolderCorpus`. workers=1 keeps training deterministic.
    """
    from gensim.models import Word2Vec

    if isinstance(texts, (str, Path)):
        corpus: Iterable[List[str]] = FolderCorpus(texts)
    else:
        corpus = [list(t) for t in texts]
    # gensim's default hashfxn is Python's hash(), salted per process; a stable one keeps runs equal.
    model = Word2Vec(sentences=corpus, vector_size=vector_size, window=window, min_count=min_count,
                     epochs=epochs, sg=sg, negative=negative, seed=seed, workers=workers,
                     hashfxn=_stable_hash)
    if len(model.wv) == 0:
        raise ValueError(f"Word2Vec vocabulary is empty (min_count={min_count} too high for this corpus?)")
    logger.info("word2vec: %d words, %d dims", len(model.wv), vector_size)
    return model.wv


def _stable_hash(text: str) -> int:
    """A process-independent hash (Python's str hash is salted per process)."""
    import zlib

    return zlib.crc32(text.encode("utf-8"))


def save_keyed_vectors(keyed_vectors, path: PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keyed_vectors.save(str(path))
    return path


def load_keyed_vectors(path: PathLike):
    """Load KeyedVectors saved by `save_keyed_vectors` (gensim native format). A Speech2Vec folder
    stands for its `word_vectors.kv`."""
    from gensim.models import KeyedVectors

    path = Path(path)
    if path.is_dir() and (path / "word_vectors.kv").is_file():
        path = path / "word_vectors.kv"
    if not path.is_file():
        raise InputFileError(path, "no saved KeyedVectors here")
    try:
        return KeyedVectors.load(str(path))
    except Exception as error:  # gensim raises assorted pickle / IO errors
        raise InputFileError(path, f"not a gensim KeyedVectors file ({error})") from error


def word_vector(keyed_vectors, word: str) -> np.ndarray:
    """The vector of `word`, or zeros for an out-of-vocabulary word (never a fresh random one)."""
    if word in keyed_vectors.key_to_index:
        return np.asarray(keyed_vectors[word], dtype=np.float32)
    return np.zeros(keyed_vectors.vector_size, dtype=np.float32)


def most_frequent(keyed_vectors, count: int):
    """A copy holding only the first `count` rows (the most frequent words); all rows if count <= 0."""
    from gensim.models import KeyedVectors

    if count <= 0 or count >= len(keyed_vectors):
        return keyed_vectors
    out = KeyedVectors(keyed_vectors.vector_size)
    out.add_vectors(keyed_vectors.index_to_key[:count], keyed_vectors.vectors[:count])
    return out
