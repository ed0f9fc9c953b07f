"""Answering several questions in one call (``BatchAnswerer.answer_many``, for the
server's turn batching): the same answers as one call each, on the demo KB with both
engines; the courtesy layer keeps the order; a failing batch raises ``AnswererError``;
and the vectorized pieces of the batch path compute what the per-row ones do."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from handoff_server.ai import embeddings_available, make_answerer
from handoff_server.ai.base import Answer, BatchAnswerer
from handoff_server.ai.courtesy_layer import CourtesyAnswerer, without_courtesy
from handoff_server.ai.retrieval import RetrievalAnswerer, _Forest, _gbm
from handoff_server.ai.typos import TypoCorrector
from handoff_server.analytics import read_questions
from handoff_server.errors import AnswererError
from handoff_server.kb import KnowledgeBase, load_kb
from tests.helpers import RecordingAnswerer

DEMO_QUESTIONS = Path(__file__).parents[1] / "data" / "demo_questions.csv"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_kb(None)


@pytest.fixture(scope="module")
def tfidf(kb: KnowledgeBase) -> RetrievalAnswerer:
    engine = without_courtesy(make_answerer(kb))
    assert isinstance(engine, RetrievalAnswerer)
    return engine


@pytest.fixture(scope="module")
def questions() -> list[str]:
    texts, _ = read_questions(DEMO_QUESTIONS)
    # Padding, a typo, an empty message and one the KB has no word of, beside the set.
    return [*texts, "hi there,\nmy websit is down!!\n\nthanks, Ann", "", "zzzz qqqq"]


def _assert_same(many: Sequence[Answer], one: Sequence[Answer], scores: float = 0.0) -> None:
    """``answer_many``'s contract: the same entries, candidates (ids and order) and
    analysis as one by one, confidences within 1e-6; candidates' model scores within
    ``scores`` (0 for TF-IDF, whose rows and products are the same bits in a batch;
    MiniLM's batched forward pass rounds differently from one text's)."""
    assert len(many) == len(one)
    for m, o in zip(many, one, strict=True):
        assert m.entry_id == o.entry_id and m.text == o.text and m.analysis == o.analysis
        assert [c.entry_id for c in m.candidates] == [c.entry_id for c in o.candidates]
        assert [c.score for c in m.candidates] == pytest.approx(
            [c.score for c in o.candidates], abs=scores
        )
        assert m.confidence == pytest.approx(o.confidence, abs=1e-6)
        assert (m.sources, m.team, m.entry_escalate, m.courtesy) == (
            o.sources,
            o.team,
            o.entry_escalate,
            o.courtesy,
        )


def _check_engine(engine: RetrievalAnswerer, questions: list[str], scores: float = 0.0) -> None:
    one = [engine.answer(q) for q in questions]
    assert isinstance(engine, BatchAnswerer)
    _assert_same(engine.answer_many(questions), one, scores)
    for size in (2, 8):
        batched = [
            a
            for i in range(0, len(questions), size)
            for a in engine.answer_many(questions[i : i + size])
        ]
        _assert_same(batched, one, scores)


def test_answer_many_answers_as_one_by_one_tfidf(
    tfidf: RetrievalAnswerer, questions: list[str]
) -> None:
    _check_engine(tfidf, questions)


@pytest.mark.skipif(not embeddings_available(), reason="the 'embeddings' extra is not installed")
def test_answer_many_answers_as_one_by_one_embeddings(
    kb: KnowledgeBase, questions: list[str]
) -> None:
    engine = without_courtesy(make_answerer(kb, engine="embeddings"))
    assert isinstance(engine, RetrievalAnswerer) and engine.index.heads is not None
    _check_engine(engine, questions, scores=1e-5)


def test_no_questions_no_answers(tfidf: RetrievalAnswerer) -> None:
    assert tfidf.answer_many([]) == []
    assert CourtesyAnswerer(tfidf).answer_many([]) == []


class _Recording(RetrievalAnswerer):
    """The real engine, remembering each ``answer_many`` call's questions."""

    def __init__(self, engine: RetrievalAnswerer) -> None:
        super().__init__(engine.kb, engine.index)
        self.calls: list[list[str]] = []

    def answer_many(self, questions: Sequence[str]) -> list[Answer]:
        self.calls.append(list(questions))
        return super().answer_many(questions)


MIXED = [
    "thanks, that worked!",
    "how do I reset my password",
    "hello",
    "my website is down, all sites unreachable",
    "are you a bot?",
    "bye!",
    "can I renew my domain for two years",
]
SMALL_TALK = {0, 2, 4, 5}


def test_courtesy_layer_answers_small_talk_and_batches_the_rest_in_order(
    tfidf: RetrievalAnswerer,
) -> None:
    inner = _Recording(tfidf)
    layer = CourtesyAnswerer(inner)
    one = [layer.answer(q) for q in MIXED]
    inner.calls.clear()
    many = layer.answer_many(MIXED)
    _assert_same(many, one)
    assert [i for i, a in enumerate(many) if a.courtesy] == sorted(SMALL_TALK)
    assert inner.calls == [[q for i, q in enumerate(MIXED) if i not in SMALL_TALK]]
    assert layer.answer_many([MIXED[0], MIXED[2]]) == [one[0], one[2]]
    assert inner.calls[1:] == []  # small talk alone never reaches the engine


