"""Answerers: question → Answer with a calibrated confidence."""

from handoff_server.ai.base import Answer, Answerer, AnswererError, Candidate

__all__ = ["Answer", "Answerer", "AnswererError", "Candidate"]
