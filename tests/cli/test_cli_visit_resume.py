"""`handoff visit` survives a dropped connection: it resumes the conversation and resends
unacknowledged messages with their client ids, and each message is acknowledged and
shown once. Over-long messages are refused with a clear code before anything is sent.

The CLI runs as a real process; the server runs in the test (real, on a real port), is
stopped and started again on the same port and data dir, or is reached through a TCP
proxy that loses the server's replies on purpose.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from handoff_server.client import backoff_delay
from handoff_server.protocol import AOpen, SConversation
from tests.conftest import create_token
from tests.helpers import agent, run_handoff


class VisitProcess:
    """``handoff visit --json`` reading its messages from a pipe, as a script would."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.frames: list[dict[str, Any]] = []
        self.stderr = ""
        self._new = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._read_stdout()),
            asyncio.create_task(self._read_stderr()),
        ]

    @classmethod
    async def start(cls, url: str, *extra: str) -> VisitProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "handoff_cli", "visit", "--server", url, "--json",
            "--name", "Ada", *extra,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        return cls(proc)

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.frames.append(json.loads(line))
            self._new.set()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.stderr += line.decode()

    async def type(self, text: str) -> None:
        """Type one message and press Enter."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def wait_for(self, count: int, kind: str, timeout: float = 30) -> None:
        """Wait until ``count`` events of ``kind`` have been printed."""
        async with asyncio.timeout(timeout):
            while sum(1 for f in self.frames if f.get("kind") == kind) < count:
                self._new.clear()
                await self._new.wait()

    async def exit_status(self, timeout: float = 30) -> int:
        """Wait for the CLI to leave by itself; returns its exit status."""
        async with asyncio.timeout(timeout):
            rc = await self.proc.wait()
            await asyncio.gather(*self._tasks)
        return rc

    async def finish(self) -> int:
        """End of input: the CLI leaves; returns its exit status."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        async with asyncio.timeout(30):
            rc = await self.proc.wait()
            await asyncio.gather(*self._tasks)
        return rc


async def _server_transcript(url: str, token: str, conversation_id: str) -> list[Any]:
    conn = await agent(url, token)
    try:
        await conn.send(AOpen(type="open", conversation_id=conversation_id, subscribe=False))
        frames = await conn.recv_until(lambda f: isinstance(f, SConversation), 10)
        return frames[-1].packet.transcript
    finally:
        await conn.close()


def _assert_each_once(frames: list[dict[str, Any]], messages: int) -> None:
    acks = [f["client_msg_id"] for f in frames if f["type"] == "ack"]
    assert len(acks) == messages and len(set(acks)) == messages, acks
    seqs = Counter(f["seq"] for f in frames if f["type"] == "event")
    assert all(n == 1 for n in seqs.values()), seqs
    assert len({f["conversation_id"] for f in frames if "conversation_id" in f}) == 1


QUESTIONS = [
    "How do I reset my password?",
    "How do I turn on two-factor authentication?",
    "How do I add a user to my account?",
]


async def test_visit_resumes_after_a_server_restart_on_the_same_port(server_factory, tmp_path):
    data_dir: Path = tmp_path / "data"
    first = await server_factory(data_dir=data_dir)
    port = first.port
    visit = await VisitProcess.start(first.url, "--timeout", "20")
    await visit.type(QUESTIONS[0])
    await visit.wait_for(1, "ai_message")

    await first.close()
    await visit.type(QUESTIONS[1])  # typed while the server is down: must not be lost
    await asyncio.sleep(1.0)
    second = await server_factory(data_dir=data_dir, server={"port": port})
    await visit.wait_for(2, "ai_message")
    await visit.type(QUESTIONS[2])
    await visit.wait_for(3, "ai_message")
    assert await visit.finish() == 0, visit.stderr
    assert "connection lost" in visit.stderr
    _assert_each_once(visit.frames, 3)
    cid = visit.frames[0]["conversation_id"]
    token = await create_token(second)
    stored = await _server_transcript(second.url, token, cid)
    assert [e.data.text for e in stored if e.kind == "visitor_message"] == QUESTIONS


