"""The answerer the configuration names, for a KB: the one place the engine is built,
for the server's start and the operator's reindex alike."""

from __future__ import annotations

from handoff_server.ai import make_answerer
from handoff_server.ai.base import Answerer
from handoff_server.config import Settings, index_cache_dir
from handoff_server.kb.models import KnowledgeBase
from handoff_server.progress import NO_PROGRESS, ProgressSink

__all__ = ["configured_answerer", "index_engine"]


def configured_answerer(
    kb: KnowledgeBase, settings: Settings, progress: ProgressSink = NO_PROGRESS
) -> Answerer:
    """The configured engine (``[ai] engine``) for ``kb``,
    its index cached in :func:`~handoff_server.config.index_cache_dir` (``llm``: the
    model over its retrieval engine's index). Raises
    :class:`~handoff_server.errors.UnknownEngine` for an unknown engine."""
    cache_dir = index_cache_dir(settings)
    if settings.ai.engine == "llm":
        from handoff_server.ai.llm import make_llm_answerer

        return make_llm_answerer(kb, settings.ai.llm, cache_dir, progress=progress)
    return make_answerer(kb, settings.ai.engine, cache_dir, progress)


def index_engine(settings: Settings) -> str:
    """The engine whose index the configured answerer builds (``llm``: its retrieval's)."""
    if settings.ai.engine == "llm":
        return settings.ai.llm.retrieval_engine
    return settings.ai.engine
