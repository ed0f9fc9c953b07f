"""Knowledge gaps: the visitor questions the KB fails, grouped by topic.

A stored AI turn (:class:`~handoff_server.store.AiTurnRow`) is a failed question when it
was a question (not a thanks, not a request for a person) and

- its confidence was below the threshold in force then, or it escalated for going in
  circles (``unresolved_exchanges``), or
- an agent resolved its conversation saying the AI's answer was ``wrong`` (the last
  question before the resolution).

Questions are grouped with the answerer's own representation of text (the vectors it
retrieves with: :meth:`~handoff_server.ai.retrieval.RetrievalAnswerer.vectors`; no other
model): average-linkage clustering on cosine distance, cut at :data:`GAP_DISTANCE`. An
answerer without vectors groups by the KB entry it reached for. Each group says which KB
entry the AI most often reached for (wrongly: the question failed), and groups come
largest first, then newest first.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from handoff_server.protocol_operator import GapGroup
from handoff_server.store import AiTurnRow, StoredEvent

__all__ = ["GAP_DISTANCE", "MAX_QUESTIONS", "failed_questions", "knowledge_gaps"]

GAP_DISTANCE = 0.88
"""Average cosine distance (1 − similarity) at which the clustering stops merging groups.
On the demo KB's TF-IDF vectors, paraphrases of one topic the KB lacks ("do you support
ruby on rails hosting", "can I run a rails app on your servers", "rails hosting") are at
0.47–0.87 from each other, 0.80 on average; questions on unrelated topics ("student
discount") at 0.78–1.0, 0.95 on average.
"""

MAX_QUESTIONS = 2000
"""Newest failed questions grouped at most (the clustering is quadratic in them)."""

EXAMPLES = 5
"""Example questions per group."""

GAP_TRIGGERS = frozenset({"low_confidence", "unresolved_exchanges"})


def failed_questions(rows: Sequence[AiTurnRow], resolved: Sequence[StoredEvent]) -> list[AiTurnRow]:
    """The failed questions among ``rows`` (oldest first), see the module docstring;
    ``resolved``: ``resolved`` events, whose ``ai_verdict`` ``wrong`` marks the last
    question of its conversation before it."""
    asked: dict[str, list[AiTurnRow]] = {}
    for r in rows:
        if r.question:
            asked.setdefault(r.conversation_id, []).append(r)
    wrong: set[tuple[str, int]] = set()
    for ev in resolved:
        if ev.data.get("ai_verdict") != "wrong":
            continue
        before = [r.seq for r in asked.get(ev.conversation_id, ()) if r.seq < ev.seq]
        if before:
            wrong.add((ev.conversation_id, max(before)))
    return [r for r in rows if r.question and (_low(r) or (r.conversation_id, r.seq) in wrong)]


def _low(row: AiTurnRow) -> bool:
    if row.action == "escalate" and row.trigger in GAP_TRIGGERS:
        return True
    return row.confidence is not None and row.confidence < row.threshold


def knowledge_gaps(
    questions: Sequence[AiTurnRow], answerer: Any, titles: dict[str, str], limit: int
) -> list[GapGroup]:
    """Group ``questions`` (failed ones, oldest first) by topic with ``answerer``'s
    vectors; ``titles``: KB entry id → title; at most ``limit`` groups, largest first,
    then newest."""
    rows = list(questions)[-MAX_QUESTIONS:]
    labels = _labels(rows, answerer)
    groups: dict[int, list[AiTurnRow]] = {}
    for row, label in zip(rows, labels, strict=True):
        groups.setdefault(label, []).append(row)
    ordered = sorted(groups.values(), key=lambda g: (len(g), max(r.at for r in g)), reverse=True)
    return [_group(g, titles) for g in ordered[:limit]]


def _labels(rows: list[AiTurnRow], answerer: Any) -> list[int]:
    vectors = getattr(answerer, "vectors", None)
    if vectors is None or len(rows) < 2:
        entries = {e: i for i, e in enumerate(dict.fromkeys(r.entry_id for r in rows))}
        return [entries[r.entry_id] for r in rows]
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    x = vectors([r.text for r in rows])
    sim = x @ x.T
    sim = sim.toarray() if hasattr(sim, "toarray") else np.asarray(sim)
    dist = np.clip(1.0 - sim, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform(dist, checks=False), method="average")
    return [int(label) for label in fcluster(tree, t=GAP_DISTANCE, criterion="distance")]


def _group(rows: list[AiTurnRow], titles: dict[str, str]) -> GapGroup:
    newest_first = sorted(rows, key=lambda r: r.at, reverse=True)
    examples = list(dict.fromkeys(r.text for r in newest_first))[:EXAMPLES]
    reached = Counter(r.entry_id for r in rows if r.entry_id is not None).most_common(1)
    entry = reached[0][0] if reached else None
    key = "\n".join(sorted(f"{r.conversation_id}:{r.seq}" for r in rows))
    return GapGroup(
        id="gap_" + hashlib.sha256(key.encode()).hexdigest()[:12],
        size=len(rows),
        newest=newest_first[0].at,
        examples=examples,
        wrong_entry_id=entry,
        wrong_entry_title=titles.get(entry) if entry is not None else None,
        conversation_ids=list(dict.fromkeys(r.conversation_id for r in newest_first)),
    )
