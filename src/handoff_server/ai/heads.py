"""Linear heads of the retrieval answerer, one per block of the encoded columns, and how
their scores are fused.

An engine whose encoder has one kind of column (``default``: TF-IDF; ``minilm``: sentence
embeddings) has one head, a one-vs-rest linear SVM (``LinearSVC``) over every column, and
its scores become probabilities through one softmax temperature.

The ``embeddings`` engine's rows are a TF-IDF block and a MiniLM block side by side
(:class:`~handoff_server.ai.encoders.CombinedEncoder`). It has two heads:

- **lexical**: the same linear SVM on the TF-IDF block (what the ``default`` engine fits);
- **semantic**: a multinomial logistic regression (scikit-learn ``LogisticRegression``,
  L-BFGS) on the unit MiniLM embeddings: 384 dense columns, which liblinear's coordinate
  descent (the SVM) converges on slowly, and a softmax model is a probability model to
  begin with.

Their scores are added with two weights fitted, like a temperature, by the log-loss of
the KB's own out-of-fold scores (a stacked linear fusion; Wolpert 1992, "Stacked
generalization"). Each head also gets its own temperature, so that the calibrator can
read how strongly *each* model backs the fused top entry: a lexical and a semantic model
that disagree are the classic sign of a question neither was trained on (disagreement
of an ensemble's members as an out-of-distribution signal: Lakshminarayanan et al. 2017,
arXiv:1612.01474).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import log_softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

__all__ = ["Block", "Fusion", "Heads", "fit_heads", "fuse_coef", "head_scores"]

SVM_C = 0.5
"""Penalty of the linear SVM heads."""
LR_C = 10.0
"""Inverse L2 penalty of the semantic head (unit 384-d inputs need large weights to
separate intents whose means are a few tenths of a cosine apart)."""
LR_MAX_ITER = 300


@dataclass(frozen=True)
class Block:
    """Columns ``start:end`` of an encoded row, a head's input. ``scale``: the weight the
    encoder gave the block (the head is fitted on the block divided by it, unit rows);
    ``kind``: ``"svm"`` (linear SVM) or ``"softmax"`` (multinomial logistic regression)."""

    start: int
    end: int
    scale: float = 1.0
    kind: str = "svm"


def _dense(x: Any) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)


def _fit_one(
    x: Any, y: np.ndarray, classes: np.ndarray, oos: int, oos_weight: float, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """One head on inputs ``x`` (n, d): coef (d, k) and intercept (k,) over ``classes``."""
    weights = {int(c): (oos_weight if c == oos else 1.0) for c in classes}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if kind == "softmax":
            # One thread: L-BFGS on a few hundred columns makes many small products, and
            # on a busy 2-core machine threaded BLAS and OpenMP spin on them (a fit of 600
            # examples: 4.0 s with 2 threads at a load of 7, 0.22 s with one).
            lr = LogisticRegression(C=LR_C, max_iter=LR_MAX_ITER, class_weight=weights)
            with threadpool_limits(limits=1):
                model: Any = lr.fit(_dense(x), y)
        else:
            model = LinearSVC(C=SVM_C, max_iter=2000, class_weight=weights).fit(x, y)
    coef, intercept = model.coef_.T, np.ravel(model.intercept_)
    if len(classes) == 2:
        # Binary models give one column (positive class); make it two symmetric ones.
        coef = np.hstack([-coef, coef]) / 2
        intercept = np.array([-intercept[0], intercept[0]]) / 2
    return coef, intercept


def fit_heads(
    x: Any, y: np.ndarray, oos: int, oos_weight: float, blocks: list[Block]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit one head per block of ``x`` (n, F), CSR or dense, on labels ``y`` (n,).

    The reject class ``oos`` gets ``oos_weight`` times an entry's penalty: it has to cover
    everything the KB is not about from few examples. Returns ``coef`` (F, k) float32
    (head h's coefficients in its block's rows, in the units of ``x``), ``intercepts``
    (H, k) float32 and the class indices (k,) present in ``y``. With a single class there
    is nothing to separate: zeros, every question scores the same."""
    classes = np.unique(y)
    coef = np.zeros((x.shape[1], len(classes)), dtype=np.float32)
    intercepts = np.zeros((len(blocks), len(classes)), dtype=np.float32)
    if len(classes) == 1:
        return coef, intercepts, classes
    for h, b in enumerate(blocks):
        part = x[:, b.start : b.end] if (b.start, b.end) != (0, x.shape[1]) else x
        if b.scale != 1.0:
            part = part * (1 / b.scale)
        c, i = _fit_one(part, y, classes, oos, oos_weight, b.kind)
        coef[b.start : b.end] = c / b.scale
        intercepts[h] = i
    return np.ascontiguousarray(coef), intercepts, classes


