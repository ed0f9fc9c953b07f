"""The simulated agents' side: a desk that watches the queue and simulated agents that
claim, reply and resolve (or hand back) over the real ``/v1/agent`` protocol.

The desk is one more agent connection subscribed to the queue. It notes, for every
conversation of this run, each handoff as agents see it (trigger, the AI's confidence,
team, priority: what a visitor is never told) and hands queued conversations to the
agent with the most free capacity, highest priority first, then in order of arrival. It
never touches a conversation this run did not start.

Simulated agents behave as people at the desk do: each says it is ``online`` on signing
in (the server counts no agent online before that, so wait estimates and fallbacks see
them), accepts the server's push ``offer`` of a conversation of this run when it has a
free slot (after its claim delay; such a conversation is not also claimed), and resolves
with a ``resolution`` and, where it can tell, an ``ai_verdict``.

Each agent sends at most :data:`AGENT_FRAMES_PER_MINUTE` frames a minute, under the
server's default rate limit (60), and retries a ``rate_limited`` refusal after a
jittered back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from handoff_cli.simulate.record import ConversationRecord, Escalation
from handoff_cli.simulate.scenario import AgentSpec
from handoff_server.client import Connection, backoff_delay, connect_agent, new_client_msg_id
from handoff_server.guard.rates import TokenBucket
from handoff_server.protocol import (
    AAccept,
    AClaim,
    AHandback,
    AOpen,
    APresence,
    AReply,
    AResolve,
    ASubscribeQueue,
    Escalated,
    QueueItem,
    SAck,
    SAuthenticated,
    SConversation,
    SError,
    SOffer,
    SQueue,
    SQueueItem,
    SStaff,
)

__all__ = ["AGENT_FRAMES_PER_MINUTE", "AgentStats", "Desk"]

AGENT_FRAMES_PER_MINUTE = 50
"""Frames a simulated agent sends a minute at most (the server allows 60 by default)."""

RATE_LIMIT_RETRIES = 5

_ACTIONS: dict[str, type[AClaim | AAccept | AReply | AResolve | AHandback]] = {
    "claim": AClaim,
    "accept": AAccept,
    "reply": AReply,
    "resolve": AResolve,
    "handback": AHandback,
}


@dataclass
class AgentStats:
    """What the simulated agents did: claims won (offers accepted included) and lost,
    push offers received, replies, resolutions, handbacks, and the errors they got, by
    code."""

    claims: int = 0
    offers: int = 0
    claims_lost: int = 0
    replies: int = 0
    resolved: int = 0
    handed_back: int = 0
    errors: Counter[str] = field(default_factory=Counter)


async def _signed_in(url: str, token: str, timeout: float) -> Connection:
    """An agent connection, past its ``authenticated`` frame. Raises
    ``websockets.exceptions.InvalidStatus`` for a refused token."""
    conn = await connect_agent(url, token)
    frame = await conn.recv(timeout=timeout)
    if not isinstance(frame, SAuthenticated):
        await conn.close()
        raise ConnectionError(f"the server did not sign the agent in: {frame!r}")
    return conn


class SimAgent:
    """One simulated agent: a connection and up to ``spec.capacity`` conversations."""

    def __init__(self, desk: Desk, conn: Connection, number: int, rng: random.Random) -> None:
        self.desk = desk
        self.conn = conn
        self.number = number
        self.rng = rng
        self.load = 0
        self.bucket = TokenBucket(AGENT_FRAMES_PER_MINUTE)
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.reader = asyncio.create_task(self._read())

    @property
    def free(self) -> int:
        """Conversations this agent can still take."""
        return self.desk.spec.capacity - self.load

    def take(self, conversation_id: str, via: str = "claim") -> None:
        """Handle ``conversation_id`` in the background: take it (``via`` ``claim``, or
        ``accept`` an offer), reply, finish."""
        self.load += 1
        task = asyncio.create_task(self._handle(conversation_id, via))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finish(self, timeout: float) -> None:
        """Let the conversations in hand finish, for up to ``timeout`` seconds."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def close(self) -> None:
        """Stop handling and close the connection."""
        for task in [*self._tasks, self.reader]:
            task.cancel()
        await asyncio.gather(*self._tasks, self.reader, return_exceptions=True)
        await self.conn.close()

    async def announce(self) -> None:
        """Say this agent is online and wait for the server's ``staff`` answer."""
        answer = await self._request("presence", APresence(type="presence", status="online"))
        if not isinstance(answer, SStaff):
            self.desk.stats.errors["presence_unanswered"] += 1

    async def _handle(self, conversation_id: str, via: str) -> None:
        spec, stats = self.desk.spec, self.desk.stats
        try:
            await asyncio.sleep(spec.claim_delay)
            if via == "claim" and conversation_id in self.desk.offered:
                return  # the server offered it to one of us meanwhile
            code = await self._act(conversation_id, via, {})
            if code is not None:
                stats.claims_lost += code == "conflict"
                return
            stats.claims += 1
            text, draft = spec.reply, await self._draft(conversation_id)
            if spec.reply_from_kb and draft:
                text = draft
            await asyncio.sleep(spec.reply_delay)
            if await self._act(conversation_id, "reply", {"text": text}) is None:
                stats.replies += 1
            await asyncio.sleep(spec.wrap_up)
            await self._finish(conversation_id, _verdict(spec.ai_verdict, draft, text))
        finally:
            self.load -= 1
            self.desk.freed(conversation_id)

    async def _finish(self, conversation_id: str, verdict: str | None) -> None:
        """Hand back (a ``handback_share`` of the time) or resolve with the spec's
        ``resolution`` and ``verdict`` (``None``: not given)."""
        spec, stats = self.desk.spec, self.desk.stats
        # Await first, then count: `x += await ...` reads x before the wait and
        # loses the other agents' counts made meanwhile.
        if self.rng.random() < spec.handback_share:
            done = await self._act(conversation_id, "handback", {}) is None
            stats.handed_back += done
            return
        fields: dict[str, Any] = {"resolution": spec.resolution}
        if verdict is not None:
            fields["ai_verdict"] = verdict
        done = await self._act(conversation_id, "resolve", fields) is None
        stats.resolved += done

    def _offer(self, frame: SOffer) -> None:
        """The server offers a conversation (push): accept it when it is this run's and
        a slot is free; else let the offer pass to the next agent when it expires."""
        conversation_id = frame.item.conversation_id
        if conversation_id not in self.desk.records or self.desk.closing:
            return
        self.desk.stats.offers += 1
        if self.free > 0 and conversation_id not in self.desk.offered:
            self.desk.offered.add(conversation_id)
            self.take(conversation_id, via="accept")

    async def _act(self, conversation_id: str, action: str, fields: dict[str, Any]) -> str | None:
        """Send an action and wait for its ack: ``None``, else the error code (recorded)."""
        code = "rate_limited"
        for attempt in range(1, RATE_LIMIT_RETRIES + 1):
            cmid = new_client_msg_id()
            frame = _ACTIONS[action].model_validate(
                {"type": action, "conversation_id": conversation_id, "client_msg_id": cmid} | fields
            )
            answer = await self._request(cmid, frame)
            if isinstance(answer, SAck):
                return None
            code = answer.code if isinstance(answer, SError) else "timeout"
            detail = answer.detail if isinstance(answer, SError) else "no answer in time"
            self.desk.agent_error(conversation_id, code, f"{frame.type}: {detail}")
            if code != "rate_limited":
                return code
            await asyncio.sleep(backoff_delay(attempt, initial=1.0, maximum=10.0, rng=self.rng))
        return code

    async def _request(self, key: str, frame: Any) -> Any:
        """Send ``frame`` (paced) and wait for the frame answering ``key``, or ``None``."""
        while not self.bucket.take():
            await asyncio.sleep(60.0 / AGENT_FRAMES_PER_MINUTE)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        try:
            await self.conn.send(frame)
            return await asyncio.wait_for(future, self.desk.timeout)
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(key, None)

    async def _draft(self, conversation_id: str) -> str | None:
        """The AI's unsent answer on the conversation's last handoff, if it had one."""
        frame = AOpen(type="open", conversation_id=conversation_id, subscribe=False)
        answer = await self._request(f"open:{conversation_id}", frame)
        if not isinstance(answer, SConversation):
            return None
        handoffs = [e for e in answer.packet.transcript if isinstance(e, Escalated)]
        draft = handoffs[-1].data.draft if handoffs else None
        return draft.text if draft is not None and draft.text else None

    async def _read(self) -> None:
        async for frame in self.conn.frames():
            key = None
            if isinstance(frame, SAck | SError) and frame.client_msg_id:
                key = frame.client_msg_id
            elif isinstance(frame, SConversation):
                key = f"open:{frame.packet.conversation_id}"
            elif isinstance(frame, SStaff):
                key = "presence"
            elif isinstance(frame, SOffer):
                self._offer(frame)
            elif isinstance(frame, SError) and frame.conversation_id:
                key = f"open:{frame.conversation_id}"
            future = self._waiting.get(key or "")
            if future is not None and not future.done():
                future.set_result(frame)


