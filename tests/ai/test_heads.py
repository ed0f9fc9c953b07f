"""The embeddings engine's two heads (issue 12): a linear SVM on the TF-IDF block and a
softmax regression on the MiniLM block, fused by weights fitted on out-of-fold scores,
with each head's support for the chosen entry as a calibration feature."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_softmax

from handoff_server.ai import embeddings_available
from handoff_server.ai.heads import Block, Fusion, Heads, fit_heads, fuse_coef, head_scores
from handoff_server.ai.retrieval import RetrievalAnswerer, build_index
from handoff_server.kb import load_kb


def _nll(scores: np.ndarray, y: np.ndarray) -> float:
    return float(-log_softmax(scores, axis=1)[np.arange(len(y)), y].mean())


def test_fusion_weighs_the_informative_head_and_beats_either_alone() -> None:
    """Head 0 knows the class (noisily), head 1 is noise: the fitted weights favour head
    0, and the fused log-loss is no worse than the better head's at its own temperature."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 3000)
    informative = rng.normal(size=(3000, 6)) + 2.0 * np.eye(6)[y]
    partly = rng.normal(size=(3000, 6)) + 0.7 * np.eye(6)[y]
    noise = rng.normal(size=(3000, 6))
    fusion = Fusion.fit(np.stack([informative, noise]), y)
    assert fusion.heads == 2
    assert fusion.weights[0] > 5 * fusion.weights[1]
    # Two heads that each know something: the fusion beats both.
    both = np.stack([informative, partly])
    fusion = Fusion.fit(both, y)
    fused = _nll(fusion.fused(both), y)
    alone = [_nll(s * t, y) for s, t in zip(both, fusion.temps, strict=True)]
    assert fused < min(alone) - 0.01
    # Each head's own log-probabilities: one (n, C) matrix a head, rows summing to 1.
    logp = fusion.head_logp(both)
    assert len(logp) == 2 and np.allclose(np.exp(logp[1]).sum(1), 1.0)
    # One head: the fusion is a temperature and adds no agreement features.
    one = Fusion.fit(informative[None], y)
    assert one.head_logp(informative[None]) == []
    assert np.allclose(one.fused(informative[None]), informative * one.weights[0])


def test_heads_fit_their_own_blocks_and_the_fused_coefficients_give_them_back() -> None:
    """Block 0 carries the class, block 1 is noise: each head reads only its block, and
    the index's fused coefficients (:func:`fuse_coef`) give back each head's scores."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    x = np.hstack([np.eye(3)[y] + 0.3 * rng.normal(size=(300, 3)), rng.normal(size=(300, 4))])
    blocks = [Block(0, 3, 1.0, "svm"), Block(3, 7, 0.5, "softmax")]
    coef, intercepts, classes = fit_heads(x, y, oos=2, oos_weight=4.0, blocks=blocks)
    assert coef.shape == (7, 3) and intercepts.shape == (2, 3) and list(classes) == [0, 1, 2]
    scores = head_scores(x, coef, intercepts, blocks)
    assert (scores[0].argmax(1) == y).mean() > 0.9  # the SVM on the informative block
    assert (scores[1].argmax(1) == y).mean() < 0.6  # the softmax on noise
    weights = np.array([2.0, 0.5])
    fusion = Fusion(weights, np.array([1.0, 1.0]))
    fused = fuse_coef(coef, blocks, weights)
    again = Heads(blocks, fusion, intercepts).logp(x, fused)
    assert np.allclose(again[0], log_softmax(scores[0], axis=1), atol=1e-5)
    assert np.allclose(again[1], log_softmax(scores[1], axis=1), atol=1e-5)
    fused_scores = x @ fused + (weights[:, None] * intercepts).sum(0)
    assert np.allclose(fused_scores, fusion.fused(scores), atol=1e-4)


@pytest.mark.skipif(not embeddings_available(), reason="the 'embeddings' extra is not installed")
def test_embeddings_engine_has_a_lexical_and_a_semantic_head() -> None:
    """The built index keeps both heads; the calibration reads each head's
    log-probability of the chosen entry (two features more than the default engine's
    eight); one question through the fast path gives the batch numbers."""
    kb = load_kb(None)
    index = build_index(kb, "embeddings", _combined())
    assert index.heads is not None
    assert [b.kind for b in index.heads.blocks] == ["svm", "softmax"]
    assert index.heads.fusion.weights.min() > 0
    assert index.oof["features"].shape[1] == 10
    answerer = RetrievalAnswerer(kb, index)
    pairs = [(q, e.id) for e in kb.entries for q in e.questions[:1]][:20]
    questions = [q for q, _ in pairs] + [
        "what is the capital of mongolia",
        "can I pay my invoice with bitcoin",
    ]
    conf_b, top_b, _ = answerer.score(questions)
    assert (
        np.mean([index.classes[t] == eid for t, (_, eid) in zip(top_b, pairs, strict=False)]) >= 0.9
    )
    for i, q in enumerate(questions):
        conf, top, _ = answerer.score([q])
        assert top[0] == top_b[i]
        assert conf[0] == pytest.approx(conf_b[i], abs=1e-6)


def _combined() -> object:
    from handoff_server.ai.encoders import CombinedEncoder

    return CombinedEncoder()
