"""Output protocols of evaluation: how a model's frame predictions become the outputs scored.

Two choices, both named in `scores.json` and in the evaluation folder's name, because each
changes what a figure can be compared with:

- `pool`: `frame` scores each frame's prediction (continuous emotion, as AVEC does); `recording`
  gives every frame its recording's mean prediction. For corpora labelled per recording (EmoDB's
  acted utterances, converted one utterance per recording) this is one prediction per utterance,
  the output an utterance-level system such as the eGeMAPS functionals baseline gives, so the
  two are scored on the same frames with the same granularity.
- `output_statistics`: `speaker` standardises each speaker's outputs over all of their
  recordings in the scored partition and maps them onto the training targets' mean and sd. It
  reads the unlabelled outputs of every recording of a test speaker before scoring any (speaker
  statistics, transductive, as per-speaker feature standardisation is); no label of the scored
  partition is read. Speakers differ in how their voice moves the model's outputs; the targets'
  spread within a speaker does not.

Inputs are lists over recordings of `[frames, dims]` predictions, in the same order as `speakers`.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

POOLS = ("frame", "recording")
OUTPUT_STATISTICS = ("none", "speaker")
#: Below this sd a speaker's outputs count as constant (targets are O(1)).
CONSTANT_SD = 1e-9


def pool_recordings(predictions: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Each recording's frames replaced by the recording's mean prediction (all of its frames:
    prediction needs no label mask)."""
    return [np.broadcast_to(np.asarray(p, np.float64).mean(axis=0), np.shape(p)).copy() for p in predictions]


def standardise_per_speaker(predictions: Sequence[np.ndarray], speakers: Sequence[str], target_mean: np.ndarray,
                            target_sd: np.ndarray) -> List[np.ndarray]:
    """Each speaker's outputs z-scored per dimension over all of that speaker's frames, then scaled
    to `target_sd` and shifted to `target_mean` (`[dims]` each). A dimension a speaker's outputs do
    not move along (sd below CONSTANT_SD, e.g. one pooled recording) is only centred: there is no
    spread to rescale."""
    if len(predictions) != len(speakers):
        raise ValueError(f"{len(predictions)} recordings but {len(speakers)} speaker ids")
    arrays = [np.asarray(p, np.float64) for p in predictions]
    by_speaker: Dict[str, List[int]] = {}
    for index, speaker in enumerate(speakers):
        by_speaker.setdefault(speaker, []).append(index)
    out: List[np.ndarray] = [np.empty(0)] * len(arrays)
    for indices in by_speaker.values():
        frames = np.concatenate([arrays[i] for i in indices])
        mean, sd = frames.mean(axis=0), frames.std(axis=0)
        # Rounding leaves an sd of ~1e-17 on equal values (one pooled recording): not a spread.
        moves = sd > CONSTANT_SD
        sd = np.where(moves, sd, 1.0)
        scale = np.where(moves, np.asarray(target_sd, np.float64), 1.0)
        for i in indices:
            out[i] = (arrays[i] - mean) / sd * scale + np.asarray(target_mean, np.float64)
    return out


def output_protocol_name(pool: str, output_statistics: str) -> str:
    """'' for the plain protocol, else the suffix of the evaluation folder and predictions folder
    (`recording-mean`, `speaker-outputs`, `recording-mean-speaker-outputs`)."""
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {', '.join(POOLS)}, got {pool!r}")
    if output_statistics not in OUTPUT_STATISTICS:
        raise ValueError(f"output_statistics must be one of {', '.join(OUTPUT_STATISTICS)}, got {output_statistics!r}")
    parts = (["recording-mean"] if pool == "recording" else []) + \
            (["speaker-outputs"] if output_statistics == "speaker" else [])
    return "-".join(parts)
