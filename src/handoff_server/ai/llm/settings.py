"""The ``[ai.llm]`` settings: which Chat Completions server, how long, how much.

Kept in the ``ai`` package (plain pydantic, no server imports) so the engine can read
its settings without importing :mod:`handoff_server.config` (which imports the
escalation policy, which the ``ai`` package may not); ``config.py`` nests this model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LLMSettings", "PIIKind"]

PIIKind = Literal["email", "phone", "card"]
_ALL_PII: tuple[PIIKind, ...] = ("email", "phone", "card")


class LLMSettings(BaseModel):
    """How the ``llm`` engine reaches an OpenAI-compatible Chat Completions server."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = "http://127.0.0.1:11434/v1"
    """The API root; ``/chat/completions`` is appended (Ollama's default shown)."""
    model: str = "llama3.2"
    """The model name the server knows."""
    api_key_env: str | None = None
    """Name of the environment variable holding the API key (sent as a Bearer token);
    unset sends none (local servers)."""
    retrieval_engine: str = "default"
    """The retrieval engine whose candidates and calibrated confidence come first."""
    top_k: int = Field(default=3, ge=1, le=10)
    """Retrieved entries listed in the prompt."""
    max_tokens: int = Field(default=400, ge=16, le=8192)
    """Most tokens the model may write; an answer cut at this limit escalates."""
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    connect_timeout_seconds: float = Field(default=3.0, gt=0)
    """Time to open the connection."""
    read_timeout_seconds: float = Field(default=10.0, gt=0)
    """Longest silence between two chunks of the stream."""
    total_timeout_seconds: float = Field(default=8.0, gt=0)
    """Time the whole answer may take; keep it under ``server.ai_timeout_seconds`` so the
    engine gives up (and says why) before the turn's own limit."""
    logprobs: bool = True
    """Ask for token log-probabilities (servers that refuse the field: set false)."""
    redact: list[PIIKind] = Field(default_factory=lambda: list(_ALL_PII))
    """Personal data replaced by a placeholder before the question leaves the machine."""
    phone_region: str = "US"
    """Region (ISO 3166 alpha-2) for phone numbers written without a ``+`` country code."""
    fallback: Literal["escalate", "retrieval"] = "escalate"
    """When the model fails (time-out, HTTP error, refusal, bad citations): escalate with
    ``ai_error``, or answer with the retrieval engine's answer and confidence."""
    input_usd_per_million_tokens: float = Field(default=0.0, ge=0)
    """Price of prompt tokens, for the cost recorded per answer (0: free or unknown)."""
    output_usd_per_million_tokens: float = Field(default=0.0, ge=0)
    """Price of generated tokens."""
    calibration_file: Path | None = None
    """A calibration JSON written by ``benchmarks/bench_llm_calibration.py --write``;
    unset uses the one shipped (fitted on the demo KB with the scripted model)."""
