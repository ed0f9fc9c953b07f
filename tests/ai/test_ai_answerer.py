"""The answerer: demo KB answers its own questions, confidence is calibrated on data the
model never saw, the index cache is keyed by KB content, engines are selectable."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest

from handoff_server.ai import ENGINES, Answer, Answerer, embeddings_available, make_answerer
from handoff_server.ai.courtesy_layer import without_courtesy
from handoff_server.ai.factory import index_key, load_or_build_index
from handoff_server.analytics import compute_metrics, predict, read_questions
from handoff_server.kb import KBEntry, KnowledgeBase, load_kb

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
"""The read-only data folder beside the checkout (shared/data), there in CI too."""
CLINC = DATA / "clinc150"
DEMO_QUESTIONS = Path(__file__).parents[1] / "data" / "demo_questions.csv"


@pytest.fixture(scope="module")
def demo() -> tuple[KnowledgeBase, Answerer]:
    kb = load_kb(None)
    return kb, make_answerer(kb)


def test_answer_shape(demo: tuple[KnowledgeBase, Answerer]) -> None:
    kb, answerer = demo
    a = answerer.answer("my website is down, all sites unreachable")
    assert isinstance(a, Answer) and isinstance(answerer, Answerer)
    entry = kb.by_id()[a.entry_id]
    assert a.text == entry.answer and a.sources == [entry.id] and a.team == entry.team
    assert a.entry_escalate == entry.escalate
    assert 0.0 <= a.confidence <= 1.0
    assert len(a.candidates) == 5 and a.candidates[0].entry_id == a.entry_id
    assert [c.score for c in a.candidates] == sorted((c.score for c in a.candidates), reverse=True)
    assert a.analysis.endswith(".") and entry.title in a.analysis


def test_demo_kb_answers_its_own_example_questions(demo: tuple[KnowledgeBase, Answerer]) -> None:
    kb, answerer = demo
    wrong = [
        (q, e.id, got)
        for e in kb.entries
        for q in e.questions
        if (got := answerer.answer(q).entry_id) != e.id
    ]
    total = sum(len(e.questions) for e in kb.entries)
    assert not wrong, f"{len(wrong)}/{total} example questions answered wrong: {wrong[:5]}"


@pytest.mark.skipif(not DEMO_QUESTIONS.exists(), reason="held-out demo paraphrases not present")
def test_demo_kb_on_held_out_paraphrases(demo: tuple[KnowledgeBase, Answerer]) -> None:
    """Paraphrases the KB never saw: most in-scope ones map to the right entry, and
    out-of-scope ones get lower confidence than in-scope ones."""
    kb, answerer = demo
    texts, labels = read_questions(DEMO_QUESTIONS)
    p = predict(answerer, {e.id for e in kb.entries}, texts, labels)
    m = compute_metrics(p.confidence, p.right, p.oos, 0.70)
    assert m.in_scope_accuracy >= 0.65
    assert p.confidence[p.oos].mean() < p.confidence[~p.oos].mean() - 0.2
    assert m.wrong_answer_rate <= 0.10


def test_out_of_scope_gets_low_confidence(demo: tuple[KnowledgeBase, Answerer]) -> None:
    _, answerer = demo
    for q in ["what's the capital of peru", "write me a haiku about cats"]:
        assert answerer.answer(q).confidence < 0.3, q


def _clinc_subset(n_intents: int, seed: int) -> tuple[list[list[str]], list[list[str]]]:
    if not CLINC.is_dir():
        pytest.skip(f"CLINC150 is not at {CLINC} (shared/data beside the checkout)")
    with (CLINC / "train.csv").open(encoding="utf-8") as fh:
        train = list(csv.reader(fh))[1:]
    with (CLINC / "val.csv").open(encoding="utf-8") as fh:
        val = list(csv.reader(fh))[1:]
    intents = sorted({r[1] for r in train} - {"oos"})
    keep = set(random.Random(seed).sample(intents, n_intents)) | {"oos"}
    return [r for r in train if r[1] in keep], [r for r in val if r[1] in keep]


@pytest.fixture(scope="module")
def clinc_subset(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[KnowledgeBase, Answerer, list, list]:
    train, val = _clinc_subset(25, seed=7)
    d = tmp_path_factory.mktemp("clinc")
    (d / "train.csv").write_text(
        "text,label\n" + "".join(f'"{t}",{lab}\n' for t, lab in train), encoding="utf-8"
    )
    kb = load_kb(d / "train.csv")
    # The engine beneath the courtesy layer: these tests use its batch scoring.
    engine = without_courtesy(make_answerer(kb))
    return kb, engine, [t for t, _ in val], [lab for _, lab in val]


def test_calibration_holds_on_questions_the_model_never_saw(clinc_subset) -> None:  # type: ignore[no-untyped-def]
    """CLINC150 val questions (never trained or calibrated on): ECE small, and among
    answers above a threshold the share right is at least the confidence promises."""
    kb, answerer, texts, labels = clinc_subset
    p = predict(answerer, {e.id for e in kb.entries}, texts, labels)
    m = compute_metrics(p.confidence, p.right, p.oos, 0.70)
    assert m.n_oos == 100 and m.n == 25 * 20 + 100
    assert m.ece <= 0.06, m
    answered = p.confidence >= 0.9
    assert p.right[answered].mean() >= 0.9 - 0.03
    # Out-of-scope questions are refused far more often than the published BERT baseline.
    assert m.oos_recall >= 0.75, m
    assert m.in_scope_accuracy >= 0.9, m


def test_index_cache_is_keyed_by_kb_content(tmp_path: Path) -> None:
    kb = KnowledgeBase(
        entries=[
            KBEntry(
                id="a",
                title="reset password",
                questions=["forgot my password", "reset login"],
                answer="A",
            ),
            KBEntry(
                id="b",
                title="cancel plan",
                questions=["cancel my plan", "stop subscription"],
                answer="B",
            ),
        ]
    )
    _, cached = load_or_build_index(kb, "default", tmp_path)
    assert not cached and len(list(tmp_path.glob("*.joblib"))) == 1
    index, cached = load_or_build_index(kb, "default", tmp_path)
    assert cached
    edited = kb.model_copy(deep=True)
    edited.entries[0].questions.append("can't sign in")
    assert index_key(edited, "default") != index_key(kb, "default")
    _, cached = load_or_build_index(edited, "default", tmp_path)
    assert not cached and len(list(tmp_path.glob("*.joblib"))) == 2
    # A corrupt cache file is rebuilt, not trusted.
    for f in tmp_path.glob("*.joblib"):
        f.write_bytes(b"garbage")
    _, cached = load_or_build_index(kb, "default", tmp_path)
    assert not cached
    assert make_answerer(kb, cache_dir=tmp_path).answer("i forgot my password").entry_id == "a"


def test_unknown_engine() -> None:
    with pytest.raises(ValueError, match="unknown engine"):
        make_answerer(load_kb(None), engine="nope")
    assert {"default", "embeddings"} <= set(ENGINES)


def test_tiny_kb_still_answers() -> None:
    kb = KnowledgeBase(entries=[KBEntry(id="only", title="Opening hours", answer="9 to 5.")])
    a = make_answerer(kb).answer("when are you open")
    assert a.entry_id == "only" and 0.0 <= a.confidence <= 1.0


@pytest.mark.skipif(not embeddings_available(), reason="the 'embeddings' extra is not installed")
def test_embeddings_engine_on_demo_kb() -> None:
    kb = load_kb(None)
    answerer = make_answerer(kb, engine="embeddings")
    hits = [answerer.answer(q).entry_id == e.id for e in kb.entries for q in e.questions[:2]]
    assert np.mean(hits) >= 0.97
    if DEMO_QUESTIONS.exists():
        texts, labels = read_questions(DEMO_QUESTIONS)
        p = predict(answerer, {e.id for e in kb.entries}, texts, labels)
        assert compute_metrics(p.confidence, p.right, p.oos, 0.7).in_scope_accuracy >= 0.75


def test_one_question_fast_path_matches_batch_scoring(clinc_subset) -> None:  # type: ignore[no-untyped-def]
    """`answer()` scores one question through a shortcut (only the question's feature rows
    of the coefficients, only two classes' examples); it must give exactly the numbers of
    the batch path that `handoff eval` uses."""
    _, answerer, questions, _ = clinc_subset
    questions = questions[:60]
    conf_b, top_b, probs_b = answerer.score(questions)
    for i, q in enumerate(questions):
        conf, top, probs = answerer.score([q])
        assert top[0] == top_b[i]
        assert conf[0] == pytest.approx(conf_b[i], abs=1e-6)
        assert np.allclose(probs[0], probs_b[i], atol=1e-6)


def test_unseen_word_share_is_measured_against_the_kb_vocabulary() -> None:
    """The calibration feature "share of the question's words the KB never uses"."""
    from handoff_server.ai.encoders import TfidfEncoder

    enc = TfidfEncoder().fit(["reset my password", "renew my domain name"])
    assert list(enc.unseen(["reset my password", "reset my cannabis stocks", "", "?!"])) == [
        0.0,
        pytest.approx(2 / 4),
        0.0,
        0.0,
    ]
