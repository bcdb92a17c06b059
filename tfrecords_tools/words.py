"""Word timings from sentence-level transcripts (word-level rows go through
`emorec.data.words.words_from_timings`, which the semantic branch shares).

Sentence-level transcripts (SEWA) become word timings by one of:
- `given`: a word-timing file next to the transcript (rows `start;end;word`);
- `proportional` (default, no dependency): each sentence's span is split among its tokens in
  proportion to their length in characters (a tag such as `<laughter>` counts its name);
- `pocketsphinx`: forced alignment of the known text to the audio (English, the `align` extra).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from emorec.data.words import Word, split_span
from emorec.errors import EmorecError
from emorec.text import tokenize

WORD_TIMING_MODES = ("auto", "given", "proportional", "pocketsphinx")


def require_pocketsphinx():
    """Import pocketsphinx or raise a one-line error saying how to install it."""
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        raise EmorecError(
            "word timing 'pocketsphinx' needs the pocketsphinx package: pip install 'emorec[align]'"
        ) from None
    return pocketsphinx


def pocketsphinx_words(audio_16k: np.ndarray, sentences: Sequence[Tuple[float, float, str]]) -> List[Word]:
    """Force-align each sentence's tokens inside its span with pocketsphinx (its US English model).

    audio_16k: float32 `[samples]` at 16 kHz (the acoustic model's rate). A sentence the aligner
    cannot place (a word missing from its dictionary, no speech found) falls back to the
    proportional split, so every token keeps a time. Tags (`<laughter>`) are not aligned: each
    takes the gap up to the next aligned word (zero length when there is none).
    """
    ps = require_pocketsphinx()
    decoder = ps.Decoder(samprate=16000, loglevel="FATAL")
    frame_s = 0.01  # pocketsphinx segments are counted in 10 ms frames
    words: List[Word] = []
    for start_s, end_s, text in sentences:
        tokens = tokenize(text)
        spoken = [t for t in tokens if not t.startswith("<")]
        if not spoken:
            words.extend(split_span(tokens, start_s, end_s))
            continue
        segment = audio_16k[int(start_s * 16000) : int(np.ceil(end_s * 16000))]
        pcm = (np.clip(segment, -1, 1) * 32767).astype("<i2").tobytes()
        try:
            decoder.set_align_text(" ".join(spoken))
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            placed = [
                (start_s + s.start_frame * frame_s, start_s + (s.end_frame + 1) * frame_s)
                for s in (decoder.seg() or [])  # None when no alignment was found
                if s.word.split("(")[0] not in ("<s>", "</s>", "<sil>", "[noise]")
            ]
        except RuntimeError:  # a word is not in the dictionary: keep the proportional split
            placed = []
        if len(placed) != len(spoken):
            words.extend(split_span(tokens, start_s, end_s))
            continue
        queue = list(placed)
        for index, token in enumerate(tokens):
            if token.startswith("<"):
                begin = words[-1].end_s if words and words[-1].end_s >= start_s else start_s
                end = queue[0][0] if queue else begin
                words.append(Word(token, begin, max(begin, end)))
            else:
                begin, end = queue.pop(0)
                words.append(Word(token, begin, min(end, end_s)))
    return words
