"""Answerers: question → Answer with a calibrated confidence.

:func:`make_answerer` is the one entry point: ``make_answerer(kb, engine, cache_dir)``.
"""

from handoff_server.ai.base import Answer, Answerer, AnswererError, Candidate
from handoff_server.ai.encoders import embeddings_available
from handoff_server.ai.factory import ENGINES, make_answerer
from handoff_server.ai.retrieval import RetrievalAnswerer

__all__ = [
    "ENGINES",
    "Answer",
    "Answerer",
    "AnswererError",
    "Candidate",
    "RetrievalAnswerer",
    "embeddings_available",
    "make_answerer",
]
