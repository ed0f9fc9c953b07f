"""The ``llm`` engine: answers written by an OpenAI-compatible model from the retrieved
KB entries, with a confidence the model cannot talk up (``docs/ai.md``).

:func:`make_llm_answerer` builds it; :class:`LLMSettings` is the ``[ai.llm]`` section.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from handoff_server.ai.llm.settings import LLMSettings

if TYPE_CHECKING:
    from handoff_server.ai.base import Answerer
    from handoff_server.ai.llm.client import ChatClient
    from handoff_server.kb.models import KnowledgeBase

__all__ = ["LLMSettings", "make_llm_answerer"]


def make_llm_answerer(
    kb: KnowledgeBase,
    settings: LLMSettings,
    cache_dir: Path | None = None,
    client: ChatClient | None = None,
) -> Answerer:
    """The ``llm`` engine for ``kb`` behind the courtesy layer: retrieval with
    ``settings.retrieval_engine`` (its index cached in ``cache_dir``), answers by the
    model at ``settings.base_url``. Raises what
    :func:`~handoff_server.ai.factory.make_answerer` raises, and ``OSError``/
    ``ValueError`` for an unreadable ``calibration_file``."""
    from handoff_server.ai.courtesy_layer import CourtesyAnswerer, without_courtesy
    from handoff_server.ai.factory import make_answerer
    from handoff_server.ai.llm.answerer import LLMAnswerer

    retrieval = without_courtesy(make_answerer(kb, settings.retrieval_engine, cache_dir))
    return CourtesyAnswerer(LLMAnswerer(kb, retrieval, settings, client=client))
