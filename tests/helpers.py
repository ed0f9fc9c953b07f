"""Small helpers for protocol tests."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from handoff_server.ai.base import Answer, Answerer
from handoff_server.client import Connection, connect_agent, connect_visitor, new_client_msg_id
from handoff_server.protocol import (
    APresence,
    SAck,
    SAuthenticated,
    SError,
    SEvent,
    SStaff,
    SWelcome,
    VisitorInfo,
    VMessage,
    VStart,
)

ANSWERED_QUESTIONS = [
    "why do my colleagues see the new website while I still get the old version",
    "where in the panel can I add records to my DNS zone",
    "where do I put the verification string from Microsoft",
    "how do I set up an email account for a new employee",
    "what hostname and port do I put for outgoing mail",
    "which incoming server should Thunderbird use",
    "can I give my mailbox more space",
    "my email account has run out of storage",
    "the panel says my certificate and private key don't match",
    "I need a proper tax invoice for my business expenses",
    "I need to get the database back to how it was last night",
]
"""Questions the demo engine answers without a handoff (an ``ai_message``), one turn each."""


async def start_visitor(url: str, **visitor: Any) -> tuple[Connection, SWelcome]:
    """Connect a visitor and start a conversation; returns the connection and welcome
    (the ``conversation_started`` event has been read)."""
    conn = await connect_visitor(url)
    await conn.send(VStart(type="start", visitor=VisitorInfo(**visitor)))
    welcome = await conn.recv(timeout=10)
    assert isinstance(welcome, SWelcome), welcome
    started = await conn.recv(timeout=10)
    assert isinstance(started, SEvent) and started.event.kind == "conversation_started"
    return conn, welcome


async def say(
    conn: Connection, text: str, client_msg_id: str | None = None, *, ai_expected: bool = True
) -> list[Any]:
    """Send a visitor message and read until its outcome: the AI's answer or the handoff
    (``ai_expected``), else just the ack; or an error for it."""
    cmid = client_msg_id or new_client_msg_id()
    await conn.send(VMessage(type="message", client_msg_id=cmid, text=text))
    frames: list[Any] = []
    acked = False
    while True:
        frame = await conn.recv(timeout=15)
        frames.append(frame)
        if isinstance(frame, SError) and frame.client_msg_id == cmid:
            return frames
        if isinstance(frame, SAck) and frame.client_msg_id == cmid:
            acked = True
            if frame.duplicate or not ai_expected:
                return frames
        if acked and isinstance(frame, SEvent) and frame.event.kind in ("ai_message", "escalated"):
            return frames


async def wait_ack(conn: Connection, cmid: str) -> list[Any]:
    """Read until the ack (or error) for ``cmid``."""
    return await conn.recv_until(
        lambda f: isinstance(f, SAck | SError) and f.client_msg_id == cmid, timeout=10
    )


def events(frames: list[Any], kind: str | None = None) -> list[Any]:
    """The events among ``frames`` (of ``kind``)."""
    return [
        f.event for f in frames if isinstance(f, SEvent) and (kind is None or f.event.kind == kind)
    ]


async def agent(url: str, token: str) -> Connection:
    """Connect and authenticate an agent."""
    conn = await connect_agent(url, token)
    frame = await conn.recv(timeout=10)
    assert isinstance(frame, SAuthenticated), frame
    return conn


async def online_agent(url: str, token: str) -> Connection:
    """Connect and authenticate an agent who then says ``presence`` online, as the agent
    UI does on connecting: only then do they count as online (for wait estimates, the
    queue gate, waiting work and offers). Returns after the ``staff`` answer."""
    conn = await agent(url, token)
    await conn.send(APresence(type="presence", status="online"))
    await conn.recv_until(lambda f: isinstance(f, SStaff))
    return conn


def start_serve(data_dir: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """Run ``handoff serve --port 0`` in a subprocess; returns it and its ws:// URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "handoff_cli",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--log-level",
            "WARNING",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(r"listening on (ws://\S+)", line)
        if m:
            return proc, m.group(1)
    raise AssertionError(f"server did not start: {proc.wait()}")