def test_courtesy_layer_over_an_engine_without_batches_answers_one_by_one(
    tfidf: RetrievalAnswerer,
) -> None:
    inner = RecordingAnswerer(tfidf)
    layer = CourtesyAnswerer(inner, tfidf.kb)
    assert not isinstance(inner, BatchAnswerer)
    many = layer.answer_many(MIXED)
    _assert_same(many, [CourtesyAnswerer(tfidf).answer(q) for q in MIXED])
    assert inner.questions == [q for i, q in enumerate(MIXED) if i not in SMALL_TALK]


def test_a_failing_batch_raises_answerer_error(tfidf: RetrievalAnswerer) -> None:
    """Scoring that fails (an index whose coefficients do not fit its encoder), and an
    index naming an entry the KB no longer has: the whole call raises AnswererError,
    through the courtesy layer too, so the server can answer one by one."""
    broken = RetrievalAnswerer(
        tfidf.kb, dataclasses.replace(tfidf.index, coef=tfidf.index.coef[:5])
    )
    with pytest.raises(AnswererError, match="engine failed on this question") as failed:
        broken.answer_many(MIXED[1::2])
    assert failed.value.__cause__ is not None  # the exception itself: for the server log
    with pytest.raises(AnswererError):
        CourtesyAnswerer(broken, tfidf.kb).answer_many(MIXED)
    top = tfidf.answer(MIXED[1]).entry_id
    kb = tfidf.kb.model_copy(update={"entries": [e for e in tfidf.kb.entries if e.id != top]})
    stale = RetrievalAnswerer(kb, tfidf.index)
    with pytest.raises(AnswererError, match="out of date"):
        stale.answer_many([MIXED[3], MIXED[1]])


def test_vectorized_forest_is_sklearns_predict_proba(tfidf: RetrievalAnswerer) -> None:
    """The calibrator walks every row through every tree at once; it gives what
    scikit-learn's own ``predict_proba`` gives for the fitted model, and each row the
    same bits in a batch as alone (fitted here on the demo index's calibration rows)."""
    oof = tfidf.index.oof
    feats, right = oof["features"], oof["right"]
    gbm = _gbm(len(right), feats.shape[1]).fit(feats, right, sample_weight=oof["weight"])
    forest = _Forest(gbm)
    rows = np.vstack([feats[:: max(1, len(feats) // 40)], feats.min(0) - 1, feats.max(0) + 1])
    batch = forest.predict_proba(rows)
    assert np.allclose(batch, gbm.predict_proba(rows)[:, 1], atol=1e-12, rtol=0)
    alone = np.concatenate([forest.predict_proba(r[None, :]) for r in rows])
    assert np.array_equal(batch, alone)


def test_tfidf_rows_are_sklearns_and_the_same_in_any_batch(
    tfidf: RetrievalAnswerer, questions: list[str]
) -> None:
    enc = tfidf.index.encoder
    texts = [tfidf.prepare(q) for q in questions]
    rows = enc.transform_rows(texts)
    ref = sp.hstack([enc.word.transform(texts), enc.char.transform(texts)], format="csr")
    assert abs(rows - ref / np.sqrt(2)).max() < 1e-12
    assert rows.has_sorted_indices
    for i, t in enumerate(texts):
        alone = enc.transform_rows([t])
        assert np.array_equal(alone.indices, rows[i].indices)
        assert np.array_equal(alone.data, rows[i].data)


def _edits(word: str) -> set[str]:
    """Every string one deletion, swap, substitution or insertion away (the definition)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return (
        {a + b[1:] for a, b in splits if b}
        | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        | {a + c + b[1:] for a, b in splits if b for c in letters}
        | {a + c + b for a, b in splits for c in letters}
    )


def test_typo_corrector_finds_exactly_the_words_one_edit_away(tfidf: RetrievalAnswerer) -> None:
    """The deletion index finds the KB words one edit away that the definition does,
    for misspellings of the KB's own words (each kind of edit) and random strings."""
    fix = tfidf.index.typos
    words = sorted(fix.counts)
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    tried = []
    for k in range(3000):
        w, i, c = rng.choice(words), rng.randrange(8), rng.choice(letters)
        tried += [w[:i] + w[i + 1 :], w[:i] + c + w[i:], w[:i] + c + w[i + 1 :]]
        tried += [w[:i] + w[i + 1 : i + 2] + w[i : i + 1] + w[i + 2 :]]
        tried += ["".join(rng.choice(letters) for _ in range(3 + k % 6))]
    for t in tried:
        low = t.lower()
        if len(low) < 4 or low in fix.counts:
            continue
        known = [w for w in _edits(low) if w in fix.counts]
        want = max(known, key=lambda w: (fix.counts[w], w)) if known else t
        assert fix.word(t) == want, t
    assert TypoCorrector({}).word("emial") == "emial"
