"""What a layout's reader produces and receives (`SourceItem`, `BuildContext`, `BuiltItem`), and
the helpers readers share. What a layout declares is in `tfrecords_tools.layout`."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from emorec.constants import SAMPLE_RATE_HZ
from emorec.data.audio import DEFAULT_LIMITS, AudioLimits
from emorec.data.schema import Recording
from emorec.data.words import Word
from emorec.errors import InputFileError, PathLike


@dataclass
class SourceItem:
    """One recording to write. `files` lists every input file it reads, the main audio first."""

    name: str
    partition: str
    speaker: str
    files: List[str]
    payload: Dict[str, Any] = field(default_factory=dict)
    #: The audio files it joins, in order (probed before conversion to plan the shards).
    audio_files: List[str] = field(default_factory=list)
    #: Joined from separate utterances (even when only one is left for it): the manifest lists its files.
    joined: bool = False
    #: The corpus it comes from and its emotion category (a row of the category map), where known.
    corpus: str = ""
    category: str = ""


@dataclass(frozen=True)
class BuildContext:
    sample_rate_hz: int = SAMPLE_RATE_HZ
    label_length_policy: str = "mask"
    word_timing: str = "auto"
    label_names: Sequence[str] = ()
    #: Sample-rate and duration sanity limits every audio file is checked against.
    audio_limits: AudioLimits = DEFAULT_LIMITS


@dataclass
class BuiltItem:
    recording: Recording
    #: How the label track met the audio: exact / trimmed / padded / constant / unlabelled.
    label_case: str
    has_words: bool


def make_recording(
    item: SourceItem,
    audio: np.ndarray,
    label_names: Sequence[str],
    labels: np.ndarray,
    label_mask: np.ndarray,
    words: Sequence[Word],
    num_samples: Optional[int] = None,
) -> Recording:
    """Assemble a Recording from frame-padded audio `[F * 2205]` and frame labels `[F, D]`."""
    return Recording(
        name=item.name,
        partition=item.partition,
        speaker=item.speaker,
        num_samples=int(num_samples if num_samples is not None else audio.shape[0]),
        audio=audio,
        label_names=list(label_names),
        labels=labels,
        label_mask=label_mask,
        words=[w.token for w in words],
        word_start_s=[w.start_s for w in words],
        word_end_s=[w.end_s for w in words],
        corpus=item.corpus,
        category=item.category,
    )


def parse_number(cell: str, path: PathLike, line: int, column: str) -> float:
    """A finite float from a text cell, or InputFileError naming the file, line and column."""
    text = cell.strip().strip("'\"")
    try:
        value = float(text)
    except ValueError:
        raise InputFileError(path, f"line {line}, column '{column}': {cell.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise InputFileError(path, f"line {line}, column '{column}': value is {text} (NaN or infinite)")
    return value


def read_text(path: PathLike, what: str) -> str:
    """Read a UTF-8 text file, or raise InputFileError saying what is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, f"{what} file does not exist")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputFileError(path, f"{what} file is not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise InputFileError(path, f"{what} file is not readable ({error.strerror})") from None



#: A word may end this far past the audio (timings rounded to 10 ms, a last frame cut short).
WORD_END_TOLERANCE_S = 0.1


def check_word_timings(rows, duration_s: float, path: PathLike, recording: str = "") -> None:
    """Raise InputFileError naming `path` and the word when a `(start_s, end_s, word)` row ends
    before it starts, starts before 0 or ends past the audio: such rows used to be accepted and
    gave words on frames that do not exist (or none at all). recording: named in the message when
    `path` holds the timings of many recordings."""
    of = f" of {recording}" if recording else ""
    for start_s, end_s, word in rows:
        if end_s < start_s:
            raise InputFileError(path, f"word {word!r}{of} ends ({end_s:g} s) before it starts ({start_s:g} s)")
        if start_s < 0:
            raise InputFileError(path, f"word {word!r}{of} starts at {start_s:g} s, before the audio")
        if end_s > duration_s + WORD_END_TOLERANCE_S:
            raise InputFileError(path, f"word {word!r}{of} ends at {end_s:g} s, past the audio's {duration_s:.2f} s")
