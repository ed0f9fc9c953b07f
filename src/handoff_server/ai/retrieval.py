"""The KB-retrieval answerer: a linear classifier over entries, with calibrated confidence.

How an index is built (:func:`build_index`):

1. Training documents: each entry's example questions and its title; entries without
   examples (Markdown articles) contribute their title and answer paragraphs. Examples
   of the out-of-scope pseudo-entry (``oos`` rows) form a reject class; a KB with none gets
   :data:`~handoff_server.ai.generic_oos.GENERIC_OUT_OF_SCOPE`.
2. Encode (see :mod:`handoff_server.ai.encoders`) and fit a one-vs-rest linear SVM
   (``LinearSVC``) over all classes, reject class included; the ``embeddings`` engine
   fits one head per block instead, an SVM on TF-IDF and a softmax regression on the
   MiniLM embeddings, fused (:mod:`handoff_server.ai.heads`).
3. Confidence is learned, never assumed: ``k``-fold cross-validation over the KB's own
   examples yields out-of-fold scores for every example; a temperature turns scores into
   candidate probabilities (fitted by log-loss), and a calibrator maps features of the
   scores (top probability, margin to the runner-up, reject-class probability, nearest
   example's cosine similarity) to P(top entry is right) with monotone-constrained
   gradient-boosted trees (scikit-learn ``HistGradientBoostingClassifier``), out-of-scope
   examples reweighted to an assumed share of traffic (:data:`_OOS_SHARE`).
   Out-of-scope examples count as "wrong" whatever entry wins, so they teach low confidence.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import log_softmax, logsumexp
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from handoff_server.ai.base import Answer, Candidate
from handoff_server.ai.generic_oos import GENERIC_OUT_OF_SCOPE
from handoff_server.ai.heads import Block, Fusion, Heads, fit_heads, fuse_coef, head_scores
from handoff_server.ai.padding import question_text
from handoff_server.ai.typos import TypoCorrector
from handoff_server.errors import AnswererError
from handoff_server.kb.models import KBEntry, KnowledgeBase
from handoff_server.progress import NO_PROGRESS, ProgressSink

__all__ = ["Index", "RetrievalAnswerer", "build_index", "training_examples"]

_OOS = "__out_of_scope__"
_FOLDS = 5
_TOP_K = 5
_HELD_OUT_ROUNDS = 4
_HELD_OUT_SHARE = 0.25
"""Held-out-topic calibration (:func:`_held_out_topics`): rounds, and the share of entries
left out in each."""
_PSEUDO_SHARE = 0.9
"""Of the out-of-scope calibration weight, the share held-out-topic rows get beside the
KB's own or the bundled generic off-topic examples: near misses are the out-of-scope
questions a support KB gets, and "what's the weather" is refused whatever the weight.
With :data:`_OOS_SHARE` it is the share of near misses the calibrator assumes traffic has
(27%). That share decides confidence where a near miss and an answerable question with a
small margin look alike, so no value is calibrated on both a set without near misses
(CLINC150 val, ECE 0.137 at 0.9, 0.020 at 0) and one with 25% (five BANKING77 splits,
0.030 and 0.151): ``benchmarks/near_miss_prior.py``, docs/ai.md."""
_PSEUDO_ALWAYS = 1
"""1: held-out-topic calibration also for a KB with out-of-scope examples of its own.
Off, four CLINC150 splits (a quarter of the intents left out) got out-of-scope recall
0.68, 14% wrong answers and ECE 0.11 at 0.70, and no threshold could promise 2%; on,
0.87, 7.3%, 0.035 and a promise on every split. The price: CLINC150 val (3% out of
scope, chit-chat) turns under-confident, ECE 0.137 (docs/ai.md)."""
_RELATIVE = 1
"""1: the calibration features include the top entry's nearest-example cosine relative to
the entry's own typical leave-one-out nearest-neighbour cosine (:meth:`_Examples.of`)."""
_MAHALANOBIS = 1
"""1: engines with sentence embeddings add the top entry's relative Mahalanobis distance
(:class:`_Gaussians`) to the calibration features."""
_KTH_KS: tuple[int, ...] = ()
"""The k of each "k-th nearest example" feature: the question's cosine to the top entry's
k-th nearest example minus that entry's own typical leave-one-out k-th nearest cosine
(:meth:`_Examples.nearest_k`). Empty: none. Off: on five BANKING77 splits (embeddings
engine, 0.70) k = 2 took the wrong-answer rate from 0.058 to 0.056, within the spread
(``benchmarks/calib_dump.py``, docs/ai.md, fourth session)."""
_ENERGY = 0
"""1: the calibration features include the energy score of the in-scope classes (the
log-sum-exp of their scaled scores, Liu et al. 2020, arXiv:2010.03759); 2: also the
largest in-scope scaled score (max logit, Hendrycks et al. 2022, arXiv:1911.11132).
Off: 0.058 → 0.060 wrong answers on the same splits (docs/ai.md)."""
_CROWD = 0
"""1: the calibration features include how crowded the top entry's neighbourhood is (the
cosine of its examples' mean to the nearest other entry's) and the share of the
question's encoded weight on columns the top entry's examples use (its lexical
coverage by that entry). Off: 0.058 → 0.064 wrong answers with both, 0.057 with
coverage alone, on the same splits (docs/ai.md)."""
_HEADS = 1
"""1: an encoder with blocks of different kinds (the ``embeddings`` engine: TF-IDF and
MiniLM) gets one head per block, fused, and the calibration features include how
strongly each head backs the chosen entry (:mod:`~handoff_server.ai.heads`); 0: one
linear SVM over all columns, as before."""
_OOS_SHARE = 0.30
"""Share of out-of-scope questions the calibrator assumes; it reweights the KB's
out-of-scope examples to it (CLINC150's train split has 0.7%, real support traffic far
more). Chosen on CLINC150 val: 0.10 → 0.30 raised out-of-scope recall at the recommended
threshold from 0.92 to 0.95 at equal containment, ECE 0.014 → 0.025 (docs/ai.md)."""


