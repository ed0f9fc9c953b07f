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


def _deletes(word: str) -> set[str]:
    """``word`` and every string one deletion away from it."""
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}


def _one_edit(a: str, b: str) -> bool:
    """``b`` is one deletion, swap of two neighbours, substitution or insertion away from
    ``a`` (both lower-case letters, ``a != b``)."""
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diff) != 2:
            return len(diff) == 1
        i, j = diff
        return j == i + 1 and a[i] == b[j] and a[j] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    if len(long) - len(short) != 1:
        return False
    i = next((k for k, (x, y) in enumerate(zip(short, long, strict=False)) if x != y), len(short))
    return short[i:] == long[i + 1 :]


def _deletion_index(counts: dict[str, int]) -> dict[str, list[str]]:
    """Each string → the words of ``counts`` (long enough to be one edit from a word
    :meth:`TypoCorrector.word` corrects) that are it or one deletion away from it."""
    near: dict[str, list[str]] = {}
    for w in counts:
        if len(w) >= MIN_LENGTH - 1:
            for key in _deletes(w):
                near.setdefault(key, []).append(w)
    return near


class TypoCorrector:
    """Corrects words against ``counts`` (word → how often the KB uses it, lower case).

    Picklable (``counts`` alone); ``correct`` is pure and thread-safe.

    The KB words one edit away from a word are found through a deletion index
    (SymSpell's, Garbe 2012): two words one edit apart share the one or the other, or a
    string one deletion away from both, so only the few KB words filed under the word's
    own deletions are checked, not the ~54 × length strings one edit away.
    """

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts
        self._near = _deletion_index(counts)

    def __getstate__(self) -> dict[str, dict[str, int]]:
        return {"counts": self.counts}

    def __setstate__(self, state: dict[str, dict[str, int]]) -> None:
        self.counts = state["counts"]
        self._near = _deletion_index(self.counts)

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
        near = self._near
        found = {w for key in _deletes(low) for w in near.get(key, ())}
        known = [w for w in found if _one_edit(low, w)]
        if not known:
            return word
        return max(known, key=lambda w: (self.counts[w], w))

    def correct(self, text: str) -> str:
        """``text`` with each misspelt word replaced (see :meth:`word`); the rest of the
        text, spacing and punctuation included, unchanged."""
        if not self.counts:
            return text
        return _WORD.sub(lambda m: self.word(m.group(0)), text)
