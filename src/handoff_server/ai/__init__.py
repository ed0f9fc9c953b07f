"""Answerers: question → Answer with a calibrated confidence.

:func:`make_answerer` is the one entry point: ``make_answerer(kb, engine, cache_dir)``.
"""

from typing import TYPE_CHECKING

from handoff_server.ai.base import Answer, Answerer, Candidate
from handoff_server.lazy import lazy_names

if TYPE_CHECKING:
    from handoff_server.ai.encoders import embeddings_available
    from handoff_server.ai.factory import ENGINES, make_answerer
    from handoff_server.ai.retrieval import RetrievalAnswerer

__all__ = [
    "ENGINES",
    "Answer",
    "Answerer",
    "Candidate",
    "RetrievalAnswerer",
    "embeddings_available",
    "make_answerer",
]

_LAZY = {
    "ENGINES": "handoff_server.ai.factory",
    "make_answerer": "handoff_server.ai.factory",
    "RetrievalAnswerer": "handoff_server.ai.retrieval",
    "embeddings_available": "handoff_server.ai.encoders",
}


# The engines pull in scikit-learn and scipy (a second or more to import); the contract
# models above do not, so the CLI and the protocol stay quick to load.
__getattr__ = lazy_names(__name__, _LAZY)