def training_examples(kb: KnowledgeBase) -> tuple[list[str], list[str]]:
    """``(texts, class_ids)`` the classifier learns from; reject-class rows get ``_OOS``."""
    texts: list[str] = []
    labels: list[str] = []
    have_oos = False
    for e in kb.entries:
        if e.out_of_scope:
            have_oos = True
            docs = list(e.questions)
        elif e.questions:
            docs = [*e.questions, e.title]
        else:
            paras = [p.strip() for p in re.split(r"\n\s*\n", e.answer) if p.strip()]
            docs = [e.title, *paras] if paras else [e.title]
        texts.extend(docs)
        labels.extend([_OOS if e.out_of_scope else e.id] * len(docs))
    if not have_oos:
        texts.extend(GENERIC_OUT_OF_SCOPE)
        labels.extend([_OOS] * len(GENERIC_OUT_OF_SCOPE))
    return texts, labels


@dataclass
class Index:
    """A built, picklable index: encoder, linear model, calibrator and example vectors.

    - ``classes``: class ids, the entry ids plus ``_OOS``; ``coef`` (n_features, n_classes)
      and ``intercept`` (n_classes,) are the SVM's; ``temperature`` scales its scores into
      a softmax over classes.
    - ``layout``: the training examples' vectors (unit rows), for nearest-example cosine.
    - ``calib_lr``: the fitted calibrator, features → P(right), see :func:`build_index`;
      ``None`` when out-of-fold results were all right or all wrong, and then
      ``calib_iso`` holds the constant (Laplace-smoothed) probability.
    - ``typos``: the :class:`~handoff_server.ai.typos.TypoCorrector` over the KB's words.
    - ``oof``: out-of-fold (confidence, right) pairs of the KB's own examples, for reports.
    - ``heads``: for an engine with several heads (:mod:`~handoff_server.ai.heads`), their
      blocks, fusion and intercepts; ``coef``/``intercept`` are then the fused ones and
      ``temperature`` is 1. ``None`` for one head.
    """

    engine: str
    encoder: Any
    classes: list[str]
    coef: np.ndarray
    intercept: np.ndarray
    temperature: float
    layout: _Examples
    calib_lr: Any
    calib_iso: Any
    typos: TypoCorrector = field(default_factory=lambda: TypoCorrector({}))
    oof: dict[str, np.ndarray] = field(default_factory=dict)
    heads: Heads | None = None

    @property
    def oos_index(self) -> int:
        """Column of the reject class."""
        return self.classes.index(_OOS)


def _blocks(encoder: Any, width: int) -> list[Block]:
    """The heads' column blocks of an encoder's rows ``width`` wide: one SVM over all of
    them, or the encoder's own blocks (:data:`_HEADS`)."""
    if _HEADS and hasattr(encoder, "blocks"):
        blocks: list[Block] = encoder.blocks(width)
        return blocks
    return [Block(0, width)]


def _fit_scores(
    xtr: Any, ytr: np.ndarray, xte: Any, oos: int, oos_weight: float, blocks: list[Block], n: int
) -> np.ndarray:
    """Heads fitted on (``xtr``, ``ytr``), scores of ``xte`` → (H, len(xte), ``n``
    classes), −10 for the classes ``ytr`` lacks."""
    coef, intercepts, cls = fit_heads(xtr, ytr, oos, oos_weight, blocks)
    out = np.full((len(blocks), xte.shape[0], n), -10.0)
    out[:, :, cls] = head_scores(xte, coef, intercepts, blocks)
    return out


