"""Run an answerer over a labeled question set and score it (what ``handoff eval`` does)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from handoff_server.ai.base import Answer, Answerer
from handoff_server.ai.courtesy_layer import CourtesyAnswerer
from handoff_server.errors import QuestionsError
from handoff_server.kb.loader import OOS_LABEL, label_to_id
from handoff_server.progress import NO_PROGRESS, ProgressSink
from handoff_server.userfiles import DATA_FILE_BYTES, read_user_text

__all__ = ["Predictions", "predict", "read_questions"]


def read_questions(path: Path | str) -> tuple[list[str], list[str]]:
    """Read a ``text,label`` CSV (``text,category`` also accepted) → (texts, labels).

    Label ``oos`` marks an out-of-scope question. Raises :class:`QuestionsError` (code ``bad_questions``)
    with ``file:line`` for a missing file, a wrong header or an empty text or label.
    """
    p = Path(path)
    try:
        text = read_user_text(p, DATA_FILE_BYTES)
    except OSError as exc:
        raise QuestionsError(f"{p}: cannot read questions: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise QuestionsError(f"{p}: not UTF-8 text") from None
    reader = csv.reader(text.splitlines())
    header = [h.strip().lower() for h in next(reader, [])]
    if len(header) < 2 or header[0] != "text" or header[1] not in {"label", "category"}:
        raise QuestionsError(f"{p}:1: questions CSV needs the header 'text,label'")
    texts: list[str] = []
    labels: list[str] = []
    problems: list[str] = []
    for row in reader:
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            problems.append(f"{p}:{reader.line_num}: need non-empty text and label")
            continue
        texts.append(row[0].strip())
        labels.append(row[1].strip())
    if problems:
        raise QuestionsError("bad questions file:\n" + "\n".join(f"  {x}" for x in problems))
    if not texts:
        raise QuestionsError(f"{p}: no questions")
    return texts, labels


@dataclass
class Predictions:
    """Per-question results: ``confidence`` (n,) 0–1, ``entry_id`` (n,), ``right`` (n,)
    bool, ``oos`` (n,) bool. A label that names no KB entry counts as out of scope for
    this KB (``n_unknown_labels`` of them, ``oos`` rows excluded). ``n_courtesy``: questions
    the courtesy layer answered with a built-in reply (confidence 1.0, no entry: right for
    no label, as the server serves them)."""

    confidence: np.ndarray
    entry_id: list[str | None]
    right: np.ndarray
    oos: np.ndarray
    n_unknown_labels: int
    n_courtesy: int = 0


class _Classes(Protocol):
    @property
    def classes(self) -> list[str]: ...


@runtime_checkable
class _BatchScorer(Protocol):
    """An answerer that also scores many questions at once (the retrieval answerer):
    ``score`` returns (confidence (n,), top class index (n,), probabilities (n, C)) and
    ``index.classes`` names the KB entry of each class index."""

    @property
    def index(self) -> _Classes: ...

    def score(self, questions: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


QUESTION_BATCH = 256
"""Questions scored per progress report."""


def predict(
    answerer: Answerer,
    kb_ids: set[str],
    texts: list[str],
    labels: list[str],
    progress: ProgressSink = NO_PROGRESS,
) -> Predictions:
    """Answer every question (batched when the answerer supports ``score``), telling
    ``progress`` after each :data:`QUESTION_BATCH` (step "answering the questions",
    total = questions). Same results whatever the batch size. Through a
    :class:`~handoff_server.ai.courtesy_layer.CourtesyAnswerer` (what the server serves)
    the small talk it answers itself gets its built-in reply, the rest the engine's."""
    targets = [label_to_id(lab) if lab != OOS_LABEL else None for lab in labels]
    unknown = sum(
        1 for t, lab in zip(targets, labels, strict=True) if t is not None and t not in kb_ids
    )
    oos = np.array([t is None or t not in kb_ids for t in targets])
    courtesy: list[Answer | None] = [None] * len(texts)
    if isinstance(answerer, CourtesyAnswerer):
        courtesy = answerer.courtesy_replies(texts)
        answerer = answerer.inner
    conf, ids = _answers(answerer, texts, progress)
    for i, reply in enumerate(courtesy):
        if reply is not None:
            conf[i], ids[i] = reply.confidence, None
    right = np.array([i is not None and i == t for i, t in zip(ids, targets, strict=True)]) & ~oos
    n_courtesy = sum(r is not None for r in courtesy)
    return Predictions(conf, ids, right, oos, unknown, n_courtesy)


def _answers(
    answerer: Answerer, texts: list[str], progress: ProgressSink
) -> tuple[np.ndarray, list[str | None]]:
    """(confidence (n,), answering entry id or ``None`` per question) from the engine, in
    batches of :data:`QUESTION_BATCH`, telling ``progress`` after each."""
    progress.start("answering the questions", len(texts))
    conf: list[float] = []
    ids: list[str | None] = []
    for i in range(0, len(texts), QUESTION_BATCH):
        batch = texts[i : i + QUESTION_BATCH]
        if isinstance(answerer, _BatchScorer):
            c, top, _ = answerer.score(batch)
            classes = answerer.index.classes
            conf.extend(map(float, c))
            ids.extend(classes[j] for j in top)
        else:
            answers = [answerer.answer(t) for t in batch]
            conf.extend(a.confidence for a in answers)
            ids.extend(a.entry_id for a in answers)
        progress.advance(len(batch))
    return np.array(conf, dtype=float), ids