class LossyProxy:
    """A TCP proxy between the CLI and the server. While ``hold_replies`` is set, what
    the server sends is lost; ``cut()`` drops every connection (a network fault)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.hold_replies = False
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self.writers += [writer, up_writer]
        await asyncio.gather(
            self._pump(reader, up_writer, replies=False),
            self._pump(up_reader, writer, replies=True),
            return_exceptions=True,
        )

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, replies: bool
    ) -> None:
        try:
            while data := await src.read(65536):
                if not (replies and self.hold_replies):
                    dst.write(data)
                    await dst.drain()
        finally:
            dst.close()

    def cut(self) -> None:
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_a_message_whose_ack_was_lost_is_resent_and_stored_once(server):
    proxy = LossyProxy(server.port)
    url = await proxy.start()
    token = await create_token(server)
    try:
        visit = await VisitProcess.start(url, "--timeout", "20")
        await visit.type(QUESTIONS[0])
        await visit.wait_for(1, "ai_message")
        cid = visit.frames[0]["conversation_id"]

        proxy.hold_replies = True
        await visit.type(QUESTIONS[1])
        async with asyncio.timeout(20):  # the server stored it and answered; the CLI saw nothing
            while (
                sum(
                    e.kind == "ai_message" for e in await _server_transcript(server.url, token, cid)
                )
                < 2
            ):
                await asyncio.sleep(0.1)
        proxy.cut()
        proxy.hold_replies = False

        await visit.wait_for(2, "ai_message")
        await visit.type(QUESTIONS[2])
        await visit.wait_for(3, "ai_message")
        assert await visit.finish() == 0, visit.stderr
    finally:
        await proxy.close()

    _assert_each_once(visit.frames, 3)
    duplicate = [f for f in visit.frames if f["type"] == "ack" and f["duplicate"]]
    assert len(duplicate) == 1  # the resent message, recognised by its client id
    stored = await _server_transcript(server.url, token, cid)
    assert [e.data.text for e in stored if e.kind == "visitor_message"] == QUESTIONS


async def test_an_over_long_message_is_refused_before_sending(server):
    done = await run_handoff("visit", "--server", server.url, "-m", "x" * 70000)
    assert done.returncode != 0
    assert "error[message_too_long]" in done.stderr and "4000" in done.stderr
    assert "conversation" not in done.stdout  # nothing was started


async def test_a_server_closing_for_frame_size_is_reported_as_such(server_factory):
    small = await server_factory(server={"max_frame_bytes": 1024})
    done = await run_handoff("visit", "--server", small.url, "--retry-for", "2", "-m", "y" * 1500)
    assert done.returncode != 0
    assert "error[message_too_long]" in done.stderr and "1009" in done.stderr
    assert "cannot connect" not in done.stderr


async def test_an_over_long_line_in_a_chat_is_refused_and_the_chat_goes_on(server):
    done = await run_handoff(
        "visit", "--server", server.url, stdin="z" * 4001 + "\nHow do I reset my password?\n"
    )
    assert done.returncode == 1  # one message was refused
    assert "error[message_too_long]" in done.stderr and "not sent" in done.stderr
    assert "\nAI: 1. Go to" in done.stdout


async def test_giving_up_says_why(server_factory, tmp_path):
    first = await server_factory(data_dir=tmp_path / "a")
    port = first.port
    gone = await VisitProcess.start(first.url, "--retry-for", "1.5")
    await gone.type(QUESTIONS[0])
    await gone.wait_for(1, "ai_message")
    forgotten = await VisitProcess.start(first.url)
    await forgotten.type(QUESTIONS[0])
    await forgotten.wait_for(1, "ai_message")
    await first.close()

    # Idle at the prompt, it still notices and leaves: nobody came back within --retry-for.
    assert await gone.exit_status() != 0
    assert "error[connect_failed]" in gone.stderr and "no connection for" in gone.stderr

    await server_factory(data_dir=tmp_path / "b", server={"port": port})  # another store
    assert await forgotten.exit_status() != 0
    assert "error[bad_resume_token]" in forgotten.stderr


@given(attempt=st.integers(1, 60))
def test_back_off_doubles_up_to_a_cap_with_jitter(attempt):
    base = min(10.0, 0.5 * 2 ** (attempt - 1))
    delays = {backoff_delay(attempt, rng=random.Random(seed)) for seed in range(20)}
    assert all(base / 2 <= d <= base for d in delays)
    assert len(delays) > 10  # clients dropped together come back spread out
