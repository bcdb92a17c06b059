"""The `manifest` layout: a CSV that lists a user's own recordings.

SOURCE is the CSV file (or a folder holding `manifest.csv`). Columns, with a header:

    audio,labels,words,partition,speaker      (words and speaker may be empty or absent; name optional)

Paths are relative to the CSV's folder. A recording's `name` (default: the audio file's stem) names
its output files, so it is a relative path such as `spk1/a` (see `recording_name_problem`). A label file is a CSV with a header `time_s,<dim>,...`
(any time grid; it is interpolated onto the 10 Hz frames); every label file must name the same
dimensions. A word file is a CSV with header `word,start_s,end_s`.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np

from emorec.constants import PARTITIONS
from emorec.data.audio import load_audio
from emorec.data.frames import num_frames_for, pad_to_frames
from emorec.data.schema import recording_name_problem
from emorec.data.words import words_from_timings
from emorec.errors import DatasetError, InputFileError
from tfrecords_tools.labels import align_labels
from tfrecords_tools.layout import Layout, LayoutOption
from tfrecords_tools.sources import (BuildContext, BuiltItem, SourceItem, check_word_timings, make_recording, parse_number,
                                     read_text)

REQUIRED_COLUMNS = ("audio", "labels", "partition")


def _csv_path(source: Path) -> Path:
    return source / "manifest.csv" if source.is_dir() else source


def _read_label_csv(path: Path) -> Tuple[List[str], np.ndarray, np.ndarray]:
    reader = csv.reader(io.StringIO(read_text(path, "label")))
    try:
        header = next(reader)
    except StopIteration:
        raise InputFileError(path, "label file is empty") from None
    header = [h.strip() for h in header]
    if len(header) < 2 or header[0] != "time_s":
        raise InputFileError(path, f"header must be 'time_s,<dimension>,...', got {','.join(header)!r}")
    times, values = [], []
    for row in reader:
        if not row or not any(c.strip() for c in row):
            continue
        line = reader.line_num
        if len(row) != len(header):
            raise InputFileError(path, f"line {line}: expected {len(header)} fields, found {len(row)}")
        times.append(parse_number(row[0], path, line, "time_s"))
        values.append([parse_number(cell, path, line, name) for cell, name in zip(row[1:], header[1:])])
    if not times:
        raise InputFileError(path, "label file has no rows")
    return header[1:], np.array(times), np.array(values)


def _label_names(path: Path) -> List[str]:
    reader = csv.reader(io.StringIO(read_text(path, "label")))
    header = [h.strip() for h in next(reader, [])]
    if len(header) < 2 or header[0] != "time_s":
        raise InputFileError(path, f"header must be 'time_s,<dimension>,...', got {','.join(header)!r}")
    return header[1:]


def list_items(source: Path, options: Dict[str, Any]) -> List[SourceItem]:
    allow_outside = bool(options.get("allow_outside_paths"))
    path = _csv_path(source)
    reader = csv.DictReader(io.StringIO(read_text(path, "manifest CSV")))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputFileError(path, f"missing columns {missing}; expected audio,labels,words,partition,speaker")
    base = path.parent
    items, names = [], set()
    for row in reader:
        line = reader.line_num
        partition = (row.get("partition") or "").strip()
        if partition not in PARTITIONS:
            raise InputFileError(path, f"line {line}: partition {partition!r} is not one of {list(PARTITIONS)}")
        audio = base / row["audio"].strip()
        labels = base / row["labels"].strip()
        words = (row.get("words") or "").strip()
        if not allow_outside:
            for column in ("audio", "labels", "words"):
                cell = (row.get(column) or "").strip()
                if cell and not (base / cell).resolve().is_relative_to(base.resolve()):
                    # An absolute or ../ path reads files anywhere the user can: a CSV from
                    # elsewhere must not pull them into a dataset without a word.
                    raise InputFileError(path, f"line {line}, column '{column}': {cell} lies outside the dataset "
                                               f"folder {base}; pass --allow-outside-paths if that is intended")
        name = (row.get("name") or "").strip() or Path(row["audio"].strip()).stem
        problem = recording_name_problem(name)
        if problem:
            raise InputFileError(path, f"line {line}: {problem}")
        if name in names:
            raise InputFileError(path, f"line {line}: recording name {name!r} appears twice")
        names.add(name)
        files = [str(audio), str(labels)] + ([str(base / words)] if words else [])
        items.append(SourceItem(
            name=name, partition=partition, speaker=(row.get("speaker") or "").strip(), files=files,
            payload={"audio": str(audio), "labels": str(labels), "words": str(base / words) if words else None},
            audio_files=[str(audio)],
        ))
    if not items:
        raise DatasetError(f"{path}: lists no recordings")
    return items


def label_names(items: List[SourceItem]) -> List[str]:
    """The dimensions named by the first item's label file (every file must match them)."""
    return _label_names(Path(items[0].payload["labels"]))


def build(item: SourceItem, context: BuildContext) -> BuiltItem:
    labels_path = Path(item.payload["labels"])
    names, times, values = _read_label_csv(labels_path)
    if list(names) != list(context.label_names):
        raise InputFileError(labels_path, f"label dimensions {names} differ from the dataset's {list(context.label_names)}")
    words = []
    if item.payload["words"]:
        words_path = Path(item.payload["words"])
        reader = csv.DictReader(io.StringIO(read_text(words_path, "word timing")))
        if [c for c in ("word", "start_s", "end_s") if c not in (reader.fieldnames or [])]:
            raise InputFileError(words_path, f"header must be 'word,start_s,end_s', got {reader.fieldnames}")
        rows = [(parse_number(r["start_s"], words_path, reader.line_num, "start_s"),
                 parse_number(r["end_s"], words_path, reader.line_num, "end_s"), r["word"]) for r in reader]
        words = words_from_timings(rows)
    audio = load_audio(item.payload["audio"], context.sample_rate_hz, limits=context.audio_limits)
    if item.payload["words"]:
        check_word_timings(rows, audio.shape[0] / context.sample_rate_hz, words_path)
    num_frames = num_frames_for(audio.shape[0])
    labels, mask, case = align_labels(times, values, num_frames, context.label_length_policy, labels_path)
    recording = make_recording(item, pad_to_frames(audio), names, labels, mask, words, audio.shape[0])
    return BuiltItem(recording, case, bool(words))


LAYOUT = Layout(
    name="manifest",
    summary="a CSV of your own recordings: audio,labels,words,partition,speaker",
    list_items=list_items,
    build=build,
    label_names=label_names,
    options=(LayoutOption("allow_outside_paths", "accept files outside the CSV's folder (absolute or ../ paths).",
                          False, "flag"),),
)
