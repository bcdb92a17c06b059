"""The `sewa` layout: the AVEC 2017 SEWA folder.

    audio/<Split>_NN.wav            the recording
    labels/<Split>_NN.csv           `;`-separated, no header: 'name';time_s;arousal;valence;liking (10 Hz)
    turns/<Split>_NN.csv            `start;end` in seconds (optional; validated, not stored)
    transcriptions/<Split>_NN.csv   `;`-separated, quote char `|`: start;end;'text' per sentence
    word_timings/<Split>_NN.csv     optional, same dialect: start;end;word (word timing `given`)

Split Train/Devel/Test -> partition train/devel/test. Every recording needs its audio and its
transcription; Train and Devel recordings need labels. A Test recording without a label file (as
in the AVEC release, whose test labels were withheld) is written with zero labels and label_mask 0
everywhere and counted as `unlabelled` in the report.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from emorec.constants import SEWA_DIMENSIONS
from emorec.data.audio import load_audio
from emorec.data.frames import num_frames_for, pad_to_frames
from emorec.data.words import proportional_words, words_from_timings
from emorec.errors import DatasetError, InputFileError
from tfrecords_tools.labels import align_labels
from tfrecords_tools.layout import Layout
from tfrecords_tools.sources import (BuildContext, BuiltItem, SourceItem, check_word_timings, make_recording,
                                     parse_number, read_text)
from tfrecords_tools.words import pocketsphinx_words

LABEL_NAMES = tuple(SEWA_DIMENSIONS)

_NAME = re.compile(r"^(Train|Devel|Test)_(\d+)$")
_PARTITION = {"Train": "train", "Devel": "devel", "Test": "test"}
_FOLDERS = ("audio", "labels", "turns", "transcriptions", "word_timings")


def list_items(source: Path, options: Dict[str, Any]) -> List[SourceItem]:
    if options:
        raise DatasetError(f"layout 'sewa' takes no layout options, got {sorted(options)}")
    if not (source / "audio").is_dir():
        raise DatasetError(f"{source}: not a SEWA folder (no audio/ subfolder)")
    names = set()
    for folder in ("audio", "labels", "transcriptions"):
        if (source / folder).is_dir():
            for path in (source / folder).iterdir():
                if _NAME.match(path.stem) and path.suffix.lower() in (".wav", ".csv", ".flac", ".ogg", ".mp3"):
                    names.add(path.stem)
    if not names:
        raise DatasetError(f"{source}: no <Train|Devel|Test>_NN files in audio/, labels/ or transcriptions/")
    items = []
    for name in sorted(names, key=lambda n: (list(_PARTITION).index(_NAME.match(n).group(1)), int(_NAME.match(n).group(2)))):
        split = _NAME.match(name).group(1)
        audio = next((p for p in sorted((source / "audio").glob(name + ".*"))), source / "audio" / f"{name}.wav")
        files = {folder: source / folder / f"{name}.csv" for folder in _FOLDERS[1:]}
        items.append(
            SourceItem(
                name=name,
                partition=_PARTITION[split],
                speaker=name,
                files=[str(audio)] + [str(p) for p in files.values() if p.exists()],
                payload={"audio": str(audio), **{k: str(v) for k, v in files.items()}, "split": split},
                audio_files=[str(audio)],
                corpus="sewa",
            )
        )
    return items


def _rows(path: Path, what: str) -> List[Tuple[int, List[str]]]:
    text = read_text(path, what)
    reader = csv.reader(io.StringIO(text), delimiter=";", quotechar="|")
    rows = []
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row):
                rows.append((reader.line_num, row))
    except csv.Error as error:
        raise InputFileError(path, f"line {reader.line_num}: cannot parse ({error})") from None
    return rows


def read_labels(path: Path) -> Tuple[np.ndarray, np.ndarray]:
    """Times `[T]` and values `[T, 3]` from a SEWA label file."""
    times, values = [], []
    for line, row in _rows(path, "label"):
        if len(row) != 2 + len(LABEL_NAMES):
            raise InputFileError(path, f"line {line}: expected {2 + len(LABEL_NAMES)} ';'-separated fields "
                                       f"('name';time;{';'.join(LABEL_NAMES)}), found {len(row)}")
        times.append(parse_number(row[1], path, line, "time"))
        values.append([parse_number(cell, path, line, name) for cell, name in zip(row[2:], LABEL_NAMES)])
    if not times:
        raise InputFileError(path, "label file has no rows")
    return np.array(times), np.array(values)


def read_spans(path: Path, what: str) -> List[Tuple[float, float, str]]:
    """`start;end;'text'` rows (transcriptions and word timings) as (start_s, end_s, text)."""
    spans = []
    for line, row in _rows(path, what):
        if len(row) != 3:
            raise InputFileError(path, f"line {line}: expected 3 ';'-separated fields (start;end;'text'), found {len(row)}")
        start = parse_number(row[0], path, line, "start")
        end = parse_number(row[1], path, line, "end")
        if end < start:
            raise InputFileError(path, f"line {line}: end {end} is before start {start}")
        text = row[2].strip()
        if len(text) >= 2 and text[0] == text[-1] == "'":
            text = text[1:-1]
        spans.append((start, end, text))
    return spans


def read_turns(path: Path) -> List[Tuple[float, float]]:
    turns = []
    for line, row in _rows(path, "turns"):
        if len(row) != 2:
            raise InputFileError(path, f"line {line}: expected 2 ';'-separated fields (start;end), found {len(row)}")
        start, end = parse_number(row[0], path, line, "start"), parse_number(row[1], path, line, "end")
        if end < start:
            raise InputFileError(path, f"line {line}: end {end} is before start {start}")
        turns.append((start, end))
    return turns


def build(item: SourceItem, context: BuildContext) -> BuiltItem:
    payload = item.payload
    audio_path = Path(payload["audio"])
    labels_path = Path(payload["labels"])
    transcript_path = Path(payload["transcriptions"])
    if not audio_path.exists():
        raise InputFileError(audio_path, "missing partner file: audio for this recording does not exist")
    if not transcript_path.exists():
        raise InputFileError(transcript_path, "missing partner file: transcription does not exist")
    has_labels = labels_path.exists()
    if not has_labels and payload["split"] != "Test":
        raise InputFileError(labels_path, "missing partner file: labels do not exist")

    # Parse the text files first: they are cheap and a bad one should not cost a decode.
    sentences = read_spans(transcript_path, "transcription")
    if Path(payload["turns"]).exists():
        read_turns(Path(payload["turns"]))
    label_track = read_labels(labels_path) if has_labels else None
    timings_path = Path(payload["word_timings"])
    mode = context.word_timing
    if mode == "auto":
        mode = "given" if timings_path.exists() else "proportional"
    timing_rows = None
    if mode == "given":
        timing_rows = read_spans(timings_path, "word timing")
        words = words_from_timings(timing_rows)
    elif mode == "proportional":
        words = proportional_words(sentences)
    else:
        words = None  # pocketsphinx: needs the audio at 16 kHz, below

    audio = load_audio(audio_path, context.sample_rate_hz, limits=context.audio_limits)
    if timing_rows is not None:  # words on frames the audio does not have would be silently dropped
        check_word_timings(timing_rows, audio.shape[0] / context.sample_rate_hz, timings_path)
    if words is None:
        words = pocketsphinx_words(load_audio(audio_path, 16000, limits=context.audio_limits), sentences)
    num_samples = audio.shape[0]
    num_frames = num_frames_for(num_samples)
    if label_track is None:
        labels = np.zeros((num_frames, len(LABEL_NAMES)), dtype=np.float32)
        mask = np.zeros(num_frames, dtype=np.float32)
        case = "unlabelled"
    else:
        labels, mask, case = align_labels(*label_track, num_frames, context.label_length_policy, labels_path)
    recording = make_recording(item, pad_to_frames(audio), LABEL_NAMES, labels, mask, words, num_samples)
    return BuiltItem(recording, case, bool(words))


LAYOUT = Layout(
    name="sewa",
    summary="the AVEC 2017 SEWA folder: audio/, labels/, transcriptions/ (turns/, word_timings/)",
    list_items=list_items,
    build=build,
    label_names=LABEL_NAMES,
)
