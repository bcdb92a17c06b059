"""The one tokenizer shared by the converter, Word2Vec, Speech2Vec and the text features.

Lower case, punctuation stripped, letters of any alphabet kept (umlauts and ß included), digits
kept, apostrophes inside words kept ("don't"). Non-verbal tags such as `<laughter>` are mapped
explicitly through `TAG_MAP`: to a token of their own, or dropped (None). An unknown tag becomes
`UNKNOWN_TAG_TOKEN` so that it is never silently read as a word.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Dict, List, Optional

UNKNOWN_TAG_TOKEN = "<tag>"

#: SEWA / AVEC transcription tags and the token each becomes (None: dropped, takes no time slot).
TAG_MAP: Dict[str, Optional[str]] = {
    "<laughter>": "<laughter>",
    "<laugh>": "<laughter>",
    "<breathing>": None,
    "<breath>": None,
    "<noise>": None,
    "<silence>": None,
    "<sigh>": "<sigh>",
    "<cough>": None,
    "<hesitation>": "<hesitation>",
    "<unintelligible>": "<unk>",
}

_TAG = re.compile(r"<[^<>]*>")
# A word: a run of letters/digits, with inner apostrophes or hyphens joining parts.
_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*", re.UNICODE)


def _map_tag(tag: str) -> Optional[str]:
    key = tag.strip().lower().replace(" ", "")
    return TAG_MAP.get(key, UNKNOWN_TAG_TOKEN)


def normalise_word(word: str) -> str:
    """One word as the vocabularies store it: NFC, lower case, apostrophes unified."""
    word = unicodedata.normalize("NFC", word).lower().replace("’", "'")
    return word


def tokenize(text: str) -> List[str]:
    """Split a transcript into tokens, in order.

    >>> tokenize("Der Lappen liegt auf dem Eisschrank. <laughter> Straße!")
    ['der', 'lappen', 'liegt', 'auf', 'dem', 'eisschrank', '<laughter>', 'straße']
    """
    tokens: List[str] = []
    position = 0
    for match in _TAG.finditer(text):
        tokens.extend(normalise_word(w) for w in _WORD.findall(text[position : match.start()]))
        mapped = _map_tag(match.group(0))
        if mapped is not None:
            tokens.append(mapped)
        position = match.end()
    tokens.extend(normalise_word(w) for w in _WORD.findall(text[position:]))
    return tokens


def layer_safe_name(name: str) -> str:
    """A name usable in Keras layer and metric names: every character outside ASCII letters,
    digits and underscore becomes `_`. ASCII only (not `\\W`, which keeps umlauts): layer names
    end up in graph name scopes (tf.function, SavedModel), which accept ASCII only."""
    return re.sub(r"[^0-9A-Za-z_]", "_", name)
