"""Word2Vec (gensim skip-gram) on a text corpus or on a converted dataset's transcripts.

Every token goes through `emorec.text.tokenize`, the tokenizer the converter and the text features
use too, so the vocabularies agree. Training is deterministic: one worker thread, a fixed seed and
a process-independent hash function.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np

from emorec.config import Word2VecConfig
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


def train_word2vec(texts: Union[Iterable[List[str]], PathLike], config: Optional[Word2VecConfig] = None, *,
                   workers: int = 1, **settings):
    """Train skip-gram Word2Vec and return its `gensim.models.KeyedVectors` (rows by frequency).

    texts: an iterable of token lists (already tokenised with `emorec.text.tokenize`), or a folder
    of text files read with `FolderCorpus`. config: the `semantic.word2vec` section (default: its
    defaults); `settings` replace single fields of it, e.g. `vector_size=8`. workers=1 keeps
    training deterministic.
    """
    from gensim.models import Word2Vec

    if isinstance(texts, (str, Path)):
        corpus: Iterable[List[str]] = FolderCorpus(texts)
    else:
        corpus = [list(t) for t in texts]
    # gensim's default hashfxn is Python's hash(), salted per process; a stable one keeps runs equal.
    config = dataclasses.replace(config or Word2VecConfig(), **settings)
    # sg=1: skip-gram, the paper's Word2Vec.
    model = Word2Vec(sentences=corpus, vector_size=config.vector_size, window=config.window,
                     min_count=config.min_count, epochs=config.epochs, sg=1, negative=config.negative,
                     seed=config.seed, workers=workers, hashfxn=_stable_hash)
    if len(model.wv) == 0:
        raise ValueError(f"Word2Vec vocabulary is empty (min_count={config.min_count} too high for this corpus?)")
    logger.info("word2vec: %d words, %d dims", len(model.wv), config.vector_size)
    return model.wv


def _stable_hash(text: str) -> int:
    """A process-independent hash (Python's str hash is salted per process)."""
    import zlib

    return zlib.crc32(text.encode("utf-8"))


#: How the vectors are stored: the word2vec binary format (`<count> <dim>` line, then per word its
#: UTF-8 token, a space and `dim` little-endian float32). Unlike gensim's native `.kv` (a pickle,
#: which runs code when opened), reading it only parses numbers, so a vectors file from anyone is
#: safe to open; other tools (MUSE, fastText) read it too. Rows stay in frequency order.
VECTORS_SUFFIX = ".bin"
#: The Speech2Vec folder's word vectors.
SPEECH2VEC_VECTORS_FILENAME = "word_vectors.bin"
#: A vectors file larger than this is refused before parsing (a hostile header could otherwise
#: make gensim allocate `count x dim` floats up front).
_MAX_VECTOR_FLOATS = 2_000_000_000
_PICKLE_HELP = ("is a gensim pickle (.kv), which runs code when opened, and emorec opens none; save the vectors "
                "in the word2vec binary format instead (gensim: KeyedVectors.save_word2vec_format(path, binary=True))")


def save_keyed_vectors(keyed_vectors, path: PathLike) -> Path:
    """Write KeyedVectors in the word2vec binary format (see `VECTORS_SUFFIX`), atomically: a
    temporary name renamed when complete, so an interrupted save leaves no short file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".partial")
    keyed_vectors.save_word2vec_format(str(temp), binary=True)
    temp.replace(path)
    return path


def _looks_like_pickle(head: bytes) -> bool:
    # Protocol 2+ pickles (gensim writes 4) start with PROTO 0x80; protocols 0/1 with an opcode such
    # as "(" or "c" and never with the word2vec header's digits.
    return head[:1] == b"\x80" or head[:1] in (b"(", b"c", b"}", b"]")


def load_keyed_vectors(path: PathLike):
    """Load word vectors in the word2vec binary or text format (what `save_keyed_vectors` writes).

    A Speech2Vec folder stands for its `word_vectors.bin`. A gensim pickle (`.kv`) is refused,
    saying how to save it instead: opening a pickle runs whatever code it holds. Raises
    InputFileError naming the file.
    """
    from gensim.models import KeyedVectors

    path = Path(path)
    if path.is_dir() and (path / SPEECH2VEC_VECTORS_FILENAME).is_file():
        path = path / SPEECH2VEC_VECTORS_FILENAME
    if not path.is_file():
        raise InputFileError(path, "no saved word vectors here")
    with open(path, "rb") as handle:
        head = handle.read(65536)  # the header and, in the text format, the first row
    if _looks_like_pickle(head):
        raise InputFileError(path, _PICKLE_HELP)
    binary = _check_word2vec_header(path, head)
    try:
        return KeyedVectors.load_word2vec_format(str(path), binary=binary, unicode_errors="replace")
    except Exception as error:  # noqa: BLE001 - gensim raises ValueError/EOFError/... on bad files
        first = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise InputFileError(path, f"not a readable word2vec file ({first})") from None


def _check_word2vec_header(path: Path, head: bytes) -> bool:
    """Check the `<count> <dim>` line against the file size; return True for the binary format."""
    line, newline, rest = head.partition(b"\n")
    fields = line.split()
    if not newline or len(fields) != 2 or not all(f.isdigit() for f in fields):
        raise InputFileError(path, "not a word2vec file (expected a '<count> <dim>' first line); save vectors "
                                   "with emorec.semantic.word2vec.save_keyed_vectors")
    count, dim = int(fields[0]), int(fields[1])
    if count == 0 or dim == 0 or count * dim > _MAX_VECTOR_FLOATS:
        raise InputFileError(path, f"word2vec header says {count} words x {dim} dims (empty or corrupt)")
    # Text format: the first row is a token and `dim` numbers on one line; anything else is binary.
    first_row = rest.split(b"\n", 1)[0].split()
    binary = True
    if len(first_row) == dim + 1:
        try:
            [float(value) for value in first_row[1:]]
            binary = False
        except ValueError:
            pass
    body = path.stat().st_size - len(line) - 1
    least = count * (dim * 4 + 2) if binary else count * (2 * dim + 2)  # token >= 1 byte plus separator
    if body < least:
        raise InputFileError(path, f"word2vec header says {count} words x {dim} dims but the file holds only "
                                   f"{body} bytes of vectors (truncated or corrupt)")
    return binary


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
