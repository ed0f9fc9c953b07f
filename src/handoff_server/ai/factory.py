"""Choose an engine, build its index or load it from the on-disk cache."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handoff_server.ai.base import Answerer
from handoff_server.ai.courtesy_layer import CourtesyAnswerer
from handoff_server.ai.index_cache import IndexCache
from handoff_server.errors import UnknownEngine
from handoff_server.kb.models import KnowledgeBase

if TYPE_CHECKING:
    from handoff_server.ai.retrieval import Index

# scikit-learn, scipy, joblib (and torch for the embeddings engines) are imported where
# an index is built or loaded, not here: listing engines must stay cheap for the CLI.

__all__ = ["ENGINES", "INDEX_VERSION", "index_key", "load_or_build_index", "make_answerer"]

log = logging.getLogger(__name__)

INDEX_VERSION = "13"
"""Bumped whenever training or the index layout changes, so old caches are ignored."""


def _encoder(name: str) -> Callable[[], Any]:
    def make() -> Any:
        from handoff_server.ai import encoders

        return getattr(encoders, name)()

    return make


ENGINES: dict[str, Callable[[], Any]] = {
    "default": _encoder("TfidfEncoder"),
    "tfidf": _encoder("TfidfEncoder"),
    "embeddings": _encoder("CombinedEncoder"),
    "minilm": _encoder("MiniLMEncoder"),
}
"""Engine name → encoder factory. ``default`` = ``tfidf`` (CPU, no download);
``embeddings`` = TF-IDF + MiniLM combined; ``minilm`` = MiniLM alone. The last two need
the ``embeddings`` extra."""

_CANONICAL = {"default": "tfidf"}


def _engine(name: str) -> str:
    if name not in ENGINES:
        raise UnknownEngine(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
    return _CANONICAL.get(name, name)


def index_key(kb: KnowledgeBase, engine: str) -> str:
    """Hex SHA-256 of everything the index depends on: the KB's entries, the engine, this
    module's :data:`INDEX_VERSION` and the scikit-learn version (pickles are not portable
    across it)."""
    import sklearn

    payload = {
        "engine": _engine(engine),
        "version": INDEX_VERSION,
        "sklearn": sklearn.__version__,
        "entries": [[e.id, e.title, e.questions, e.answer, e.out_of_scope] for e in kb.entries],
    }
    raw = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()


def load_or_build_index(
    kb: KnowledgeBase, engine: str = "default", cache_dir: Path | None = None
) -> tuple[Index, bool]:
    """The index for ``kb`` and ``engine``: from ``cache_dir`` when a file with the KB's
    :func:`index_key` is there, else built (and saved there, atomically, see
    :class:`~handoff_server.ai.index_cache.IndexCache`). Returns
    ``(index, loaded_from_cache)``. A cache file that fails to load is rebuilt; one that
    cannot be written is skipped.

    Raises :class:`~handoff_server.errors.UnknownEngine` for an unknown engine, ``ImportError`` when the engine's extra
    is missing, :class:`~handoff_server.errors.AnswererError` for a KB with nothing to
    answer.
    """
    from handoff_server.ai.retrieval import build_index

    name = _engine(engine)
    cache = IndexCache(Path(cache_dir)) if cache_dir is not None else None
    key = index_key(kb, name) if cache is not None else ""
    if cache is not None:
        cached = cache.load(name, key)
        if cached is not None:
            return cached, True
    index = build_index(kb, name, ENGINES[name]())
    if cache is not None:
        cache.save(name, key, index)
    return index, False


def make_answerer(
    kb: KnowledgeBase, engine: str = "default", cache_dir: Path | None = None
) -> Answerer:
    """An :class:`~handoff_server.ai.base.Answerer` for ``kb``: the engine, behind the
    courtesy layer (:class:`~handoff_server.ai.courtesy_layer.CourtesyAnswerer`: a thanks
    or a hello gets a short reply, not a KB match).

    ``engine``: a name in :data:`ENGINES`. ``cache_dir``: folder for built indexes (keyed
    by :func:`index_key`, so editing the KB invalidates them); ``None`` builds in memory.
    Raises :class:`~handoff_server.errors.UnknownEngine` for an unknown engine, ``ImportError`` when the engine needs the
    ``embeddings`` extra and it is not installed.
    """
    from handoff_server.ai.retrieval import RetrievalAnswerer

    index, _ = load_or_build_index(kb, engine, cache_dir)
    return CourtesyAnswerer(RetrievalAnswerer(kb, index))
