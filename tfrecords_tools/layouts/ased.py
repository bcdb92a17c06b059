"""The `ased` layout: the Amharic Speech Emotional Dataset v1 (Retta et al. 2023; acted, recorded
at home; no licence stated, a research corpus: cite it), as its repository lays it out:

    01Neutral/ 02Fearful/ 03Happy/ 04Sad/ 05Angry/      <e><n>-<sentence>-<repetition>-<gender>-<speaker>.wav

(16 kHz). The category is the folder's; the file name's first letter repeats it (`S` once for
`s`). The speaker is the last field (01-65): the gender field disagrees for five speakers, so it is
not part of the id. No transcripts are given. 25 of the 27 sentences are each spoken in one
emotion only, so within ASED the sentence gives the category away: a split by sentence, not only
by speaker, is needed to score a text model on it. Speakers are stored as `ased-NN`; the default
split holds out 61 and 62 (devel) and 58 and 65 (test), one female and one male each.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

from emorec.errors import InputFileError
from tfrecords_tools.categorical import (LABEL_NAMES, Utterance, build_utterances, derived_targets_note,
                                         partition_utterances, speaker_options)
from tfrecords_tools.layout import Layout

FOLDERS = {"01Neutral": "neutral", "02Fearful": "fearful", "03Happy": "happy", "04Sad": "sad", "05Angry": "angry"}
CATEGORIES = {"neutral": "neutral", "fearful": "fear", "happy": "happiness", "sad": "sadness", "angry": "anger"}
SPEAKERS = tuple(f"{speaker:02d}" for speaker in range(1, 66))
_FILE = re.compile(r"^([nfhsa])([1-5])-(\d\d)-(\d\d)-(\d\d)-(\d\d)$", re.IGNORECASE)


def list_items(source: Path, options: Dict[str, Any]) -> list:
    utterances: List[Utterance] = []
    for folder, emotion in FOLDERS.items():
        for path in sorted((source / folder).glob("*.wav")):
            match = _FILE.match(path.stem)
            if match is None or match.group(1).lower() != emotion[0]:
                raise InputFileError(path, f"not an ASED file name of folder {folder} "
                                           f"('{emotion[0]}N-sentence-repetition-gender-speaker.wav')")
            utterances.append(Utterance(
                name=path.stem, audio=str(path), speaker=match.group(6), category=CATEGORIES[emotion],
                details={"emotion": emotion, "sentence": match.group(3)},
            ))
    return partition_utterances("ased", "ased", utterances, options, source)


LAYOUT = Layout(
    name="ased",
    summary="ASED v1: 01Neutral/ ... 05Angry/",
    list_items=list_items,
    build=build_utterances,
    label_names=LABEL_NAMES,
    options=speaker_options(devel=("61", "62"), test=("58", "65")),
    derived_targets=True,
    categories=CATEGORIES,
    speakers=SPEAKERS,
    notes=derived_targets_note,
)
