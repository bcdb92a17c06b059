"""The `folders` layout: your own corpus labelled by category, one subfolder per category:

    SOURCE/angry/spk01_take1.wav   SOURCE/happy/spk02-b.flac   SOURCE/neutral/...

A subfolder's name is a category: a row of the label map (`anger`, `happiness`, ...; see
`emorec/resources/category_vad_map.yaml`) or one of the usual adjectives (`angry`, `happy`, `sad`,
`fearful`, `surprised`, `disgusted`, `bored`). Targets come from it through the label map
(`tfrecords_tools.categorical`), derived, not annotated. The speaker is what the regular
expression `speaker_pattern` (its first group) finds in the file's stem; by default the part
before the first `_` or `-`. Recordings are named `<subfolder>/<stem>`. Every speaker trains
unless listed in `devel_speakers` or `test_speakers`; speakers are stored as `folders-<id>`.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

from emorec.errors import DatasetError, InputFileError
from tfrecords_tools.categorical import (LABEL_NAMES, Utterance, build_utterances, derived_targets_note, load_label_map,
                                         label_map_name, label_map_path, partition_utterances, speaker_options)
from tfrecords_tools.layout import Layout, LayoutOption

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
#: Adjectives -> rows of the label map (a row's own name is accepted as it is).
SYNONYMS = {"angry": "anger", "happy": "happiness", "sad": "sadness", "fearful": "fear", "afraid": "fear",
            "surprised": "surprise", "disgusted": "disgust", "bored": "boredom"}
DEFAULT_SPEAKER_PATTERN = r"^([^_-]+)"


def _speaker(path: Path, pattern: re.Pattern) -> str:
    match = pattern.search(path.stem)
    if match is None or not (match.group(1) if pattern.groups else match.group(0)):
        raise InputFileError(path, f"speaker_pattern {pattern.pattern!r} finds no speaker in this file name; "
                                   "pass --speaker-pattern with a group that does")
    return match.group(1) if pattern.groups else match.group(0)


def list_items(source: Path, options: Dict[str, Any]) -> list:
    try:
        pattern = re.compile(options["speaker_pattern"])
    except re.error as error:
        raise DatasetError(f"--speaker-pattern {options['speaker_pattern']!r} is not a regular expression ({error})") from None
    rows = set(load_label_map(label_map_path(options["label_map"])))
    utterances: List[Utterance] = []
    for folder in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")):
        category = SYNONYMS.get(folder.name.lower(), folder.name.lower())
        if category not in rows:
            raise DatasetError(f"{folder}: category {folder.name!r} is not in {label_map_name(options['label_map'])} "
                               f"(its rows: {', '.join(sorted(rows))}; or: {', '.join(sorted(SYNONYMS))})")
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES):
            utterances.append(Utterance(name=f"{folder.name}/{path.stem}", audio=str(path),
                                        speaker=_speaker(path, pattern), category=category,
                                        details={"emotion": folder.name}))
    return partition_utterances("folders", "folders", utterances, options, source)


LAYOUT = Layout(
    name="folders",
    summary="your own corpus, one subfolder per category: SOURCE/<category>/<audio files>",
    list_items=list_items,
    build=build_utterances,
    label_names=LABEL_NAMES,
    options=(LayoutOption("speaker_pattern", "regular expression whose first group is the speaker in a file name.",
                          DEFAULT_SPEAKER_PATTERN),) + speaker_options(devel=(), test=()),
    derived_targets=True,
    categories=SYNONYMS,
    notes=derived_targets_note,
)
