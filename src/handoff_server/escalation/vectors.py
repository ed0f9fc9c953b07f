"""TF-IDF features for short messages, fitted with scikit-learn, applied per turn in ~50 µs.

Texts are read through :func:`~handoff_server.language.text.mark_negation` (lowercase,
words in a negation's scope uppercase, and the n-grams case-sensitive), so a negated topic
does not look like the topic itself. Words are Snowball stems (``NOT_`` + the stem for a
negated word), so "filing a chargeback" shares its words with "I will file a chargeback".

``TfidfVectorizer.transform`` costs about a millisecond per call in input validation and
sparse-matrix assembly; :meth:`TfidfFeatures.vector` computes the same values (sublinear
tf × idf, l2-normalised per block) straight from the fitted vocabulary, and a test checks
it against scikit-learn.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from handoff_server.language.text import mark_negation, stem

__all__ = ["TfidfFeatures"]


_WORD = re.compile(r"(?u)\b\w\w+\b")
_STOP_STEMS = frozenset(stem(w) for w in ENGLISH_STOP_WORDS)


def _stems(marked: str) -> list[str]:
    """Word stems of a :func:`mark_negation` text; a negated (uppercase) word as ``NOT_``
    + its stem."""
    return [("NOT_" if w.isupper() else "") + stem(w) for w in _WORD.findall(marked)]


def _vectorizers() -> list[TfidfVectorizer]:
    common = {"sublinear_tf": True, "preprocessor": mark_negation, "lowercase": False}
    return [
        TfidfVectorizer(ngram_range=(1, 2), tokenizer=_stems, token_pattern=None, **common),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), **common),
    ]


_ANALYZERS = [vec.build_analyzer() for vec in _vectorizers()]


@lru_cache(maxsize=4096)
def _counts(text: str) -> tuple[Counter[str], ...]:
    """Every n-gram of ``text`` with its count, per block. Every :class:`TfidfFeatures`
    uses the same analyzers, so the human-request and intent classifiers share this work
    for each sentence."""
    return tuple(Counter(analyzer(text)) for analyzer in _ANALYZERS)


class TfidfFeatures:
    """Word-stem 1–2-grams and character 2–5-grams (within word boundaries), each block
    l2-normalised, then scaled by 1/√2 so a vector with both blocks has norm 1. The word
    block's columns come first (see :meth:`knows_a_word`)."""

    def __init__(self) -> None:
        self._vecs = _vectorizers()
        self._tables: list[tuple[dict[str, int], np.ndarray, int]] = []
        self._content: frozenset[int] = frozenset()
        self.n_features = 0

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Fit on ``texts``; return their features (rows, ``n_features`` columns)."""
        blocks = []
        offset = 0
        for vec in self._vecs:
            blocks.append(vec.fit_transform(texts))
            self._tables.append((vec.vocabulary_, vec.idf_, offset))
            offset += len(vec.vocabulary_)
        self.n_features = offset
        self._content = frozenset(
            col
            for term, col in self._vecs[0].vocabulary_.items()
            if " " not in term and term.removeprefix("NOT_") not in _STOP_STEMS
        )
        return (sp.hstack(blocks).tocsr() / math.sqrt(len(blocks))).tocsr()

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Features of one text as ``(column indices, values)``; empty arrays when no
        n-gram is known."""
        idx: list[np.ndarray] = []
        val: list[np.ndarray] = []
        for (vocab, idf, offset), grams in zip(self._tables, _counts(text), strict=True):
            known = [(vocab[g], c) for g, c in grams.items() if g in vocab]
            if not known:
                continue
            cols, counts = np.array(known, dtype=np.intp).T
            weights = (1.0 + np.log(counts)) * idf[cols]
            idx.append(cols + offset)
            val.append(weights / (np.linalg.norm(weights) * math.sqrt(len(self._tables))))
        if not idx:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float64)
        return np.concatenate(idx), np.concatenate(val)

    def knows_a_word(self, idx: np.ndarray) -> bool:
        """Whether features ``idx`` (from :meth:`vector`) include a whole word seen in
        training. Without one, only character n-grams matched: "a", "aaa", a keyboard mash
        carry no evidence, and the classifier's answer is only its prior."""
        words = len(self._tables[0][0]) if self._tables else 0
        return bool(idx.size) and int(idx.min()) < words

    def content_words(self, idx: np.ndarray) -> frozenset[int]:
        """The columns among ``idx`` that are single words other than stop words
        ("charg", "hack", "NOT_cancel"; not "our", "the"): what a match must share with a
        class's examples to rest on more than function words."""
        return self._content.intersection(idx.tolist())