class Desk:
    """The agents' side of a run: the queue watcher and the simulated agents.

    ``tokens``: agent tokens (agents use them in turn; the first also watches the
    queue). ``spec``: the agents (``spec.count`` of them; 0 only watches). ``timeout``:
    seconds to wait for an answer to an agent's frame."""

    def __init__(self, url: str, tokens: list[str], spec: AgentSpec, timeout: float) -> None:
        self.url = url
        self.tokens = tokens
        self.spec = spec
        self.timeout = timeout
        self.stats = AgentStats()
        self.records: dict[str, ConversationRecord] = {}
        self.agents: list[SimAgent] = []
        self._status: dict[str, str] = {}
        self._held: set[str] = set()
        self.offered: set[str] = set()
        """Conversations the server offered to one of the simulated agents (push)."""
        self._waiting: list[tuple[int, int, str]] = []
        self._arrivals = 0
        self._watcher: Connection | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self.closing = False

    async def start(self, rng: random.Random) -> None:
        """Sign in the watcher and the agents and subscribe to the queue. Raises
        ``websockets.exceptions.InvalidStatus`` when a token is refused."""
        self._watcher = await _signed_in(self.url, self.tokens[0], self.timeout)
        await self._watcher.send(ASubscribeQueue(type="subscribe_queue"))
        await self._watcher.recv_until(lambda f: isinstance(f, SQueue), self.timeout)
        self._watch_task = asyncio.create_task(self._watch(self._watcher))
        for n in range(self.spec.count):
            conn = await _signed_in(self.url, self.tokens[n % len(self.tokens)], self.timeout)
            agent = SimAgent(self, conn, n + 1, random.Random(rng.random()))
            self.agents.append(agent)
            await agent.announce()

    def join(self, record: ConversationRecord) -> None:
        """A conversation of this run has its id: watch it (and only such)."""
        if record.conversation_id is not None:
            self.records[record.conversation_id] = record

    async def close(self) -> None:
        """Stop giving out work, let the agents finish what they hold (up to ``timeout``
        seconds), then stop them and the watcher."""
        self.closing = True
        await asyncio.gather(*(agent.finish(self.timeout) for agent in self.agents))
        for agent in self.agents:
            await agent.close()
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
        if self._watcher is not None:
            await self._watcher.close()

    def agent_error(self, conversation_id: str, code: str, detail: str) -> None:
        """An agent's frame was refused (or unanswered): count it, note it in the transcript."""
        self.stats.errors[code] += 1
        record = self.records.get(conversation_id)
        if record is not None:
            record.error(time.monotonic() - record.t0, code, f"agent: {detail}")

    def freed(self, conversation_id: str) -> None:
        """An agent is done with ``conversation_id``: give out waiting work."""
        self._held.discard(conversation_id)
        self.offered.discard(conversation_id)
        self._dispatch()

    async def _watch(self, conn: Connection) -> None:
        try:
            async for frame in conn.frames():
                if isinstance(frame, SQueueItem):
                    self._item(frame.item)
        except Exception as exc:  # the watch is over; the report says why
            self.stats.errors[str(getattr(exc, "code", "connection_closed"))] += 1

    def _item(self, item: QueueItem) -> None:
        record = self.records.get(item.conversation_id)
        if record is None:
            return
        before = self._status.get(item.conversation_id)
        self._status[item.conversation_id] = item.status
        if item.status != "queued" or before == "queued":
            return
        if before != "assigned":  # entering the queue from the AI: a handoff, not a release
            self._note_handoff(record, item)
        held = self._held | self.offered
        pulls = self.spec.assignment == "pull"
        if pulls and self.agents and item.conversation_id not in held:
            self._arrivals += 1
            heapq.heappush(self._waiting, (-item.priority, self._arrivals, item.conversation_id))
            self._dispatch()

    def _note_handoff(self, record: ConversationRecord, item: QueueItem) -> None:
        trigger = item.trigger
        escalation = Escalation(
            at=time.monotonic() - record.t0,
            trigger=trigger.kind if trigger is not None else None,
            confidence=trigger.confidence if trigger is not None else None,
            team=item.team,
            priority=item.priority,
        )
        record.agent_side.append(escalation)
        record.line(
            escalation.at,
            "agents' side",
            "queued",
            trigger=escalation.trigger,
            confidence=escalation.confidence,
            team=escalation.team,
            priority=escalation.priority,
        )

    def _dispatch(self) -> None:
        while self._waiting and not self.closing:
            agent = max(self.agents, key=lambda a: a.free)
            if agent.free <= 0:
                return
            _, _, conversation_id = heapq.heappop(self._waiting)
            if self._status.get(conversation_id) != "queued":
                continue
            self._held.add(conversation_id)
            agent.take(conversation_id)


def _verdict(setting: str, draft: str | None, reply: str) -> str | None:
    """The ``ai_verdict`` a simulated agent gives: ``setting`` itself, or for ``auto``
    ``not_attempted`` when the handoff carried no AI answer, ``right`` when the agent
    sent the AI's answer as its reply, and none otherwise (it cannot judge)."""
    if setting != "auto":
        return setting
    if not draft:
        return "not_attempted"
    return "right" if reply == draft else None
