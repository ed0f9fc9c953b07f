"""A streaming Chat Completions client on ``httpx``.

Plain ``httpx`` rather than the ``openai`` package: the project already makes every
outbound call with httpx (webhooks), it adds no dependency, and reading the server-sent
events ourselves lets us refuse a malformed stream with a precise reason and read
``logprobs`` and ``usage`` the same way from OpenAI, Ollama, vLLM and llama.cpp's
server, which differ in the optional fields they send.

Wire format: ``POST {base_url}/chat/completions`` with ``stream: true``; the answer is
``data: {json}`` lines (server-sent events), each with ``choices[0].delta.content``,
optionally ``choices[0].logprobs.content[].logprob`` and ``usage`` (asked for with
``stream_options.include_usage``), ended by ``data: [DONE]``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from handoff_server.ai.llm.settings import LLMSettings
from handoff_server.errors import AnswererError

__all__ = ["ChatClient", "Completion", "ModelError"]


class ModelError(AnswererError):
    """The model server failed: ``reason`` is one of ``timeout``, ``http_error``,
    ``malformed_stream``, ``refusal``, ``truncated``, ``connect_failed``; the message
    says more (for the agent)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass
class Completion:
    """A finished answer: ``text``; ``token_logprobs`` (each generated token with its
    natural-log probability; empty when the server sent none); ``prompt_tokens``/``completion_tokens``
    (from ``usage``, else estimated at 4 characters a token: ``usage_estimated``);
    ``finish_reason``; ``seconds`` (wall time of the request)."""

    text: str = ""
    token_logprobs: list[tuple[str, float]] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_estimated: bool = False
    finish_reason: str | None = None
    seconds: float = 0.0


class ChatClient:
    """One long-lived ``httpx.Client`` to one server, for the worker threads answering.

    ``settings``: the ``[ai.llm]`` section. ``transport``: an httpx transport for tests
    (``None``: the network)."""

    def __init__(self, settings: LLMSettings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        headers = {"Accept": "text/event-stream"}
        key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        timeout = httpx.Timeout(
            settings.read_timeout_seconds, connect=settings.connect_timeout_seconds
        )
        self._http = httpx.Client(
            base_url=settings.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def complete(
        self, messages: list[dict[str, str]], on_delta: Callable[[str], None] | None = None
    ) -> Completion:
        """Stream one completion of ``messages``; ``on_delta(text_so_far)`` after each
        chunk with text. Raises :class:`ModelError` (never another exception for a
        server's failure) when the request fails, times out
        (``total_timeout_seconds``), the stream is malformed or ends early, the model
        refuses or its answer is cut at ``max_tokens``."""
        s = self.settings
        body: dict[str, Any] = {
            "model": s.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
        }
        if s.logprobs:
            body["logprobs"] = True
        started = time.monotonic()
        out = Completion()
        try:
            with self._http.stream("POST", "chat/completions", json=body) as resp:
                if resp.status_code != 200:
                    resp.read()
                    raise ModelError("http_error", f"HTTP {resp.status_code} from the model server")
                _read_stream(resp, out, started + s.total_timeout_seconds, on_delta)
        except httpx.TimeoutException as exc:
            raise ModelError("timeout", f"no answer in time ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            # The exception's own text (addresses, errno) is for the server log, which
            # gets it as this error's cause; agents read a plain reason.
            raise ModelError(
                "connect_failed", f"the model server could not be reached ({type(exc).__name__})"
            ) from exc
        out.seconds = time.monotonic() - started
        if not out.prompt_tokens and not out.completion_tokens:
            out.usage_estimated = True
            out.prompt_tokens = sum(len(m["content"]) for m in messages) // 4
            out.completion_tokens = len(out.text) // 4
        _check_finish(out)
        return out


def _read_stream(
    resp: httpx.Response,
    out: Completion,
    deadline: float,
    on_delta: Callable[[str], None] | None,
) -> None:
    done = False
    for line in resp.iter_lines():
        if time.monotonic() > deadline:
            raise ModelError("timeout", "the answer took longer than total_timeout_seconds")
        if not line.startswith("data:"):
            continue  # blank separators, comments (":"), "event:" and "id:" fields
        payload = line[5:].strip()
        if payload == "[DONE]":
            done = True
            break
        try:
            chunk = json.loads(payload)
        except json.JSONDecodeError:
            raise ModelError("malformed_stream", "a chunk is not JSON") from None
        if _apply_chunk(chunk, out) and on_delta is not None:
            on_delta(out.text)
    if not done and out.finish_reason is None:
        raise ModelError("malformed_stream", "the stream ended before the answer did")


def _apply_chunk(chunk: Any, out: Completion) -> bool:
    """Add one chunk to ``out``; True when it added text."""
    if not isinstance(chunk, dict):
        raise ModelError("malformed_stream", "a chunk is not a JSON object")
    if "error" in chunk:
        raise ModelError("http_error", f"the server reported an error: {chunk['error']!r:.200}")
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        out.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        out.completion_tokens = int(usage.get("completion_tokens") or 0)
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        raise ModelError("malformed_stream", "a chunk has no choices list")
    if not choices:
        return False  # the usage-only chunk
    choice = choices[0]
    delta = choice.get("delta") if isinstance(choice, dict) else None
    if not isinstance(delta, dict):
        raise ModelError("malformed_stream", "a choice has no delta object")
    if delta.get("refusal"):
        raise ModelError("refusal", "the model refused to answer")
    logprobs = choice.get("logprobs")
    if isinstance(logprobs, dict):
        for tok in logprobs.get("content") or []:
            if isinstance(tok, dict) and isinstance(tok.get("logprob"), int | float):
                out.token_logprobs.append((str(tok.get("token", "")), float(tok["logprob"])))
    if choice.get("finish_reason"):
        out.finish_reason = str(choice["finish_reason"])
    content = delta.get("content")
    if content is None:
        return False
    if not isinstance(content, str):
        raise ModelError("malformed_stream", "delta.content is not a string")
    out.text += content
    return bool(content)


def _check_finish(out: Completion) -> None:
    if out.finish_reason == "length":
        raise ModelError("truncated", "the answer was cut at max_tokens")
    if out.finish_reason == "content_filter":
        raise ModelError("refusal", "the server's content filter stopped the answer")
