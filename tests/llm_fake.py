"""A deterministic scripted Chat Completions server, for tests and the calibration
benchmark (``benchmarks/bench_llm_calibration.py``).

:class:`ScriptedModelServer` is a real HTTP server on an ephemeral port (a thread of
its own) speaking the wire format the ``llm`` engine uses: ``POST /v1/chat/completions``
with ``stream: true`` answered as server-sent events (``data: {chunk}`` lines, then
``data: [DONE]``), each chunk carrying ``choices[0].delta.content`` and, when asked for,
``choices[0].logprobs.content`` (one token per chunk), and a last usage chunk. It keeps
every request body it received (``requests``) so tests can read what left the machine.

What it answers is a :data:`Script`: a function of the parsed prompt returning a
:class:`Reply`. :func:`scripted_answer` is the deterministic stand-in model of the
benchmark: it reads the entries the prompt lists and, by a hash of the question, writes
a faithful copy of the first entry (70%), a paraphrase of it (10%), a copy of the second
entry (10%) or a copy with an invented sentence (10%). Its log-probabilities follow a
stated assumption (copied words likelier than new ones), not a real model.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Prompt", "Reply", "ScriptedModelServer", "parse_prompt", "scripted_answer"]


@dataclass
class Prompt:
    """The parts of a request the scripts read: ``entries`` (id, title, text) in the
    order listed, the visitor's ``question`` and the whole ``body``."""

    entries: list[tuple[str, str, str]]
    question: str
    body: dict[str, Any]


@dataclass
class Reply:
    """What the server sends: ``tokens`` as ``(text, logprob)`` (one chunk each);
    ``status`` (not 200: an error body instead of a stream); ``delay`` seconds before
    the first chunk and ``token_delay`` between chunks; ``raw`` lines sent instead of the
    tokens (a malformed stream); ``finish_reason``; ``kind`` (what the benchmark's
    script wrote: ``faithful``, ``paraphrase``, ``other_entry``, ``invented``)."""

    tokens: list[tuple[str, float]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    token_delay: float = 0.0
    raw: list[str] | None = None
    finish_reason: str = "stop"
    kind: str = "faithful"


Script = Callable[[Prompt], Reply]

_ENTRY = re.compile(r"^\[([^\]\s]+)\] (.*)$")


def parse_prompt(body: dict[str, Any]) -> Prompt:
    """The entries and question of a request built by
    :func:`handoff_server.ai.llm.prompt.build_messages`."""
    user = body["messages"][-1]["content"]
    head, _, tail = user.partition("Visitor's question (quoted data):\n<<<\n")
    question = tail.rsplit("\n>>>", 1)[0]
    entries: list[tuple[str, str, str]] = []
    for block in head.removeprefix("Knowledge base entries:\n\n").strip().split("\n\n["):
        block = block if block.startswith("[") else "[" + block
        first, _, text = block.partition("\n")
        m = _ENTRY.match(first)
        if m:
            entries.append((m.group(1), m.group(2), text.strip()))
    return Prompt(entries=entries, question=question, body=body)


def _sentences(text: str, n: int) -> list[str]:
    parts = [p.strip() for p in re.split(r"(?<=[.!?])\s+|\n+", text) if len(p.split()) >= 4]
    return parts[:n] or [text.strip()]


def tokens_of(text: str, logprob: float | Callable[[str], float]) -> list[tuple[str, float]]:
    """``text`` cut into word tokens (each with its trailing space), each with
    ``logprob`` (or ``logprob(token)``)."""
    pieces = re.findall(r"\S+\s*", text)
    return [(p, logprob(p) if callable(logprob) else logprob) for p in pieces]


def cited(sentences: list[str], entry_id: str) -> str:
    """The sentences, each followed by ``[entry_id]``."""
    return " ".join(f"{s.rstrip('.')} [{entry_id}]." for s in sentences)


_SYNONYMS = {
    "click": "press",
    "choose": "pick",
    "account": "profile",
    "email": "e-mail",
    "open": "launch",
    "go": "head",
    "your": "the",
    "select": "tap",
    "we": "our team",
    "send": "deliver",
    "change": "update",
    "wait": "hold on",
}


def _paraphrase(sentence: str) -> str:
    return " ".join(_SYNONYMS.get(w.lower(), w) for w in sentence.split())


def _bucket(question: str) -> int:
    return int(hashlib.sha256(question.encode()).hexdigest()[:8], 16) % 10


def scripted_answer(prompt: Prompt) -> Reply:
    """The benchmark's stand-in model (deterministic: the same prompt, the same reply)."""
    if not prompt.entries:
        return Reply(tokens=tokens_of("NO_ANSWER", -0.1), kind="refusal")
    bucket = _bucket(prompt.question)
    eid, _, text = prompt.entries[0]
    if bucket == 7 and len(prompt.entries) > 1:
        eid, _, text = prompt.entries[1]
        return Reply(tokens=tokens_of(cited(_sentences(text, 2), eid), -0.15), kind="other_entry")
    sents = _sentences(text, 2)
    if bucket == 8:
        para = cited([_paraphrase(s) for s in sents], eid)
        return Reply(tokens=tokens_of(para, -0.6), kind="paraphrase")
    if bucket == 9:
        made_up = "You also get a free month of service and a 30% discount when you ask"
        body = cited(sents, eid) + " " + cited([made_up], eid)
        n_copy = len(tokens_of(cited(sents, eid) + " ", 0.0))
        toks = tokens_of(body, -0.15)
        toks = toks[:n_copy] + [(t, -1.6) for t, _ in toks[n_copy:]]
        return Reply(tokens=toks, kind="invented")
    return Reply(tokens=tokens_of(cited(sents, eid), -0.15), kind="faithful")


class ScriptedModelServer:
    """A Chat Completions server answering with ``script`` (default
    :func:`scripted_answer`). ``with ScriptedModelServer() as srv:`` starts it on
    127.0.0.1, port 0; ``srv.base_url`` is its ``/v1`` root; ``srv.requests`` the bodies
    received; ``srv.script`` may be replaced between requests."""

    def __init__(self, script: Script = scripted_answer) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.replies: list[Reply] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                reply = outer.script(parse_prompt(body))
                outer.replies.append(reply)
                time.sleep(reply.delay)
                if reply.status != 200:
                    err = json.dumps({"error": {"message": "scripted failure"}}).encode()
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(err)))
                    self.end_headers()
                    self.wfile.write(err)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for line in reply.raw or _sse(reply, bool(body.get("logprobs"))):
                        self.wfile.write(line.encode() + b"\n\n")
                        self.wfile.flush()
                        time.sleep(reply.token_delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        return Handler


def _sse(reply: Reply, logprobs: bool) -> list[str]:
    def chunk(delta: dict[str, Any], finish: str | None, lp: list[Any] | None) -> str:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
        if lp is not None:
            choice["logprobs"] = {"content": lp}
        return "data: " + json.dumps(
            {"id": "cmpl-1", "object": "chat.completion.chunk", "choices": [choice]}
        )

    lines = [chunk({"role": "assistant", "content": ""}, None, None)]
    for text, lp in reply.tokens:
        lines.append(
            chunk({"content": text}, None, [{"token": text, "logprob": lp}] if logprobs else None)
        )
    lines.append(chunk({}, reply.finish_reason, None))
    n = len(reply.tokens)
    usage = {"prompt_tokens": 400, "completion_tokens": n, "total_tokens": 400 + n}
    lines.append("data: " + json.dumps({"id": "cmpl-1", "choices": [], "usage": usage}))
    lines.append("data: [DONE]")
    return lines