def head_scores(
    x: Any,
    coef: np.ndarray,
    intercepts: np.ndarray,
    blocks: list[Block],
    divide: np.ndarray | None = None,
) -> np.ndarray:
    """Each head's raw scores of the rows ``x`` (n, F): (H, n, k). ``divide`` (H,): the
    weights a fused ``coef`` was multiplied by (:func:`fuse_coef`), undone here."""
    out = []
    for h, b in enumerate(blocks):
        whole = (b.start, b.end) == (0, x.shape[1])
        part = x if whole else x[:, b.start : b.end]
        s = np.asarray(part @ coef[b.start : b.end], dtype=np.float64)
        if divide is not None:
            s = s / divide[h]
        out.append(s + intercepts[h])
    return np.stack(out)


def _nll(scores: np.ndarray, y: np.ndarray) -> float:
    return float(-log_softmax(scores, axis=1)[np.arange(len(y)), y].mean())


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature that minimises the negative log-likelihood of ``y`` given
    scores (n, C)."""

    def nll(log_t: float) -> float:
        return _nll(scores * np.exp(log_t), y)

    return float(np.exp(minimize_scalar(nll, bounds=(-3, 6), method="bounded").x))


@dataclass
class Fusion:
    """How head scores (H, n, C) become one score matrix and the agreement features.

    ``weights`` (H,): fused scores = Σ_h weights[h] · scores[h], then a softmax (one head:
    the temperature). ``temps`` (H,): each head's own temperature, for
    :meth:`head_logp`."""

    weights: np.ndarray
    temps: np.ndarray

    @classmethod
    def fit(cls, scores: np.ndarray, y: np.ndarray) -> Fusion:
        """Weights and temperatures minimising the log-loss of ``y`` (n,) on out-of-fold
        head scores (H, n, C)."""
        temps = np.array([fit_temperature(s, y) for s in scores])
        if len(scores) == 1:
            return cls(temps.copy(), temps)

        def nll(log_w: np.ndarray) -> float:
            return _nll(np.tensordot(np.exp(log_w), scores, axes=1), y)

        start = np.log(temps / len(scores))
        res = minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-6})
        return cls(np.exp(res.x), temps)

    @property
    def heads(self) -> int:
        """Number of heads."""
        return len(self.weights)

    def fused(self, scores: np.ndarray) -> np.ndarray:
        """(H, n, C) → (n, C) fused scores, already multiplied by the weights."""
        if len(scores) == 1:
            return scores[0] * self.weights[0]
        return np.tensordot(self.weights, scores, axes=1)

    def head_logp(self, scores: np.ndarray) -> list[np.ndarray]:
        """Each head's own log-probabilities (n, C), for the agreement features; empty with
        one head (its probabilities are the fused ones)."""
        if len(scores) == 1:
            return []
        return [log_softmax(s * t, axis=1) for s, t in zip(scores, self.temps, strict=True)]


@dataclass
class Heads:
    """The heads of a built index with more than one: their ``blocks``, the ``fusion``
    fitted on out-of-fold scores, and their raw ``intercepts`` (H, C). The index's
    ``coef`` holds the fused coefficients (each block's rows times its head's weight) and
    its ``intercept`` the fused intercept, so the answer's scores are one product."""

    blocks: list[Block]
    fusion: Fusion
    intercepts: np.ndarray

    def logp(self, x: Any, coef: np.ndarray) -> list[np.ndarray]:
        """Each head's own log-probabilities (n, C) of the rows ``x`` (n, F), from the
        fused ``coef`` (F, C)."""
        raw = head_scores(x, coef, self.intercepts, self.blocks, self.fusion.weights)
        return self.fusion.head_logp(raw)


def fuse_coef(coef: np.ndarray, blocks: list[Block], weights: np.ndarray) -> np.ndarray:
    """``coef`` (F, C) with each block's rows multiplied by its head's weight."""
    out = coef.copy()
    for b, w in zip(blocks, weights, strict=True):
        out[b.start : b.end] *= w
    return out
