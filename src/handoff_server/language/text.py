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
from collections.abc import Callable
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
    "ORDINARY_QUESTIONS",
    "PhraseMatch",
    "PhraseMatcher",
    "Token",
    "is_negated",
    "mark_negation",
    "negation_mask",
    "sentences",
    "stem",
    "tokenize",
]

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
    return list(_tokenize(text))


@lru_cache(maxsize=4096)
def _tokenize(text: str) -> tuple[Token, ...]:
    # Cached: a sentence is read by the human-request, intent and sentiment triggers.
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
    return tuple(tokens)


SCOPE_ENDERS = frozenset(
    stem(w)
    for w in (
        "and",
        "but",
        "so",
        "because",
        "since",
        "just",
        "only",
        "instead",
        "rather",
        "then",
        "while",
        "although",
        "though",
        "however",
        "yet",
        "unless",
        "if",
        "when",
        # A first-person subject starts a new clause: "if this isn't fixed today I'm
        # disputing the charge".
        "i",
        "i'm",
        "i've",
        "i'll",
        "i'd",
        "we",
        "we've",
    )
)
"""Words that end a negation's scope inside a clause: in "I haven't had my refund and you
charged me twice" the charge is not negated, nor the email in "I don't want to cancel my
account just update my email"."""


def negation_mask(
    tokens: list[Token],
    window: int = NEGATION_WINDOW,
    cues: Callable[[list[Token], int], bool] | None = None,
) -> list[bool]:
    """For each token, whether it lies in a negation's scope: up to ``window`` tokens after a
    negation cue, in the same clause, before any of :data:`SCOPE_ENDERS`. A cue followed by
    "way", "sure", "only"... ("there is no way to cancel") negates nothing. ``cues(tokens,
    j)`` says whether ``tokens[j]`` is a cue (default: its key is in
    :data:`NEGATION_CUES`)."""
    mask = [False] * len(tokens)
    for j, tok in enumerate(tokens):
        if not (cues(tokens, j) if cues is not None else tok.key in NEGATION_CUES):
            continue
        if j + 1 < len(tokens) and tokens[j + 1].key in _NOT_NEGATING_NEXT:
            continue
        for i in range(j + 1, min(len(tokens), j + 1 + window)):
            if tokens[i].clause != tok.clause or tokens[i].key in SCOPE_ENDERS:
                break
            mask[i] = True
    return mask


def is_negated(tokens: list[Token], index: int, window: int = NEGATION_WINDOW) -> bool:
    """True when a negation cue precedes ``tokens[index]`` within ``window`` tokens of the
    same clause, with no scope-ending word between ("I don't want to cancel my account";
    see :func:`negation_mask`)."""
    clause = tokens[index].clause
    for j in range(index - 1, max(-1, index - 1 - window), -1):
        if tokens[j].clause != clause or tokens[j].key in SCOPE_ENDERS:
            return False
        if tokens[j].key in NEGATION_CUES and tokens[j + 1].key not in _NOT_NEGATING_NEXT:
            return True
    return False


MARK_WINDOW = 3
"""Tokens after a negation cue that :func:`mark_negation` marks."""


@lru_cache(maxsize=8192)
def mark_negation(text: str) -> str:
    """``text`` lowercased, except the words in a negation's scope, which are uppercased.

    The classifiers (:mod:`.vectors`) are case-sensitive on this form, so "cancel" in "I
    don't want to CANCEL" shares no feature with "cancel" in "cancel my account", while
    an example that states its topic through a negation ("a charge I did not AUTHORISE")
    still teaches the negated form (negation marking after Das & Chen 2001 and Pang, Lee &
    Vaithyanathan 2002, "Thumbs up?", EMNLP, who prefix such words with ``NOT_``).
    """
    tokens = tokenize(text)
    mask = negation_mask(tokens, MARK_WINDOW)
    parts: list[str] = []
    pos = 0
    for tok, negated in zip(tokens, mask, strict=True):
        word = text[tok.start : tok.end]
        parts.append(text[pos : tok.start].lower())
        parts.append(word.upper() if negated else word.lower())
        pos = tok.end
    parts.append(text[pos:].lower())
    return "".join(parts)


READ_CHARS = 4000
"""Characters of a message the classifiers read, sentence by sentence: the whole of any
message within the default 4,000-character limit (``max_message_chars``); of a longer one
(an operator raised the limit), the first and last half of this."""

SENTENCE_CHARS = 300
"""A sentence longer than this (a run-on message, a pasted log line) is read in windows of
this many characters, each overlapping the next by half, so a request in its middle is
seen whole."""

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n\s*")


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (at most :data:`READ_CHARS` characters of it), in order,
    stripped, empty ones dropped; a sentence over :data:`SENTENCE_CHARS` comes as
    overlapping windows cut at spaces."""
    if len(text) > READ_CHARS:
        half = READ_CHARS // 2
        text = text[:half] + "\n" + text[-half:]
    out: list[str] = []
    for part in _SENTENCE_END.split(text):
        part = part.strip()
        if not part:
            continue
        if len(part) <= SENTENCE_CHARS:
            out.append(part)
            continue
        step = SENTENCE_CHARS // 2
        for start in range(0, len(part) - step, step):
            window = part[start : start + SENTENCE_CHARS]
            # Cut at spaces so no window starts or ends inside a word.
            if start:
                window = window[window.find(" ") + 1 :] if " " in window else window
            if start + SENTENCE_CHARS < len(part) and " " in window:
                window = window[: window.rfind(" ")]
            out.append(window.strip())
    return out


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
    written, whether a negation cue precedes it (``negated``), and where ``text`` is in the
    message (``start``/``end`` character offsets)."""

    phrase: str
    text: str
    negated: bool
    start: int = 0
    end: int = 0


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
                    stop = tokens[end].end
                    found.append(
                        PhraseMatch(
                            phrase, text[tok.start : stop], is_negated(tokens, i), tok.start, stop
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
