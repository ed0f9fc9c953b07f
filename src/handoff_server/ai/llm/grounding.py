"""Is the generated answer grounded in the entries it cites? Read from the text alone.

- **Citations** (:func:`citations`): every ``[entry-id]`` in the answer. The placeholders
  redaction writes (``[email]``, ``[phone]``, ``[card]``) are not citations.
- **Certainty claims** (:func:`drop_certainty_claims`): sentences in which the model
  states its own certainty ("I am 100% sure", "confidence: 0.99") are removed from the
  answer before anything is measured or shown: they are not content, and what the model
  says about itself must neither raise nor lower the confidence.
- **Sentence support** (:func:`sentence_support`): for each sentence, the share of its
  content words (stemmed, English stop words left out) found in the entries it cites
  (the entries cited anywhere in the answer when the sentence cites none). A number in
  the sentence that none of those entries contains makes its support 0: an invented
  price, limit or duration is the costliest kind of wrong. This is lexical overlap, a
  cheap stand-in for an entailment model (as ROUGE-style precision against the sources):
  a faithful paraphrase with new words scores lower than a copy, and a negation flipped
  with the same words scores as supported; both limits are stated in ``docs/ai.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from handoff_server.language.text import sentences, stem

__all__ = [
    "Support",
    "citations",
    "content_keys",
    "drop_certainty_claims",
    "sentence_support",
    "strip_citations",
]

_CITATION = re.compile(r"\[([A-Za-z0-9][A-Za-z0-9_.:-]*)\]")
_PLACEHOLDERS = frozenset({"email", "phone", "card"})
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\d+(?:[.,:]\d+)*")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_CERTAINTY = re.compile(
    r"\b(?:i\s*(?:am|'m|’m)|we\s*(?:are|'re|’re)|this\s+(?:answer\s+)?is)\s+"
    r"(?:\d{1,3}(?:\.\d+)?\s*(?:%|percent)\s*|absolutely\s+|completely\s+|totally\s+|"
    r"fully\s+|very\s+|highly\s+|quite\s+|extremely\s+)*(?:sure|certain|confident)\b"
    r"|\bconfidence(?:\s+(?:score|level))?\s*(?:is|of|:|=)\s*\d"
    r"|\b\d{1,3}(?:\.\d+)?\s*(?:%|percent)\s+(?:sure|certain|confident)\b",
    re.IGNORECASE,
)
SUPPORTED = 0.6
"""Support (0–1) from which a sentence counts as supported."""


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(stem(w) for w in ENGLISH_STOP_WORDS)


def citations(text: str) -> list[str]:
    """The entry ids cited in ``text``, in order of first citation, each once."""
    seen: dict[str, None] = {}
    for m in _CITATION.finditer(text):
        if m.group(1).lower() not in _PLACEHOLDERS:
            seen.setdefault(m.group(1), None)
    return list(seen)


def strip_citations(text: str) -> str:
    """``text`` without its citation markers (placeholders kept)."""
    out = _CITATION.sub(lambda m: m.group() if m.group(1).lower() in _PLACEHOLDERS else "", text)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", out)).strip()


_SENTENCE = re.compile(
    r"(?:[^.!?\n]|[.!?]+(?![\s\[]|$))*(?:[.!?]+(?:\s*\[[^\]\s]+\])*(?=\s|$)|\n|$)"
)
"""A sentence: up to ``.``, ``!`` or ``?`` followed by a space or the end (so "1.0" and
"example.com" stay whole), with the citations written after it; or up to a line break."""


def drop_certainty_claims(text: str) -> tuple[str, list[tuple[int, int]]]:
    """``text`` without the sentences that state the writer's own certainty, and the
    ``(start, end)`` character spans of ``text`` that were dropped. Sentences end after
    ``.``, ``!`` or ``?`` (and the citations that follow) and at line breaks."""
    kept: list[str] = []
    dropped: list[tuple[int, int]] = []
    for m in _SENTENCE.finditer(text):
        if not m.group().strip():
            continue
        if _CERTAINTY.search(m.group()):
            dropped.append(m.span())
        else:
            kept.append(m.group().strip())
    return " ".join(kept), dropped


def content_keys(text: str) -> set[str]:
    """The stemmed content words and the numbers of ``text``."""
    stops = _stop_words()
    keys = {stem(w) for w in _WORD.findall(text) if not w[0].isdigit()}
    return {k for k in keys if k not in stops and len(k) > 1} | set(_NUMBER.findall(text))


@dataclass(frozen=True)
class Support:
    """Per-sentence support of an answer: ``scores`` (0–1, one per sentence, in order),
    ``sentences`` (the answer's sentences without citation markers)."""

    scores: list[float]
    sentences: list[str]

    @property
    def minimum(self) -> float:
        """The weakest sentence's support (0 when the answer has no sentence)."""
        return min(self.scores, default=0.0)

    @property
    def share_supported(self) -> float:
        """Share of sentences with support ≥ :data:`SUPPORTED` (0 with no sentence)."""
        return sum(s >= SUPPORTED for s in self.scores) / len(self.scores) if self.scores else 0.0


def sentence_support(answer: str, sources: Mapping[str, str]) -> Support:
    """The support of each sentence of ``answer`` by ``sources`` (entry id → the entry's
    plain text, title included), reading the citations of each sentence."""
    cited_all = [c for c in citations(answer) if c in sources]
    scores: list[float] = []
    texts: list[str] = []
    for sent in _answer_sentences(answer):
        own = [c for c in citations(sent) if c in sources] or cited_all
        plain = strip_citations(sent)
        keys = content_keys(plain)
        if not keys:
            continue
        basis: set[str] = set()
        for c in own:
            basis |= _source_keys(sources[c])
        numbers = set(_NUMBER.findall(plain))
        invented = any(n not in basis for n in numbers)
        scores.append(0.0 if invented else len(keys & basis) / len(keys))
        texts.append(plain)
    return Support(scores=scores, sentences=texts)


def _citations_first(text: str) -> str:
    # A citation written after the full stop belongs to the sentence before it.
    return re.sub(r"([.!?])((?:\s*\[[^\]\s]+\])+)(?=\s|$)", r"\2\1", text)


def _answer_sentences(answer: str) -> Sequence[str]:
    return sentences(_citations_first(answer))


@lru_cache(maxsize=256)
def _source_keys(text: str) -> frozenset[str]:
    return frozenset(content_keys(text))