def serve_logging(
    data_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str, list[str]]:
    """Run ``handoff serve --port 0 EXTRA`` in a subprocess with ``env`` added to a
    HANDOFF_-free environment; returns it, its ws:// URL and its output lines (stdout and
    the log), which a thread keeps reading to the end. Raises AssertionError (with the
    output) when it does not listen within 180 s."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "handoff_cli", "serve", "--port", "0"]
        + ["--data-dir", str(data_dir), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**clean, **(env or {})},
    )
    lines: list[str] = []
    url: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"listening on (ws://\S+)", line)
            if m and not url:
                url.append(m.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    ready.wait(180)
    assert url, "".join(lines)
    return proc, url[0], lines


async def run_handoff(
    *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``handoff ARGS`` as a separate process from an async test (the event loop,
    and any server it runs, keeps going); returns its exit status and output."""
    import asyncio

    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handoff_cli", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(
        proc.communicate(stdin.encode() if stdin is not None else None), timeout
    )
    return subprocess.CompletedProcess(
        list(args),
        proc.returncode or 0,
        out.decode(errors="surrogateescape"),
        err.decode(errors="surrogateescape"),
    )


def mark_part(items: list[Any], folder: Path, name: str) -> None:
    """Mark with ``name`` every collected test under ``folder``, so ``pytest -m name`` runs
    one part of the suite (the collection hook sees every item, not only its folder's)."""
    import pytest

    marker = getattr(pytest.mark, name)
    for item in items:
        if folder in item.path.parents:
            item.add_marker(marker)


class RecordingAnswerer:
    """A real engine (``inner``) recording every question it is asked, in ``questions``;
    no ``answer_many`` (as the ``llm`` engine)."""

    def __init__(self, inner: Answerer) -> None:
        self.inner = inner
        self.questions: list[str] = []

    def answer(self, question: str) -> Answer:
        self.questions.append(question)
        return self.inner.answer(question)


MAIL_HOOK: dict[str, Any] = {
    "endpoints": [
        {
            "url": "http://127.0.0.1:9/offline-replies",
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "allow_private": True,
            "events": ["offline_message.replied"],
        }
    ]
}
"""A ``[webhooks]`` section with an endpoint receiving ``offline_message.replied`` (the
team's mail system, here a closed port: what it is sent fails and is retried), without
which a server does not offer offline messages (``routing.fallbacks.unkeepable``)."""


class LinkProxy:
    """A TCP proxy to a server's port, for faults of the link between a client and it:
    it closes its first ``drops`` connections as soon as they send something (no HTTP
    answer: a server going down mid-handshake, another service on the port), answers
    the next ``refuse`` with ``503`` and ``Retry-After: retry_after`` (a server asking
    to be left alone for a while), and holds the server-to-client direction while
    ``flowing`` is clear (what the server sends meanwhile reaches the client, in order,
    once it is set again: a slow link, seen from the client). ``seen`` counts the
    connections."""

    def __init__(
        self, target_port: int, drops: int = 0, refuse: int = 0, retry_after: str = "2"
    ) -> None:
        self.target_port = target_port
        self.drops = drops
        self.refuse = refuse
        self.retry_after = retry_after
        self.seen = 0
        self.flowing = asyncio.Event()
        self.flowing.set()

    async def start(self) -> asyncio.Server:
        """Listen on an ephemeral port of 127.0.0.1; returns the listening server."""
        return await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def _pipe(self, reader, writer, gate: asyncio.Event | None) -> None:
        try:
            while data := await reader.read(65536):
                if gate is not None:
                    await gate.wait()
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.seen += 1
        if self.seen <= self.drops + self.refuse:
            await reader.read(65536)
            if self.seen > self.drops:
                writer.write(
                    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: "
                    + self.retry_after.encode()
                    + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                await writer.drain()
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(
            self._pipe(reader, up_writer, None), self._pipe(up_reader, writer, self.flowing)
        )
