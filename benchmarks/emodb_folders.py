"""The converted EmoDB folders the EmoDB benchmarks read (accuracy_emodb, paper_tables_emodb).

  converted/emodb      sessions of 10 utterances, what `configs/emodb_paralinguistic.yaml` and
                       `configs/paper/` train on (labels change inside a sequence, as in continuous
                       corpora);
  converted/emodb_utt  one recording per utterance, what the eGeMAPS baseline reads (one
                       functionals vector and one target per recording).

Both hold the same speakers in the same partitions (train 03 08 09 10 12 13 / devel 11 14 / test
15 16), written with the README's convert commands; a folder already converted with the same
options is reused.
"""
from __future__ import annotations

from pathlib import Path

from benchmarks.baseline_egemaps import DEFAULT_DATA

SOURCE = Path("../shared/data/emodb")
SESSION_DATA = Path("converted/emodb")
UTTERANCE_DATA = DEFAULT_DATA
SESSIONS = 10


def convert_folders(source: Path = SOURCE) -> None:
    """The README's two convert commands (each reused when already converted with the same options)."""
    from tfrecords_tools import convert_dataset
    from tfrecords_tools.layouts.emodb import DEFAULT_SPEAKERS

    speakers = {f"{p}_speakers": DEFAULT_SPEAKERS[p] for p in ("train", "devel", "test")}
    convert_dataset("emodb", source, SESSION_DATA, sessions=SESSIONS, progress=False, **speakers)
    convert_dataset("emodb", source, UTTERANCE_DATA, progress=False, **speakers)
