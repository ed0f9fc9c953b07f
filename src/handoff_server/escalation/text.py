"""Words, stems, clauses and negation: the text handling every matcher shares.

A message is split into word tokens that keep their position in the original text (so a
match can quote exactly what the visitor wrote). Each token carries a *key*: casefolded,
apostrophes dropped ("Don't" → "dont"), reduced to its stem by the Snowball English
(Porter 2) stemmer (https://snowballstem.org/algorithms/english/stemmer.html), so
"Cancelled", "canceling" and "cancel" share the key "cancel".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import snowballstemmer

ORDINARY_QUESTIONS: tuple[str, ...] = (
    "how do I reset my password",
    "my website is down",
    "how long does DNS propagation take",
    "how do I set up email forwarding",
    "can I change my domain name",
    "what are your prices",
    "do you offer SSL certificates",
    "how do I renew my certificate",
    "my email is not working",
    "how do I migrate my site to your servers",
    "where can I download my invoice",
)
"""Everyday hosting-support questions: the "nothing special" background the human-request
and intent classifiers learn to tell apart from what they look for."""


__all__ = [
    "ORDINARY_QUESTIONS","Token", "PhraseMatcher", "PhraseMatch", "tokenize", "stem", "is_negated"]

# One pass finds words and the punctuation that ends a clause.
_WORD_OR_BREAK = re.compile(r"(\w+(?:['’]\w+)*)|[.,;:!?…()\[\]\n]")
_CLAUSE_WORDS = frozenset({"but", "however", "though", "although", "yet"})

# "can't"/"cannot"/"unable" are left out on purpose: "I can't cancel my account" is a
# problem to escalate, not a negated wish.
NEGATION_CUES = frozenset(
    {
        "no",
        "not",
        "never",
        "nor",
        "neither",
        "without",
        "dont",
        "doesnt",
        "didnt",
        "wont",
        "wouldnt",
        "isnt",
        "wasnt",
        "arent",
        "werent",
        "shouldnt",
        "havent",
        "hasnt",
        "hadnt",
        "aint",
        "nothing",
    }
)
# A cue followed by one of these describes a problem rather than negating the phrase:
# "there is no way to cancel my account".
_NOT_NEGATING_NEXT = frozenset(
    {"way", "option", "button", "link", "idea", "sure", "only", "matter"}
)
NEGATION_WINDOW = 4
"""Tokens before a match in which a negation cue negates it."""

_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The matching key of one word: casefolded, apostrophes dropped, Snowball-stemmed."""
    folded = unicodedata.normalize("NFKC", word).casefold().replace("'", "").replace("’", "")
    return _stemmer.stemWord(folded)


class Token(NamedTuple):
    """One word of a message: ``key`` (see :func:`stem`), ``start``/``end`` character
    offsets in the original text, ``clause`` index (clauses split at punctuation and "but")."""

    key: str
    start: int
    end: int
    clause: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into :class:`Token` s, in order."""
    tokens: list[Token] = []
    clause = 0
    broken = False
    for m in _WORD_OR_BREAK.finditer(text):
        word = m.group(1)
        if word is None:
            broken = True
            continue
        if tokens and (broken or tokens[-1].key in _CLAUSE_WORDS):
            clause += 1
        broken = False
        tokens.append(Token(stem(word), m.start(), m.end(), clause))
    return tokens


def is_negated(tokens: list[Token], index: int, window: int = NEGATION_WINDOW) -> bool:
    """True when a negation cue precedes ``tokens[index]`` within ``window`` tokens of the
    same clause ("I don't want to cancel my account")."""
    clause = tokens[index].clause
    for j in range(index - 1, max(-1, index - 1 - window), -1):
        if tokens[j].clause != clause:
            return False
        if tokens[j].key in NEGATION_CUES:
            nxt = tokens[j + 1].key
            if nxt not in _NOT_NEGATING_NEXT:
                return True
    return False


FILLER_WORDS = frozenset(
    stem(w)
    for w in (
        "my",
        "our",
        "the",
        "a",
        "an",
        "this",
        "that",
        "your",
        "his",
        "her",
        "their",
        "its",
        "me",
        "us",
        "entire",
        "whole",
        "of",
        "some",
        "real",
        "actual",
        "live",
    )
)
"""Words that may sit between a phrase's words ("cancel my account")."""


@dataclass(frozen=True, slots=True)
class PhraseMatch:
    """A phrase found in a message: the operator's ``phrase``, the visitor's ``text`` as
    written, and whether a negation cue precedes it (``negated``)."""

    phrase: str
    text: str
    negated: bool


class PhraseMatcher:
    """Finds whole-word phrases in messages, precompiled once per phrase list.

    ``phrases``: the operator's phrases; ``max_gap``: filler words allowed between two
    phrase words. A phrase never matches inside another word because matching is on whole
    tokens. Raises ``ValueError`` for a phrase without any word.
    """

    def __init__(self, phrases: list[str], max_gap: int = 2) -> None:
        self.max_gap = max_gap
        self._by_first: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for phrase in phrases:
            keys = tuple(t.key for t in tokenize(phrase))
            if not keys:
                raise ValueError(f"phrase without words: {phrase!r}")
            self._by_first.setdefault(keys[0], []).append((phrase, keys))

    def find(self, text: str, tokens: list[Token] | None = None) -> list[PhraseMatch]:
        """Every phrase occurrence in ``text``, in order of position (``tokens``: a
        precomputed :func:`tokenize` of ``text``)."""
        if tokens is None:
            tokens = tokenize(text)
        found: list[PhraseMatch] = []
        for i, tok in enumerate(tokens):
            for phrase, keys in self._by_first.get(tok.key, ()):
                end = self._match_from(tokens, i, keys)
                if end is not None:
                    found.append(
                        PhraseMatch(
                            phrase, text[tok.start : tokens[end].end], is_negated(tokens, i)
                        )
                    )
        return found

    def _match_from(self, tokens: list[Token], i: int, keys: tuple[str, ...]) -> int | None:
        pos = i
        for key in keys[1:]:
            gap = 0
            pos += 1
            while pos < len(tokens) and tokens[pos].key != key:
                if tokens[pos].key not in FILLER_WORDS or gap >= self.max_gap:
                    return None
                gap += 1
                pos += 1
            if pos >= len(tokens):
                return None
        return pos
