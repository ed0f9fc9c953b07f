"""The simulated visitor: plays one :class:`~handoff_cli.simulate.record.Script` over the
real protocol (a :class:`~handoff_server.client.VisitorLink`, so a dropped connection is
resumed as a real client resumes it) and records what it saw.

One turn at a time: think, (reconnect,) send the message or press "talk to a person",
then wait for the turn's outcome — the AI's answer, the handoff, or, while a person holds
the conversation, the server's acknowledgement — and for the event the turn waits for.
After the last turn a handed-off visitor waits (up to ``patience`` seconds) for the
simulated agents to resolve or hand back the conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import InvalidStatus, InvalidURI

from handoff_cli.simulate.expectations import ROUTING_FRAMES
from handoff_cli.simulate.record import ConversationRecord, Script, TurnRecord
from handoff_cli.simulate.scenario import ConversationExpect, ThinkTime, Turn, TurnExpect
from handoff_server.client import VisitorLink, new_client_msg_id
from handoff_server.errors import HandoffError
from handoff_server.protocol import (
    AgentMessage,
    AiMessage,
    Claimed,
    Escalated,
    Event,
    HandedBack,
    Released,
    Reopened,
    Resolved,
    SAck,
    SError,
    SEvent,
    STyping,
    SWelcome,
    SystemMessage,
    VMessage,
    VRequestHuman,
)

__all__ = ["VisitorContext", "VisitorDriver", "think_seconds"]


@dataclass
class VisitorContext:
    """What every simulated visitor of a run shares: the server, ``timeout`` (seconds to
    wait for a turn's outcome), the default ``think_time``, ``patience`` (seconds a
    handed-off visitor waits for the agents to finish), whether simulated ``agents`` run,
    and ``joined``/``turned`` hooks called when a conversation has its id and when a turn
    ends (the desk and the live progress)."""

    server_url: str
    timeout: float
    think_time: ThinkTime
    patience: float
    agents: bool
    joined: Callable[[ConversationRecord], None]
    turned: Callable[[ConversationRecord, TurnRecord], None]
    retry_for: float = 30.0


def think_seconds(value: ThinkTime, rng: random.Random) -> float:
    """Seconds to think: ``value`` itself, or a uniform draw from ``(low, high)``."""
    if isinstance(value, tuple):
        return rng.uniform(*value)
    return value


class _Stop(Exception):
    """The conversation cannot go on (the reason is already recorded)."""


class VisitorDriver:
    """Plays ``script``; :meth:`run` returns its :class:`ConversationRecord`."""

    def __init__(self, script: Script, ctx: VisitorContext, rng: random.Random) -> None:
        self.script = script
        self.ctx = ctx
        self.rng = rng
        self.record = ConversationRecord(script)
        self.link = VisitorLink(ctx.server_url, script.visitor, retry_for=ctx.retry_for)
        self.status = "ai"
        """``ai``, ``human`` (queued or with an agent) or ``resolved``, as the visitor sees it."""
        self.held = False
        """An agent holds the conversation (claimed, not released, handed back or resolved)."""
        self.pending: tuple[str, TurnRecord] | None = None
        self.welcomes = 0
        self.reader_failed = False
        self._news = asyncio.Event()
        self.record.t0 = time.monotonic()

    def now(self) -> float:
        """Seconds since the conversation began."""
        return time.monotonic() - self.record.t0

    async def run(self) -> ConversationRecord:
        """Play every turn, wait for the agents if handed off, and return the record."""
        reader = asyncio.create_task(self._read())
        try:
            if not await self._until(lambda: self.welcomes > 0, self.ctx.timeout):
                self._fail_wait("no welcome from the server")
            self.ctx.joined(self.record)
            for index, turn in enumerate(self.script.turns):
                await self._turn(index, turn)
            await self._finish()
            self.record.finished = True
        except _Stop as stop:
            self.record.unfinished_reason = str(stop)
        finally:
            self.record.queued = self.status == "human" and not self.held
            self._close_window()
            await self.link.close()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        return self.record

    # ------------------------------------------------------------------ turns

    async def _turn(self, index: int, turn: Turn) -> None:
        self._close_window()
        rec = TurnRecord(index=index, text=turn.say, window=(len(self.record.frames), -1))
        self.record.turns.append(rec)
        await asyncio.sleep(think_seconds(turn.think_time or self.ctx.think_time, self.rng))
        if turn.reconnect:
            await self._reconnect()
        timeout = turn.timeout or self.ctx.timeout
        if turn.say is not None or turn.request_human:
            await self._send(rec, turn)
            if not await self._until(lambda: rec.outcome != "pending", timeout):
                rec.outcome = "timeout"
                self._fail_wait(f"turn {index + 1}: no answer within {timeout:g} s")
            self.ctx.turned(self.record, rec)
            escalated = rec.outcome == "escalated"
            await self._await_routing(turn.expect, rec.window[0], escalated, timeout)
        if turn.wait_for is not None:
            mark = rec.window[0]
            wanted = turn.wait_for
            if not await self._until(lambda: wanted in self.record.kinds(mark), timeout):
                rec.outcome = "timeout" if rec.outcome == "pending" else rec.outcome
                self._fail_wait(f"turn {index + 1}: no {wanted} within {timeout:g} s")
            if rec.outcome == "pending":
                rec.outcome = "waited"

    async def _await_routing(
        self, expect: TurnExpect | ConversationExpect, mark: int, escalated: bool, timeout: float
    ) -> None:
        """Expecting a wait estimate or a fallback offer, wait (up to ``timeout`` seconds)
        for those frames since ``frames[mark]``: the server sends them after the handoff
        itself, so on a busy server they would land in the next turn's window, or after
        the visitor left. Never fails by itself: a frame that did not come is the
        expectation's to report."""
        wanted = {
            frame
            for key, frame in ROUTING_FRAMES.items()
            if getattr(expect, key) not in (None, False)
        }
        if wanted and escalated:
            await self._until(lambda: wanted <= set(self.record.kinds(mark)), timeout)

    async def _send(self, rec: TurnRecord, turn: Turn) -> None:
        cmid = new_client_msg_id()
        frame: VMessage | VRequestHuman
        if turn.request_human:
            frame = VRequestHuman(type="request_human", client_msg_id=cmid, text=turn.say)
        else:
            assert turn.say is not None
            frame = VMessage(type="message", client_msg_id=cmid, text=turn.say)
        self.pending = (cmid, rec)
        rec.sent_at = self.now()
        self.record.line(rec.sent_at, "visitor", frame.type, turn.say or "")
        await self.link.send_frame(frame)

    async def _reconnect(self) -> None:
        seen = self.welcomes
        self.record.line(self.now(), "simulator", "reconnect", "dropped the connection")
        await self.link.drop()
        if not await self._until(lambda: self.welcomes > seen, self.ctx.timeout):
            self._fail_wait("the conversation was not resumed")

    async def _finish(self) -> None:
        escalated = self.record.escalated
        await self._await_routing(self.script.expect, 0, escalated, self.ctx.timeout)
        if self.status == "human" and self.ctx.agents and self.ctx.patience > 0:
            if not await self._until(lambda: self.status != "human", self.ctx.patience):
                self.record.abandoned = True
                self.record.line(
                    self.now(),
                    "simulator",
                    "left",
                    f"no agent finished it in {self.ctx.patience:g} s",
                )
        if self.script.linger > 0:
            await asyncio.sleep(self.script.linger)

    def _close_window(self) -> None:
        if self.record.turns and self.record.turns[-1].window[1] < 0:
            last = self.record.turns[-1]
            last.window = (last.window[0], len(self.record.frames))

    async def _until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``done()`` (True) or ``timeout`` seconds pass (False); raises
        :class:`_Stop` when the connection gave up."""
        deadline = time.monotonic() + timeout
        while not done():
            if self.reader_failed:
                raise _Stop("the connection gave up")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._news.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait(), remaining)
        return True

    def _fail_wait(self, detail: str) -> None:
        self.record.error(self.now(), "timeout", detail)
        raise _Stop(detail)

    # ------------------------------------------------------------------ frames

    async def _read(self) -> None:
        try:
            async for frame in self.link.frames():
                self._frame(frame)
                self._news.set()
        except HandoffError as exc:
            self.record.error(self.now(), str(exc.code), exc.detail)
        except (OSError, InvalidStatus, InvalidURI) as exc:
            self.record.error(self.now(), "connect_failed", str(exc) or type(exc).__name__)
        self.reader_failed = True
        self._news.set()

    def _frame(self, frame: Any) -> None:
        t = self.now()
        if isinstance(frame, SEvent):
            self.record.frames.append((t, "event", frame.event.kind, None))
            self._event(t, frame.event)
        elif isinstance(frame, SWelcome):
            self.welcomes += 1
            if self.welcomes == 1:
                self.record.conversation_id = frame.conversation_id
                self.record.line(t, "server", "welcome", conversation_id=frame.conversation_id)
            else:
                self.record.line(t, "server", "welcome", "resumed the conversation")
        elif isinstance(frame, SAck):
            if self.pending and self.pending[0] == frame.client_msg_id and self.status == "human":
                self._settle("acked")
        elif isinstance(frame, SError):
            self.record.error(t, frame.code, frame.detail)
            if self.pending and self.pending[0] == frame.client_msg_id:
                self._settle("error").error = frame.code
        elif not isinstance(frame, STyping):
            payload = frame.model_dump(mode="json")
            kind = str(payload.get("type", type(frame).__name__))
            self.record.frames.append((t, kind, None, payload))
            self.record.line(t, "server", kind, str(payload.get("text") or ""))

    def _settle(self, outcome: Any) -> TurnRecord:
        assert self.pending is not None
        rec = self.pending[1]
        rec.outcome = outcome
        if rec.sent_at is not None:
            rec.latency = self.now() - rec.sent_at
        self.pending = None
        return rec

    def _event(self, t: float, ev: Event) -> None:
        if isinstance(ev, AiMessage):
            self._ai_message(t, ev)
        elif isinstance(ev, Escalated):
            self._escalated(t, ev)
        elif isinstance(ev, Claimed):
            self.status, self.held = "human", True
            self.record.claimed_at.append(t)
            self.record.line(t, "agent", "claimed", ev.data.notice, agent=ev.data.agent.name)
        elif isinstance(ev, AgentMessage):
            self.record.line(t, "agent", "agent_message", ev.data.text, agent=ev.data.agent.name)
        elif isinstance(ev, HandedBack | Reopened | Resolved | Released):
            self.held = False
            self.status = {"handed_back": "ai", "reopened": "ai", "resolved": "resolved"}.get(
                ev.kind, self.status
            )
            self.record.line(
                t, "agent" if ev.actor == "agent" else "system", ev.kind, ev.data.notice
            )
        elif isinstance(ev, SystemMessage):
            self.record.line(t, "system", ev.kind, ev.data.text)
        elif ev.kind not in ("visitor_message", "conversation_started"):
            self.record.line(t, ev.actor, ev.kind)

    def _ai_message(self, t: float, ev: AiMessage) -> None:
        data = ev.data
        self.record.line(
            t, "ai", "ai_message", data.text, confidence=data.confidence, sources=data.sources
        )
        if self.pending is not None:
            rec = self._settle("answered")
            rec.confidence, rec.sources = data.confidence, list(data.sources)

    def _escalated(self, t: float, ev: Escalated) -> None:
        self.status, self.held = "human", False
        trigger = ev.data.trigger.kind if ev.data.trigger is not None else None
        self.record.escalated_at.append(t)
        self.record.triggers.append(trigger)
        self.record.line(t, "system", "escalated", ev.data.text, trigger=trigger)
        if self.pending is not None:
            rec = self._settle("escalated")
            rec.trigger = trigger
            rec.escalation_index = len(self.record.escalated_at) - 1