def _features(
    scores: np.ndarray,
    temperature: float,
    sims: np.ndarray,
    oos: int,
    unseen: np.ndarray,
    typical: np.ndarray,
    maha: np.ndarray,
    head_logp: list[np.ndarray] | None = None,
    kth: tuple[np.ndarray, np.ndarray] | None = None,
    entry: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibration features from raw class scores (n, C), nearest-example cosine (n, C),
    the share of unseen words (n,), each class's typical nearest-neighbour cosine
    among its own examples, (C,) or (n, C) (:attr:`_Examples.typical`), the relative
    Mahalanobis distances (n, C) (:meth:`_Examples.mahalanobis`) and, with several heads,
    each head's own log-probabilities (n, C) (:meth:`Fusion.head_logp`), of which the
    top entry's is a feature: how strongly each model backs the fused choice. ``kth``:
    the k-th nearest cosines (K, n, C) and the classes' typical ones (K, C) or (K, n, C)
    for the ks of :data:`_KTH_KS` (:meth:`_Examples.nearest_k`).

    Returns (features (n, k), top in-scope class (n,), softmax probabilities (n, C)).
    """
    logp = log_softmax(scores * temperature, axis=1)
    masked = logp.copy()
    masked[:, oos] = -np.inf
    order = np.argsort(-masked, axis=1)[:, :2]
    rows = np.arange(len(scores))
    top, second = order[:, 0], order[:, 1] if masked.shape[1] > 2 else order[:, 0]
    lp1 = logp[rows, top]
    lp2 = np.where(top == second, -30.0, logp[rows, second])
    cols = [lp1, np.minimum(lp1 - lp2, 30.0), logp[:, oos], sims[rows, top], sims[:, oos], unseen]
    if _RELATIVE:
        typ = np.broadcast_to(typical, scores.shape)
        cols.append(sims[rows, top] - typ[rows, top])
    if _MAHALANOBIS:
        cols.append(maha[rows, top])
    cols.extend(lp[rows, top] for lp in head_logp or [])
    if kth is not None and len(kth[0]):
        near, typ_k = kth
        typ_k = np.broadcast_to(typ_k[:, None, :] if typ_k.ndim == 2 else typ_k, near.shape)
        cols.extend(near[i, rows, top] - typ_k[i, rows, top] for i in range(len(near)))
    if _ENERGY:
        scaled = scores * temperature
        scaled[:, oos] = -np.inf
        cols.append(logsumexp(scaled, axis=1))
        if _ENERGY > 1:
            cols.append(scaled[rows, top])
    if _CROWD and entry is not None:
        crowd, cover = entry
        cols.append(np.broadcast_to(crowd, scores.shape)[rows, top])
        cols.append(cover[rows, top])
    return np.column_stack(cols), top, np.exp(logp)


def _sparse(x: object) -> bool:
    # ``sp.issparse`` without its type narrowing: scipy-stubs narrow to the empty
    # ``SparseABC`` base, which declares none of the methods (``tocsr``, ``T``,
    # ``toarray``) that these CSR-or-dense ``Any`` values are used with.
    return sp.issparse(x)


_Kth = tuple[np.ndarray, np.ndarray]
"""k-th nearest cosines (K, n, C) and the classes' typical ones, (K, C) or (K, n, C)."""


@dataclass
class _Gaussians:
    """Class-conditional Gaussians with one shared covariance over dense sentence
    embeddings, for the relative Mahalanobis distance (Ren et al. 2021, "A Simple Fix to
    Mahalanobis Distance for Improving Near-OOD Detection", arXiv:2106.09022): a
    question's distance to a class's Gaussian minus its distance to one Gaussian fitted
    to all examples, so a question far from every example of the KB is not mistaken for
    one near a class.

    Stored whitened: ``w`` (d, d) with ``w @ w.T`` the shared precision and ``means``
    (C, d) the whitened class means (zero rows for classes without examples); ``w0`` and
    ``mean0`` the same for the background Gaussian. Covariances are Ledoit–Wolf shrunk.
    """

    w: np.ndarray
    means: np.ndarray
    w0: np.ndarray
    mean0: np.ndarray

    @classmethod
    def of(cls, dense: np.ndarray, y: np.ndarray, n_classes: int) -> _Gaussians:
        from sklearn.covariance import LedoitWolf

        dense = np.asarray(dense, dtype=np.float64)
        mu = np.zeros((n_classes, dense.shape[1]))
        present = np.unique(y)
        for c in present:
            mu[c] = dense[y == c].mean(axis=0)
        # One thread: on a busy machine threaded BLAS spins on these 384 × 384 products
        # (LedoitWolf took 1 s a fit at a load of 9 on 2 cores).
        with threadpool_limits(limits=1):
            w = cls._whitener(LedoitWolf().fit(dense - mu[y]).precision_)
            w0 = cls._whitener(LedoitWolf().fit(dense).precision_)
        return cls(w, mu @ w, w0, dense.mean(axis=0) @ w0)

    @staticmethod
    def _whitener(precision: np.ndarray) -> np.ndarray:
        # Cholesky factor L of the precision: (x - m) P (x - m) = |(x - m) L|².
        return np.linalg.cholesky((precision + precision.T) / 2)

    def distance(self, dense: np.ndarray) -> np.ndarray:
        """Relative squared Mahalanobis distance of each row of ``dense`` (n, d) to each
        class → (n, C), scaled by 1/d."""
        a = np.asarray(dense, dtype=np.float64) @ self.w
        d = (a * a).sum(1)[:, None] - 2 * a @ self.means.T + (self.means**2).sum(1)[None, :]
        b = np.asarray(dense, dtype=np.float64) @ self.w0 - self.mean0
        return (d - (b * b).sum(1)[:, None]) / dense.shape[1]


def _crowd_support(
    rows: Any, present: np.ndarray, starts: np.ndarray, ends: np.ndarray, n_classes: int
) -> tuple[np.ndarray, Any]:
    """Per class: cosine of its examples' mean to the nearest other class's mean (n_classes,)
    and, for sparse rows, the columns its examples use, as a 0/1 CSR (n_classes, F)."""
    means = np.zeros((n_classes, rows.shape[1]))
    for c, a, b in zip(present, starts, ends, strict=True):
        means[c] = np.asarray(rows[a:b].mean(axis=0)).ravel()
    norms = np.linalg.norm(means, axis=1)
    unit = means / np.maximum(norms, 1e-12)[:, None]
    sim = unit @ unit.T
    np.fill_diagonal(sim, -1.0)
    crowd = sim.max(axis=1) if len(present) > 1 else np.zeros(n_classes)
    if not _sparse(rows):
        return crowd, np.ones((n_classes, rows.shape[1]))
    support = sp.csr_matrix((means != 0).astype(np.float64))
    return crowd, support


@dataclass
class _Examples:
    """Example vectors sorted by class for nearest-per-class lookup: ``rows`` (m,
    n_features), unit rows, CSR or dense; ``present`` the classes that have examples and
    ``starts`` / ``ends`` where each class's rows begin and end; ``typical`` (n_classes,)
    each class's median cosine between an example and its nearest other example of the
    class (leave-one-out), the overall median for a class with fewer than two; ``gauss``
    the class Gaussians over the dense embeddings, for engines that have them;
    ``kth_typical`` (K, n_classes) the median k-th nearest leave-one-out cosine for each k
    of ``ks`` (:data:`_KTH_KS` when built)."""

    rows: Any
    present: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    n_classes: int
    typical: np.ndarray
    gauss: _Gaussians | None = None
    kth_typical: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    ks: tuple[int, ...] = ()
    crowd: np.ndarray = field(default_factory=lambda: np.zeros(0))
    support: Any = None

    @classmethod
    def of(
        cls,
        examples: Any,
        example_class: np.ndarray,
        n_classes: int,
        dense: np.ndarray | None = None,
    ) -> _Examples:
        order = np.argsort(example_class, kind="stable")
        sorted_class = example_class[order]
        present = np.unique(sorted_class)
        rows = examples[order]
        rows = rows.tocsr() if _sparse(rows) else np.ascontiguousarray(rows)
        starts = np.searchsorted(sorted_class, present)
        ends = np.searchsorted(sorted_class, present, side="right")
        # Row 0: the nearest other example (typical); then the k-th of each k in _KTH_KS.
        typ = np.full((1 + len(_KTH_KS), n_classes), np.nan)
        for c, a, b in zip(present, starts, ends, strict=True):
            if b - a >= 2:
                block = rows[a:b]
                sim = block @ block.T
                sim = sim.toarray() if _sparse(sim) else np.array(sim)
                np.fill_diagonal(sim, -np.inf)
                desc = -np.sort(-sim, axis=1)[:, :-1]  # the b - a - 1 others, nearest first
                for i, k in enumerate((1, *_KTH_KS)):
                    typ[i, c] = float(np.median(desc[:, min(k, b - a - 1) - 1]))
        for i in range(len(typ)):
            known = typ[i][~np.isnan(typ[i])]
            typ[i][np.isnan(typ[i])] = float(np.median(known)) if len(known) else 0.0
        gauss = None
        if dense is not None and _MAHALANOBIS:
            gauss = _Gaussians.of(dense, example_class, n_classes)
        out = cls(rows, present, starts, ends, n_classes, typ[0], gauss, typ[1:], _KTH_KS)
        if _CROWD:
            out.crowd, out.support = _crowd_support(rows, present, starts, ends, n_classes)
        return out

    def entry_features(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Each class's crowding (n_classes,) and each row of ``x``'s coverage by each
        class (n, n_classes): the share of the row's squared weight on columns that
        class's examples use (1 for dense rows, 0 for a class without examples)."""
        if self.support is None:
            return np.zeros(self.n_classes), np.zeros((x.shape[0], self.n_classes))
        if not _sparse(x):
            return self.crowd, np.ones((x.shape[0], self.n_classes))
        sq = x.multiply(x).tocsr()
        cov = sq @ self.support.T
        cov = cov.toarray() if _sparse(cov) else np.asarray(cov)
        total = np.asarray(sq.sum(axis=1)).ravel()
        return self.crowd, cov / np.maximum(total, 1e-12)[:, None]

    def kth_one(self, xd: np.ndarray, c: int) -> np.ndarray:
        """:meth:`nearest_k`'s k-th nearest cosines of one question as a dense vector ``xd`` for class ``c``
        only → (K,)."""
        ks = self.ks
        k = np.searchsorted(self.present, c)
        if not ks or k >= len(self.present) or self.present[k] != c:
            return np.zeros(len(ks))
        sims = -np.sort(-(self.rows[self.starts[k] : self.ends[k]] @ xd))
        return np.array([sims[min(kk, len(sims)) - 1] for kk in ks])

    def mahalanobis(self, dense: np.ndarray | None, n: int) -> np.ndarray:
        """(n, n_classes) relative Mahalanobis distances of the questions' ``dense``
        embeddings (:class:`_Gaussians`), zeros when there are none."""
        if self.gauss is None or dense is None:
            return np.zeros((n, self.n_classes))
        return self.gauss.distance(dense)

    def nearest(self, x: Any, block: int = 512) -> np.ndarray:
        """Cosine similarity of each row of ``x`` (unit rows) to its nearest example of each
        class → (n, n_classes), 0 where a class has no example. Row blocks bound memory."""
        return self.nearest_k(x, block)[0]

    def nearest_k(self, x: Any, block: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`nearest` (n, n_classes), and the cosine of each row of ``x`` to its k-th
        nearest example of each class for each k of :attr:`ks` (K, n, n_classes): the
        farthest example when a class has fewer than k, 0 where it has none. One product
        with the examples for both. A question about an entry is near many of its
        examples; one about a neighbouring topic may be near a few only (k-th nearest
        neighbour distance as an out-of-distribution score: Sun et al. 2022,
        arXiv:2204.06507)."""
        out = np.zeros((x.shape[0], self.n_classes))
        kth = np.zeros((len(self.ks), x.shape[0], self.n_classes))
        t = self.rows.T.tocsr() if _sparse(self.rows) else self.rows.T
        for start in range(0, x.shape[0], block):
            sim = x[start : start + block] @ t
            sim = sim.toarray() if _sparse(sim) else np.asarray(sim)
            out[start : start + block, self.present] = np.maximum.reduceat(
                sim, self.starts, axis=1
            ).clip(min=0)
            if not self.ks:
                continue
            for c, a, b in zip(self.present, self.starts, self.ends, strict=True):
                part = -sim[:, a:b]
                for i, k in enumerate(self.ks):
                    j = min(k, b - a) - 1
                    kth[i, start : start + block, c] = -np.partition(part, j, axis=1)[:, j]
        return out, kth

    def nearest_top(
        self, xd: np.ndarray, top: np.ndarray, oos: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """For questions as dense float32 rows ``xd`` (n, n_features) and each one's top
        class ``top`` (n,): the cosine to the nearest example of its top class and of the
        reject class ``oos`` (n, n_classes; 0 elsewhere, and for a class without
        examples), and :meth:`kth_one` of its top class (K, n, n_classes; 0 elsewhere):
        what the calibration features read of :meth:`nearest_k`. Touches only those
        classes' rows, each row alone, so it costs microseconds a question where
        :meth:`nearest_k` costs a product with every example, and a question gets the
        same bits in a batch as alone."""
        n = len(top)
        sims = np.zeros((n, self.n_classes))
        kth = np.zeros((len(self.ks), n, self.n_classes))
        blocks: dict[int, Any] = {}
        for i, c in enumerate(top.tolist()):
            for k in (c, oos):
                if k not in blocks:
                    blocks[k] = self._class_rows(k)
                if blocks[k] is not None:
                    sims[i, k] = max(0.0, float(np.max(blocks[k] @ xd[i])))
            if self.ks:
                kth[:, i, c] = self.kth_one(xd[i], c)
        return sims, kth

    def _class_rows(self, c: int) -> Any:
        """The example rows of class ``c``, ``None`` when it has none."""
        k = np.searchsorted(self.present, c)
        if k >= len(self.present) or self.present[k] != c:
            return None
        return self.rows[self.starts[k] : self.ends[k]]


def build_index(
    kb: KnowledgeBase,
    engine: str,
    encoder: Any,
    *,
    folds: int = _FOLDS,
    seed: int = 0,
    oos_weight: float = 4.0,
    oos_share: float | None = _OOS_SHARE,
    progress: ProgressSink = NO_PROGRESS,
) -> Index:
    """Fit encoder, heads and calibrator on ``kb``'s examples (see the module docstring).

    ``folds``: cross-validation folds for out-of-fold scores (≥ 2). Deterministic for a
    given ``seed``. ``progress`` hears the steps: embedding the examples (engines with
    sentence embeddings, in batches), the cross-validation folds, the held-out-topic
    rounds and the final fit. Raises :class:`AnswererError` when the KB has no
    answerable entry.
    """
    texts, labels = training_examples(kb)
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise AnswererError("the knowledge base has no answerable entries")
    y = np.array([classes.index(label) for label in labels])
    oos = classes.index(_OOS)
    texts_arr = np.array(texts, dtype=object)
    if hasattr(encoder, "warm"):  # sentence embeddings: encode every example once, up front
        encoder.warm(texts, progress)
    scores, sims, unseen, typical, maha, kth, entry = _out_of_fold(
        encoder, texts_arr, y, oos, len(classes), folds, seed, oos_weight, progress
    )
    fusion = Fusion.fit(scores, y)
    logp = fusion.head_logp(scores)
    fused = fusion.fused(scores)
    feats, top, _ = _features(fused, 1.0, sims, oos, unseen, typical, maha, logp, kth, entry)
    right = ((top == y) & (y != oos)).astype(int)
    is_oos = y == oos
    # A KB that brings its own out-of-scope examples is calibrated on them; one without
    # (most real KBs) learns what a near miss looks like from topics held out of training.
    own_oos = any(e.out_of_scope and e.questions for e in kb.entries)
    pseudo = np.zeros((0, feats.shape[1]))
    if not own_oos or _PSEUDO_ALWAYS:
        args = (encoder, texts_arr, y, oos, len(classes), fusion, oos_weight, seed)
        pseudo = _held_out_topics(*args, progress)
    w = _calibration_weights(is_oos, len(pseudo), oos_share, _PSEUDO_SHARE)
    feats = np.vstack([feats, pseudo]) if len(pseudo) else feats
    right = np.concatenate([right, np.zeros(len(pseudo), dtype=int)])
    is_oos = np.concatenate([is_oos, np.ones(len(pseudo), dtype=bool)])
    calibrator = _fit_calibrator(feats, right, w)
    progress.start("fitting the final model", None)
    index = _final_index(engine, encoder, texts, y, classes, oos_weight, fusion, calibrator)
    index.typos = TypoCorrector.of([*texts, *(e.answer for e in kb.entries)])
    index.oof = {
        "confidence": _calibrate(index, feats),
        "right": right,
        "features": feats,
        "oos": is_oos,
        "weight": w,
    }
    return index


def _out_of_fold(
    encoder: Any,
    texts: np.ndarray,
    y: np.ndarray,
    oos: int,
    n_classes: int,
    folds: int,
    seed: int,
    oos_weight: float,
    progress: ProgressSink = NO_PROGRESS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, _Kth, _Kth]:
    """Out-of-fold scores: each example scored by a model that never saw it. Returns the
    heads' scores (n_heads, n_examples, n_classes), nearest-example similarities
    (n_examples, n_classes), the share of unseen words (n_examples,), the classes' typical
    cosines in each example's fold and the relative Mahalanobis distances (both
    (n_examples, n_classes)), and the k-th nearest cosines with the fold's typical ones
    (both (K, n_examples, n_classes), K = len(:data:`_KTH_KS`)), and the fold's crowding
    and coverage (:meth:`_Examples.entry_features`, both (n_examples, n_classes))."""
    oof_scores = np.zeros((0, len(texts), n_classes))
    oof_sims = np.zeros((len(texts), n_classes))
    oof_typical = np.zeros((len(texts), n_classes))
    oof_maha = np.zeros((len(texts), n_classes))
    oof_unseen = np.zeros(len(texts))
    oof_kth = np.zeros((2, len(_KTH_KS), len(texts), n_classes))
    oof_entry = (np.zeros((len(texts), n_classes)), np.zeros((len(texts), n_classes)))
    counts = np.bincount(y, minlength=n_classes)
    k = max(2, min(folds, int(np.median(counts))))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # Entries with fewer examples than folds are expected in small KBs.
        warnings.simplefilter("ignore", UserWarning)
        splits = list(splitter.split(np.zeros(len(y)), y))
    progress.start("cross-validation folds", len(splits))
    for train, test in splits:
        enc = encoder.fresh().fit(list(texts[train]))
        xtr, xte = enc.transform(list(texts[train])), enc.transform(list(texts[test]))
        blocks = _blocks(enc, xtr.shape[1])
        if not len(oof_scores):
            oof_scores = np.full((len(blocks), len(texts), n_classes), -10.0)
        oof_scores[:, test] = _fit_scores(xtr, y[train], xte, oos, oos_weight, blocks, n_classes)
        examples = _Examples.of(xtr, y[train], n_classes, enc.dense(xtr))
        oof_sims[test], near_k = examples.nearest_k(xte)
        oof_typical[test] = examples.typical
        oof_maha[test] = examples.mahalanobis(enc.dense(xte), len(test))
        oof_unseen[test] = enc.unseen(list(texts[test]))
        oof_kth[0][:, test] = near_k
        crowd, cover = examples.entry_features(xte)
        oof_entry[0][test], oof_entry[1][test] = crowd, cover
        oof_kth[1][:, test] = examples.kth_typical[:, None, :]
        progress.advance(1)
    kth = (oof_kth[0], oof_kth[1])
    return oof_scores, oof_sims, oof_unseen, oof_typical, oof_maha, kth, oof_entry


def _calibration_weights(
    is_oos: np.ndarray, n_pseudo: int, oos_share: float | None, pseudo_share: float
) -> np.ndarray:
    """Weights of the calibration rows: the examples, then ``n_pseudo`` held-out-topic
    rows. Out-of-scope rows weigh ``oos_share`` of the whole; when there are both
    out-of-scope examples and held-out-topic rows, the latter get ``pseudo_share`` of it."""
    w = np.ones(len(is_oos) + n_pseudo)
    if oos_share is not None and (is_oos.any() or n_pseudo):
        n_in = (~is_oos).sum()
        total = oos_share * n_in / (1 - oos_share)
        own, pseudo = np.flatnonzero(is_oos), len(is_oos) + np.arange(n_pseudo)
        share = pseudo_share if len(own) and n_pseudo else float(n_pseudo > 0)
        for g, part in ((own, 1 - share), (pseudo, share)):
            if len(g):
                w[g] = total * part / len(g)
    return w


def _final_index(
    engine: str,
    encoder: Any,
    texts: list[str],
    y: np.ndarray,
    classes: list[str],
    oos_weight: float,
    fusion: Fusion,
    calibrator: tuple[Any, Any],
) -> Index:
    """The encoder and heads fitted on every example, with the ``fusion`` and the
    ``calibrator`` (as :func:`_fit_calibrator` returns it), as an index."""
    n_classes = len(classes)
    oos = classes.index(_OOS)
    encoder.fit(texts)
    x = encoder.transform(texts)
    blocks = _blocks(encoder, x.shape[1])
    coef, intercepts, cls = fit_heads(x, y, oos, oos_weight, blocks)
    full_coef = np.zeros((x.shape[1], n_classes), dtype=np.float32)
    full_int = np.full((len(blocks), n_classes), -10.0, dtype=np.float32)
    full_coef[:, cls], full_int[:, cls] = coef, intercepts
    heads, temperature = None, float(fusion.weights[0])
    if len(blocks) > 1:
        heads, temperature = Heads(blocks, fusion, full_int), 1.0
        full_coef = fuse_coef(full_coef, blocks, fusion.weights)
        full_int = (fusion.weights[:, None] * full_int).sum(0, keepdims=True, dtype=np.float32)
    if hasattr(encoder, "forget"):
        encoder.forget()
    return Index(
        engine=engine,
        encoder=encoder,
        classes=classes,
        coef=full_coef,
        intercept=full_int[0],
        temperature=temperature,
        layout=_Examples.of(sp.csr_matrix(x, dtype=np.float32), y, n_classes, encoder.dense(x)),
        calib_lr=calibrator[0],
        calib_iso=calibrator[1],
        heads=heads,
    )


def _held_out_round(
    encoder: Any,
    texts: np.ndarray,
    y: np.ndarray,
    held: np.ndarray,
    oos: int,
    n_classes: int,
    fusion: Fusion,
    oos_weight: float,
) -> np.ndarray:
    """Calibration features (m, k) of the examples of the entries ``held``, scored by a
    model fitted on every other example (:func:`_held_out_topics`)."""
    mask = np.isin(y, held)
    train, test = np.flatnonzero(~mask), np.flatnonzero(mask)
    enc = encoder.fresh().fit(list(texts[train]))
    xtr, xte = enc.transform(list(texts[train])), enc.transform(list(texts[test]))
    blocks = _blocks(enc, xtr.shape[1])
    scores = _fit_scores(xtr, y[train], xte, oos, oos_weight, blocks, n_classes)
    examples = _Examples.of(xtr, y[train], n_classes, enc.dense(xtr))
    sims, near_k = examples.nearest_k(xte)
    f, _, _ = _features(
        fusion.fused(scores),
        1.0,
        sims,
        oos,
        enc.unseen(list(texts[test])),
        examples.typical,
        examples.mahalanobis(enc.dense(xte), len(test)),
        fusion.head_logp(scores),
        (near_k, examples.kth_typical),
        examples.entry_features(xte),
    )
    return f


def _held_out_topics(
    encoder: Any,
    texts: np.ndarray,
    y: np.ndarray,
    oos: int,
    n_classes: int,
    fusion: Fusion,
    oos_weight: float,
    seed: int,
    progress: ProgressSink = NO_PROGRESS,
) -> np.ndarray:
    """Calibration features (m, k) of questions about topics the model was never taught.

    A real KB never covers everything, and the questions it misses are often close to
    what it covers (a bank's KB without "exchange rates" still gets asked about them).
    :data:`_HELD_OUT_ROUNDS` times, a random :data:`_HELD_OUT_SHARE` of the entries is
    left out of training, and their examples are scored by a model that has never seen
    those topics: what a near-miss question looks like. They all count as wrong. Empty
    for a KB with fewer than 4 entries (nothing to leave out).
    """
    entries = np.array([c for c in range(n_classes) if c != oos and (y == c).any()])
    width = _width(fusion.heads)
    if len(entries) < 4 or _HELD_OUT_ROUNDS == 0:
        return np.zeros((0, width))
    rng = np.random.default_rng(seed)
    n_out = max(1, round(len(entries) * _HELD_OUT_SHARE))
    out = []
    progress.start("held-out-topic rounds", _HELD_OUT_ROUNDS)
    for _ in range(_HELD_OUT_ROUNDS):
        held = rng.choice(entries, n_out, replace=False)
        out.append(_held_out_round(encoder, texts, y, held, oos, n_classes, fusion, oos_weight))
        progress.advance(1)
    return np.vstack(out) if out else np.zeros((0, width))


# Direction each feature may move P(right): top probability +, margin +, reject-class
# probability −, similarity to the top entry's nearest example +, to the nearest
# out-of-scope example −, share of the question's words the KB never uses −. Monotone
# constraints keep the calibrator from learning noise.
_MONOTONE = [1, 1, -1, 1, -1, -1]


def _width(heads: int) -> int:
    """Number of calibration features with ``heads`` heads (see :func:`_features`)."""
    extra = len(_KTH_KS) + min(_ENERGY, 2) + 2 * _CROWD
    return len(_MONOTONE) + _RELATIVE + _MAHALANOBIS + (heads if heads > 1 else 0) + extra


def _monotone(width: int) -> list[int]:
    """Directions of ``width`` features: :data:`_MONOTONE`, + for the relative cosine
    when :data:`_RELATIVE` is on, − for the relative Mahalanobis distance when
    :data:`_MAHALANOBIS` is on, then + for each head's log-probability of the top entry
    (a head backing the choice more never lowers P(right)), for each k-th nearest cosine
    (closer never lowers it) and for the energy and max-logit scores (higher: more
    in-distribution); with :data:`_CROWD`, − for crowding and + for coverage, last."""
    base = [*_MONOTONE, *([1] if _RELATIVE else []), *([-1] if _MAHALANOBIS else [])]
    tail = [-1, 1] if _CROWD else []
    return [*base, *[1] * (width - len(base) - len(tail)), *tail]


class _Forest:
    """A fitted binary ``HistGradientBoostingClassifier`` evaluated with numpy.

    scikit-learn's predictor starts OpenMP work per tree, ~80 ms for one row of 200 trees;
    walking all trees at once in numpy takes ~0.1 ms. Same result (no missing values or
    categorical features here): go left when ``x[feature] <= threshold``.
    """

    def __init__(self, gbm: HistGradientBoostingClassifier) -> None:
        trees = [p[0].nodes for p in gbm._predictors]
        width = max(len(t) for t in trees)
        self.feature = np.zeros((len(trees), width), dtype=np.intp)
        self.threshold = np.zeros((len(trees), width))
        self.left = np.zeros((len(trees), width), dtype=np.intp)
        self.right = np.zeros((len(trees), width), dtype=np.intp)
        self.leaf = np.ones((len(trees), width), dtype=bool)
        self.value = np.zeros((len(trees), width))
        for i, t in enumerate(trees):
            n = len(t)
            self.feature[i, :n] = t["feature_idx"]
            self.threshold[i, :n] = t["num_threshold"]
            self.left[i, :n] = t["left"]
            self.right[i, :n] = t["right"]
            self.leaf[i, :n] = t["is_leaf"].astype(bool)
            self.value[i, :n] = t["value"]
        self.depth = int(max(t["depth"].max() for t in trees))
        self.baseline = float(np.ravel(gbm._baseline_prediction)[0])

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_flat"}

    def _walk(self) -> tuple[np.ndarray, ...]:
        """The trees as flat arrays for :meth:`predict_proba` (made on first use, not
        pickled): each node's feature, threshold, left and right child as flat node
        numbers (a leaf's children are itself, so a walk that reached it stays there) and
        value, and each tree's root."""
        flat = self.__dict__.get("_flat")
        if flat is None:
            n_trees, width = self.feature.shape
            roots = np.arange(n_trees) * width
            own = np.arange(width)[None, :]
            left = np.where(self.leaf, own, self.left) + roots[:, None]
            right = np.where(self.leaf, own, self.right) + roots[:, None]
            flat = (self.feature, self.threshold, left, right, self.value, roots)
            flat = self._flat = tuple(np.ascontiguousarray(a).ravel() for a in flat)
        return flat

    def predict_proba(self, feats: np.ndarray) -> np.ndarray:
        """(n, k) features → (n,) probabilities. Every row through every tree at once:
        ``depth`` steps of (n, n_trees) lookups, so a batch of questions costs little
        more than one. Each row's leaf values are summed along a contiguous axis, as for
        one row alone, so a question gets the same bits in a batch as on its own."""
        feature, threshold, left, right, value, roots = self._walk()
        feats = np.ascontiguousarray(feats, dtype=np.float64)
        at = (np.arange(len(feats)) * feats.shape[1])[:, None]
        x = feats.ravel()
        node = np.repeat(roots[None, :], len(feats), axis=0)
        for _ in range(self.depth):
            go_left = x.take(at + feature.take(node)) <= threshold.take(node)
            node = np.where(go_left, left.take(node), right.take(node))
        out = self.baseline + value.take(node).sum(axis=1)
        return 1 / (1 + np.exp(-out))


def _fit_calibrator(feats: np.ndarray, right: np.ndarray, w: np.ndarray) -> tuple[Any, Any]:
    if right.min() == right.max():
        # Every out-of-fold example right (or every one wrong): the best honest estimate is
        # the smoothed rate (Laplace), whatever the scores say.
        return None, float((right.sum() + 1) / (len(right) + 2))
    # One OpenMP thread: with many threads on a busy 2-core machine the fit spins for
    # tens of seconds on a KB that takes a fraction of one alone.
    with threadpool_limits(limits=1, user_api="openmp"):
        gbm = _gbm(len(right), feats.shape[1]).fit(feats, right, sample_weight=w)
    return _Forest(gbm), None


def _gbm(n: int, width: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.1,
        max_leaf_nodes=15,
        min_samples_leaf=max(5, min(40, n // 50)),
        monotonic_cst=_monotone(width),
        random_state=0,
    )


def _class_scores(index: Index, x: Any) -> np.ndarray:
    """The linear scores (n, C), float64, of encoded rows ``x`` (n, F), CSR or dense: each
    row alone, in float32 with only its non-zero features' rows of ``coef``, so a question
    gets the same bits in a batch as on its own (and the candidates' order and the
    scores the analysis quotes cannot differ between the two)."""
    out = np.empty((x.shape[0], len(index.classes)))
    if _sparse(x):
        x = x.tocsr()
        data, cols, ptr = x.data.astype(np.float32), x.indices, x.indptr
        for i in range(x.shape[0]):
            s, e = ptr[i], ptr[i + 1]
            out[i] = data[s:e] @ index.coef[cols[s:e]] + index.intercept
    else:
        for i, row in enumerate(np.asarray(x, dtype=np.float32)):
            out[i] = row @ index.coef + index.intercept
    return out


def _dense32(x: Any) -> np.ndarray:
    """Encoded rows ``x`` (n, F), CSR or dense, as a dense float32 array (without scipy's
    conversions, which cost more than the copy for a few rows)."""
    if not _sparse(x):
        return np.asarray(x, dtype=np.float32)
    x = x.tocsr()
    out = np.zeros(x.shape, dtype=np.float32)
    out[np.repeat(np.arange(x.shape[0]), np.diff(x.indptr)), x.indices] = x.data
    return out


def _calibrate(index: Index, feats: np.ndarray) -> np.ndarray:
    if index.calib_lr is None:
        return np.full(len(feats), float(index.calib_iso))
    return np.clip(index.calib_lr.predict_proba(feats), 0.0, 1.0)


class RetrievalAnswerer:
    """Answers from a KB with an :class:`Index` built on it.

    ``answer(question)`` → :class:`Answer` whose ``confidence`` is the calibrated
    probability (0–1) that ``entry_id`` is the right entry; ``candidates`` are the top 5
    entries with their softmax probabilities. Thread-safe (read-only after build).
    """

    def __init__(self, kb: KnowledgeBase, index: Index) -> None:
        self.kb = kb
        self.index = index
        self.engine = index.engine
        self._entries: dict[str, KBEntry] = kb.by_id()

    def prepare(self, question: str) -> str:
        """The text that is matched: ``question`` without greetings, thanks, signatures
        and pasted logs (:func:`~handoff_server.ai.padding.question_text`), typos
        corrected against the KB's words (:class:`~handoff_server.ai.typos.TypoCorrector`)."""
        return self.index.typos.correct(question_text(question))

    def score(self, questions: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Batch scoring: (confidence (n,), top in-scope class index (n,), probs (n, C)),
        of each question as :meth:`prepare` reads it.

        Each question's numbers are computed as if it were alone (its row of the
        coefficients' product, the nearest examples of the two classes the calibration
        features read: the top entry and the reject class), so a batch gives the same
        answers as one call each, within 1e-6 (the same bits with the TF-IDF encoder),
        and neither touches every stored example."""
        ix = self.index
        questions = [self.prepare(q) for q in questions]
        x = ix.encoder.transform_rows(questions)
        scores = _class_scores(ix, x)
        oos = ix.oos_index
        masked = scores.copy()
        masked[:, oos] = -np.inf
        top = np.argmax(masked, axis=1)
        xd = _dense32(x)
        sims, near = ix.layout.nearest_top(xd, top, oos)
        feats, top, probs = _features(
            scores,
            ix.temperature,
            sims,
            oos,
            ix.encoder.unseen(questions),
            ix.layout.typical,
            ix.layout.mahalanobis(ix.encoder.dense(x), len(questions)),
            ix.heads.logp(x, ix.coef) if ix.heads else None,
            (near, ix.layout.kth_typical),
            ix.layout.entry_features(x),
        )
        return _calibrate(ix, feats), top, probs

    def vectors(self, texts: list[str]) -> Any:
        """The engine's own representation of ``texts``, the one it retrieves with: one
        unit-norm row per text (a scipy sparse matrix or a numpy array)."""
        return self.index.encoder.transform(texts)

    def answer(self, question: str) -> Answer:
        """Answer one visitor question. Raises :class:`AnswererError` if scoring fails."""
        return self._answers([question])[0]

    def answer_many(self, questions: Sequence[str]) -> list[Answer]:
        """Answer several questions with one batched :meth:`score`: the same answers as
        :meth:`answer` one by one (entries, candidates, analysis; confidences within
        1e-6), in the order given, for less CPU per question
        (``benchmarks/bench_answer_batch.py``). Empty for no questions. Raises
        :class:`AnswererError` if scoring fails (for any of them)."""
        return self._answers(list(questions)) if questions else []

    def _answers(self, questions: list[str]) -> list[Answer]:
        try:
            conf, top, probs = self.score(questions)
        except Exception as exc:  # the server turns this into an ai_error handoff
            # The exception's text is for the server log (the turn logs this error with
            # its cause); agents read a plain reason in the handoff packet.
            raise AnswererError(
                f"the {self.engine} engine failed on this question (an internal error; "
                "the server log has the details)"
            ) from exc
        return [
            self._answer_of(float(c), int(t), p) for c, t, p in zip(conf, top, probs, strict=True)
        ]

    def _answer_of(self, confidence: float, top: int, p: np.ndarray) -> Answer:
        """The :class:`Answer` for one scored question: its calibrated ``confidence``, top
        in-scope class ``top`` and class probabilities ``p`` (C,), as :meth:`score` gives
        them. Raises :class:`AnswererError` when the index names an entry the KB lacks."""
        ix = self.index
        p_in = p.copy()
        p_in[ix.oos_index] = -1.0
        order = np.argsort(-p_in)[: min(_TOP_K, len(p) - 1)]
        cands = []
        for c in order:
            eid = ix.classes[c]
            entry = self._entries.get(eid)
            cands.append(
                Candidate(entry_id=eid, title=entry.title if entry else eid, score=float(p[c]))
            )
        best = self._entries.get(ix.classes[top])
        if best is None:
            raise AnswererError(f"index is out of date: no entry {ix.classes[top]!r}")
        p_oos = float(p[ix.oos_index])
        p_top = float(p[top])
        # Each entry is quoted with its model score, the number the candidate list shows
        # for it; the calibrated confidence (a different number) belongs to the answer.
        if p_oos > p_top:
            analysis = (
                f"Looks outside the knowledge base (out-of-scope model score {p_oos:.2f}); "
                f"nearest entry '{best.title}' (model score {p_top:.2f})."
            )
        else:
            runner = (
                f"; runner-up '{cands[1].title}' (model score {cands[1].score:.2f})"
                if len(cands) > 1
                else ""
            )
            analysis = f"Visitor likely wants '{best.title}' (model score {p_top:.2f}{runner})."
        return Answer(
            text=best.answer,
            confidence=min(1.0, max(0.0, confidence)),
            entry_id=best.id,
            sources=[best.id],
            candidates=cands,
            analysis=analysis,
            entry_escalate=best.escalate,
            team=best.team,
        )
