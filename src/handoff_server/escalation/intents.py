"""Operator intents: which category's example phrases does a message resemble most?

Each message is compared with every example by cosine similarity (0–1) of TF-IDF
features (word 1–2-grams, character 2–5-grams; see :mod:`.vectors`). The vectorizer is
fitted on the examples together with a background of ordinary support questions, so
words every question shares ("how", "my") weigh little.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handoff_server.escalation.human import NEGATIVE_EXAMPLES, POSITIVE_EXAMPLES
from handoff_server.escalation.policy import IntentCategory
from handoff_server.escalation.vectors import TfidfFeatures

__all__ = ["IntentMatch", "IntentMatcher"]


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """The best category for a message: its ``category``, the ``similarity`` (0–1) to its
    closest ``example``, and whether that reaches the category's ``min_similarity``."""

    category: IntentCategory
    similarity: float
    example: str
    matched: bool


class IntentMatcher:
    """Precompiled matcher for a list of :class:`IntentCategory` (built once per policy)."""

    def __init__(self, categories: list[IntentCategory]) -> None:
        self._examples: list[tuple[IntentCategory, str]] = [
            (c, ex) for c in categories for ex in c.examples
        ]
        self._features = TfidfFeatures()
        if self._examples:
            texts = [ex for _, ex in self._examples]
            matrix = self._features.fit_transform([*texts, *NEGATIVE_EXAMPLES, *POSITIVE_EXAMPLES])
            self._matrix = matrix[: len(texts)].toarray()

    def best(self, text: str) -> IntentMatch | None:
        """The closest category, matched or not; ``None`` without categories or when the
        message shares no feature with any example."""
        if not self._examples:
            return None
        idx, val = self._features.vector(text)
        if idx.size == 0:
            return None
        sims = self._matrix[:, idx] @ val
        best_score = -1.0
        best: IntentMatch | None = None
        # The best *matched* category wins over a closer unmatched one with a stricter bar.
        for i in np.argsort(-sims):
            category, example = self._examples[i]
            sim = float(sims[i])
            matched = sim >= category.min_similarity
            if matched:
                return IntentMatch(category, sim, example, True)
            if sim > best_score:
                best_score, best = sim, IntentMatch(category, sim, example, False)
        return best
