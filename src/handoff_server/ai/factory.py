"""Choose an engine, build its index or load it from the on-disk cache."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handoff_server.ai.base import Answerer
from handoff_server.ai.courtesy_layer import CourtesyAnswerer
from handoff_server.ai.index_cache import cache_key, cache_path, load_or_build
from handoff_server.errors import UnknownEngine
from handoff_server.kb.models import KnowledgeBase
from handoff_server.progress import NO_PROGRESS, ProgressSink

if TYPE_CHECKING:
    from handoff_server.ai.retrieval import Index

# scikit-learn, scipy, joblib (and torch for the embeddings engines) are imported where
# an index is built or loaded, not here: listing engines must stay cheap for the CLI.

__all__ = [
    "ENGINES",
    "INDEX_VERSION",
    "index_key",
    "index_path",
    "load_or_build_index",
    "make_answerer",
]

INDEX_VERSION = "15"
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
    """Hex SHA-256 of everything the index depends on: the KB's entries, the engine, the
    package version, this module's :data:`INDEX_VERSION` and the scikit-learn version
    (pickles are not portable across it). See :func:`~handoff_server.ai.index_cache.cache_key`."""
    return cache_key(kb, _engine(engine), extra=_format_versions())


def index_path(kb: KnowledgeBase, engine: str, cache_dir: Path) -> Path:
    """The file :func:`load_or_build_index` keeps ``kb``'s index for ``engine`` in."""
    return cache_path(kb, _engine(engine), cache_dir, extra=_format_versions())


def _format_versions() -> dict[str, str]:
    import sklearn

    return {"index": INDEX_VERSION, "sklearn": sklearn.__version__}


def load_or_build_index(
    kb: KnowledgeBase,
    engine: str = "default",
    cache_dir: Path | None = None,
    progress: ProgressSink = NO_PROGRESS,
) -> tuple[Index, bool]:
    """The index for ``kb`` and ``engine``: from ``cache_dir`` when a file with the KB's
    :func:`index_key` is there, else built (and saved there, atomically; see
    :mod:`~handoff_server.ai.index_cache` for which files are trusted). Returns
    ``(index, loaded_from_cache)``. A cache file that fails to load is rebuilt.
    ``progress`` hears about each step of a build (folds, rounds, embedding batches,
    writing the file).

    Raises :class:`~handoff_server.errors.UnknownEngine` for an unknown engine, ``ImportError`` when the engine's extra
    is missing, :class:`~handoff_server.errors.AnswererError` for a KB with nothing to
    answer.
    """
    from handoff_server.ai.retrieval import Index, build_index

    name = _engine(engine)
    built = False

    def build() -> Index:
        nonlocal built
        built = True
        return build_index(kb, name, ENGINES[name](), progress=progress)

    index = load_or_build(
        kb,
        name,
        cache_dir,
        build,
        expect=Index,
        extra=_format_versions(),
        progress=progress,
    )
    return index, not built


def make_answerer(
    kb: KnowledgeBase,
    engine: str = "default",
    cache_dir: Path | None = None,
    progress: ProgressSink = NO_PROGRESS,
) -> Answerer:
    """An :class:`~handoff_server.ai.base.Answerer` for ``kb``: the engine, behind the
    courtesy layer (:class:`~handoff_server.ai.courtesy_layer.CourtesyAnswerer`: a thanks
    or a hello gets a short reply, not a KB match).

    ``engine``: a name in :data:`ENGINES`. ``cache_dir``: folder for built indexes (keyed
    by :func:`index_key`, so editing the KB invalidates them); ``None`` builds in memory.
    Raises :class:`~handoff_server.errors.UnknownEngine` for an unknown engine, ``ImportError`` when the engine needs the
    ``embeddings`` extra and it is not installed. ``progress``: see
    :func:`load_or_build_index`.
    """
    from handoff_server.ai.retrieval import RetrievalAnswerer

    index, _ = load_or_build_index(kb, engine, cache_dir, progress)
    return CourtesyAnswerer(RetrievalAnswerer(kb, index))
