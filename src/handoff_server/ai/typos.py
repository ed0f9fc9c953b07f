"""Typo correction against the KB's own words.

A visitor's "how do I foward my buisness emial" shares few n-grams with the KB's
"forward", "business" and "email", and a misspelt word also counts as a word the KB never
uses (a calibration feature that lowers confidence). :class:`TypoCorrector` replaces a
word the KB never uses by the KB word one edit away (a deletion, insertion, substitution
or swap of two neighbours: Damerau 1964, "A technique for computer detection and
correction of spelling errors", CACM 7(3)), choosing the most frequent when several are,
as Norvig's corrector does ("How to Write a Spelling Corrector", norvig.com/spell-correct).

Only words of :data:`MIN_LENGTH` letters or more are touched (short words have too many
neighbours), and only towards words the KB itself uses, so an off-topic word stays what
it is unless it is one letter away from a KB word.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

__all__ = ["MIN_LENGTH", "TypoCorrector"]

MIN_LENGTH = 4
"""Shortest word (letters) that is corrected."""

_WORD = re.compile(r"[A-Za-z]+")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _edits(word: str) -> set[str]:
    """Every string one deletion, swap, substitution or insertion away from ``word``."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    inserts = {a + c + b for a, b in splits for c in _LETTERS}
    return deletes | swaps | replaces | inserts


class TypoCorrector:
    """Corrects words against ``counts`` (word → how often the KB uses it, lower case).

    Picklable; ``correct`` is pure and thread-safe.
    """

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    @classmethod
    def of(cls, texts: Iterable[str]) -> TypoCorrector:
        """A corrector for the words of ``texts`` (the KB's questions, titles, answers)."""
        return cls(dict(Counter(w.lower() for t in texts for w in _WORD.findall(t))))

    def word(self, word: str) -> str:
        """``word`` itself when the KB uses it or it is short, else the most frequent KB
        word one edit away (lower case), else ``word``."""
        low = word.lower()
        if len(low) < MIN_LENGTH or low in self.counts:
            return word
        known = [w for w in _edits(low) if w in self.counts]
        if not known:
            return word
        return max(known, key=lambda w: (self.counts[w], w))

    def correct(self, text: str) -> str:
        """``text`` with each misspelt word replaced (see :meth:`word`); the rest of the
        text, spacing and punctuation included, unchanged."""
        if not self.counts:
            return text
        return _WORD.sub(lambda m: self.word(m.group(0)), text)
