"""Spoken word segments for Speech2Vec: one `Utterance` per recording, its words cut out of the
audio at 22.05 kHz.

Sources: a converted dataset folder (its word fields), a TIMIT-style folder (`.wrd` files with
start/end sample indices at the wav's own rate) and a folder with a `word_timings.csv`
(`file,word,start_s,end_s`, EmoDB's layout, wavs under `wav/` or next to the CSV).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from emorec.constants import SAMPLE_RATE_HZ
from emorec.data.audio import load_audio, probe_audio
from emorec.data.words import words_from_timings
from emorec.errors import InputFileError, PathLike
from emorec.text import normalise_word


@dataclass
class Utterance:
    """One recording's word segments. `segments[i]` is the float32 waveform (22.05 kHz) of
    `words[i]`, spanning `times_s[i]` = (start_s, end_s)."""

    name: str
    speaker: str
    words: List[str]
    segments: List[np.ndarray]
    times_s: List[Tuple[float, float]] = field(default_factory=list)


def cut_segments(audio: np.ndarray, times_s: Sequence[Tuple[float, float]],
                 sample_rate_hz: int = SAMPLE_RATE_HZ) -> List[np.ndarray]:
    """The waveform slices `[start, end)` of each (start_s, end_s), clipped to the audio."""
    out = []
    for start_s, end_s in times_s:
        start = max(0, int(round(start_s * sample_rate_hz)))
        end = min(len(audio), int(round(end_s * sample_rate_hz)))
        out.append(np.asarray(audio[start:max(start, end)], dtype=np.float32))
    return out


def _timed_tokens(rows: Sequence[Tuple[float, float, str]]) -> Tuple[List[str], List[Tuple[float, float]]]:
    """Word-level rows `(start_s, end_s, text)` -> (tokens, times_s), tokenised exactly as the
    converter does (`emorec.data.words.words_from_timings`): a row with several tokens ("New
    York") shares its span among them, one with none (punctuation) is dropped. So Speech2Vec's
    vocabulary is the converted data's and Word2Vec's."""
    words = words_from_timings(rows)
    return [w.token for w in words], [(w.start_s, w.end_s) for w in words]


def _load_audio(path: Path) -> np.ndarray:
    return load_audio(path, SAMPLE_RATE_HZ)


def timit_utterances(folder: PathLike) -> List[Utterance]:
    """Every `<speaker-folder>/<id>.wav` with a `.wrd` file under `folder` (sorted)."""
    folder = Path(folder)
    wrd_files = sorted(folder.rglob("*.wrd"))
    if not wrd_files:
        raise InputFileError(folder, "no .wrd word-alignment files found")
    utterances = []
    for wrd in wrd_files:
        wav = wrd.with_suffix(".wav")
        if not wav.is_file():
            raise InputFileError(wrd, f"has no audio file {wav.name} next to it")
        native_hz = probe_audio(wav).sample_rate_hz
        rows = []
        for line_number, line in enumerate(wrd.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 3:
                raise InputFileError(wrd, f"line {line_number}: expected 'start end word', got {line!r}")
            rows.append((int(parts[0]) / native_hz, int(parts[1]) / native_hz, " ".join(parts[2:])))
        words, times = _timed_tokens(rows)
        audio = _load_audio(wav)
        speaker = wrd.parent.name.split("-")[-1]
        utterances.append(Utterance(f"{wrd.parent.name}/{wrd.stem}", speaker, words, cut_segments(audio, times), times))
    return utterances


def word_timing_utterances(folder: PathLike, timings_file: str = "word_timings.csv",
                           speaker_chars: int = 2) -> List[Utterance]:
    """Utterances from `folder/word_timings.csv` (`file,word,start_s,end_s`). The speaker is the
    first `speaker_chars` characters of the file name (EmoDB's convention)."""
    folder = Path(folder)
    csv_path = folder / timings_file
    if not csv_path.is_file():
        raise InputFileError(csv_path, "word timing file not found")
    rows: Dict[str, List[Tuple[str, float, float]]] = {}
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"file", "word", "start_s", "end_s"} - set(reader.fieldnames or [])
        if missing:
            raise InputFileError(csv_path, f"missing columns {sorted(missing)}")
        for row in reader:
            rows.setdefault(row["file"], []).append((row["word"], float(row["start_s"]), float(row["end_s"])))
    utterances = []
    for file_name in sorted(rows):
        wav = folder / "wav" / file_name
        if not wav.is_file():
            wav = folder / file_name
        if not wav.is_file():
            raise InputFileError(csv_path, f"audio file {file_name} not found under {folder}")
        audio = _load_audio(wav)
        words, times = _timed_tokens([(start_s, end_s, word) for word, start_s, end_s in rows[file_name]])
        utterances.append(Utterance(Path(file_name).stem, file_name[:speaker_chars], words,
                                    cut_segments(audio, times), times))
    return utterances


def dataset_utterances(converted_dir: PathLike, partitions: Sequence[str] = ("train",)) -> List[Utterance]:
    """Utterances from the word fields of a converted dataset's recordings."""
    from emorec.data.recordings import iter_recordings

    utterances = []
    for _, rec in iter_recordings(converted_dir, partitions):
        if not rec.words:
            continue
        audio = rec.audio[: rec.num_samples]
        times = list(zip(rec.word_start_s, rec.word_end_s))
        utterances.append(Utterance(rec.name, rec.speaker, [normalise_word(w) for w in rec.words],
                                    cut_segments(audio, times), times))
    return utterances


def load_utterances(source: PathLike, partitions: Sequence[str] = ("train",)) -> List[Utterance]:
    """Pick the reader from the folder's layout: converted dataset (manifest.json), word_timings.csv,
    or TIMIT `.wrd` files."""
    from emorec.constants import MANIFEST_FILENAME

    source = Path(source)
    if (source / MANIFEST_FILENAME).is_file():
        return dataset_utterances(source, partitions)
    if (source / "word_timings.csv").is_file():
        return word_timing_utterances(source)
    if source.is_dir() and any(source.rglob("*.wrd")):
        return timit_utterances(source)
    raise InputFileError(source, "not a converted dataset, a folder with word_timings.csv, or a TIMIT-style folder")
