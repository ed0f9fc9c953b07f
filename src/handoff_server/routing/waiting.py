"""The waiting room: what queued visitors are told while nobody has them yet.

:class:`WaitingRoom` keeps, for every live queued conversation, the wait estimate the
visitor was told (:mod:`.wait`), offers the fallbacks when the gate (:mod:`.gate`) says
nobody can come, takes the visitor's choice (:mod:`.fallbacks`), and when an agent comes
online or frees a slot (:meth:`Staffing.on_available`) tells the waiting visitors
again and offers agents the waiting work, oldest first.

It decides; the conversation service stores (its ``apply``: under the conversation's
lock, in one transaction, then published). Estimates and offers are frames to the
visitor (``wait_estimate``, ``fallback_offer``), their state the conversation's
``wait_estimate`` and ``fallback`` columns, shown to agents on the queue row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel

from handoff_server.config import WaitingSettings
from handoff_server.escalation import Policy
from handoff_server.policies import PolicyBook
from handoff_server.protocol import (
    ConversationStatus,
    FallbackState,
    QueueItem,
    SAck,
    SWaitEstimate,
    SWaitingWork,
    VChooseFallback,
    VLeaveMessage,
    VRequestCallback,
    WaitInfo,
)
from handoff_server.routing import fallbacks
from handoff_server.routing.gate import gate_reason, next_opening
from handoff_server.routing.presence import Staffing
from handoff_server.routing.wait import (
    HandlingTimes,
    WaitEstimate,
    estimate_wait,
    materially_changed,
    overrun,
)
from handoff_server.store import AsyncStore, ConversationRecord, ConversationUpdate

__all__ = ["Desk", "Plan", "WaitingRoom", "WaitingSink"]


WAITING_WORK_ROWS = 50
"""Rows one ``waiting_work`` frame lists at most (the oldest); ``more`` says how many
others wait."""

log = logging.getLogger(__name__)

Compose = Callable[[ConversationRecord], "fallbacks.Decided | None"]


class Desk(Protocol):
    """What the waiting room needs of the conversation service."""

    async def apply(
        self,
        conversation_id: str,
        compose: Compose,
        *,
        sender: str | None = None,
        client_msg_id: str | None = None,
        ack: Callable[[SAck], None] | None = None,
    ) -> ConversationRecord | None:
        """Under the conversation's lock: ack a retried frame again (``None``), else
        store and publish what ``compose`` returns (``None``: nothing); returns the
        conversation as stored."""
        ...

    async def queue(self, statuses: Sequence[ConversationStatus] = ...) -> list[QueueItem]:
        """The queue rows of the conversations in ``statuses``."""
        ...


class WaitingSink(Protocol):
    """Where the waiting room's frames go (the hub)."""

    def publish_visitor(self, conversation_id: str, frame: BaseModel) -> None:
        """Send ``frame`` to the conversation's visitor connections."""
        ...


@dataclass
class Plan:
    """What an escalating conversation is told: columns to store with the escalation
    and frames to send the visitor after it."""

    updates: ConversationUpdate = field(default_factory=lambda: ConversationUpdate())
    frames: list[BaseModel] = field(default_factory=list)


@dataclass
class _Line:
    """One team's live line at a moment: queued conversations, highest priority then
    longest waiting first, and the team's assigned count."""

    team: str | None
    live: list[ConversationRecord]
    busy: int


def _line_order(conv: ConversationRecord) -> tuple[int, datetime]:
    return (-conv.priority, conv.queued_at or conv.updated_at)


def _in_line(conv: ConversationRecord, team: str | None) -> bool:
    """Whether ``conv`` competes in ``team``'s line (``None``: the shared line, all)."""
    return team is None or conv.team == team


def wait_info(
    estimate: WaitEstimate, now: datetime, since: datetime | None = None
) -> dict[str, Any]:
    """An estimate made at ``now`` as the ``wait_estimate`` column stores it (a
    ``WaitInfo``, with its ``since``, which is never sent); ``since``: when the visitor
    began waiting (``None``: now, the first estimate of their wait)."""
    info = WaitInfo(
        minutes=estimate.minutes,
        max_minutes=estimate.max_minutes,
        ahead=estimate.ahead,
        text=estimate.text,
        seconds=estimate.seconds,
        at=now,
        late=estimate.waited is not None,
    )
    return {**info.model_dump(mode="json"), "since": (since or now).isoformat()}


def _utc(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def waiting_since(conv: ConversationRecord, now: datetime) -> tuple[datetime, bool]:
    """When ``conv``'s visitor began waiting (the first estimate of this stay in the
    queue: ``now`` when none was told since it entered the queue, as after a release
    that kept its place; for an estimate stored without it, ``queued_at``), and whether
    their estimate is late at ``now``: it was already, or they have waited past the last
    one told (:func:`~.wait.overrun`)."""
    if not conv.wait_estimate:
        return now, False
    told = WaitInfo.model_validate(conv.wait_estimate)
    since = _utc(told.since or conv.queued_at or told.at) or now
    at = _utc(told.at)
    late = told.late or (at is not None and overrun(told.minutes, told.max_minutes, at, now))
    return since, late


def wait_frame(conversation_id: str, info: dict[str, Any]) -> SWaitEstimate:
    """The visitor's ``wait_estimate`` frame for a stored estimate."""
    w = WaitInfo.model_validate(info)
    return SWaitEstimate(
        conversation_id=conversation_id,
        minutes=w.minutes,
        max_minutes=w.max_minutes,
        ahead=w.ahead,
        text=w.text,
    )


class _Estimates:
    """The reading half of :class:`WaitingRoom` (same arguments): the line, estimates,
    offers, and starting and stopping."""

    def __init__(
        self,
        desk: Desk,
        store: AsyncStore,
        policies: PolicyBook,
        sink: WaitingSink,
        staffing: Staffing,
        settings: WaitingSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self.desk = desk
        self._store = store
        self.policies = policies
        self.sink = sink
        self.staffing = staffing
        self.settings = settings
        self.clock = clock
        self.handling = HandlingTimes(settings.default_handling_seconds)
        self._claimed: dict[str, tuple[datetime, str | None]] = {}
        self.passed: Callable[[str], Collection[str]] = lambda conversation_id: ()
        """The agents who passed on a conversation's push offer in its current round
        (routing's :meth:`~.assignment.Offers.passed`, wired by the server): their free
        slots are no capacity for it, in its estimate and its gate, until its next round
        starts."""
        self.unkeepable: frozenset[str] = frozenset()
        """Fallbacks the server cannot keep as promised, never offered whatever the
        policy says (:func:`~.fallbacks.unkeepable`, wired by the server)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._refreshing: asyncio.Task[None] | None = None
        self._again = False
        self._one_refresh = asyncio.Lock()
        self._loop_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ the line

    async def _lines(self) -> tuple[list[ConversationRecord], dict[str | None, int]]:
        """The queued conversations, in line order, and assigned counts per team."""
        db = self._store.store
        queued = await self._store.call(db.list_conversations, ["queued"])
        assigned = await self._store.call(db.list_conversations, ["assigned"])
        busy: dict[str | None, int] = {}
        for conv in assigned:
            busy[conv.team] = busy.get(conv.team, 0) + 1
        return sorted(queued, key=_line_order), busy

    def _line(
        self, queued: list[ConversationRecord], busy: dict[str | None, int], team: str | None
    ) -> _Line:
        live = [c for c in queued if _in_line(c, team) and fallbacks.is_live(c)]
        count = sum(busy.values()) if team is None else busy.get(team, 0)
        return _Line(team, live, count)

    def _estimate(
        self,
        line: _Line,
        ahead: int,
        conversation_id: str | None = None,
        waited: float | None = None,
    ) -> WaitEstimate:
        """The estimate for the conversation (``None``: one about to be queued) with
        ``ahead`` before it in ``line``; the free slots of agents who passed on it in
        its current round of offers are left out (offered to them no more until the next
        round, it would otherwise read "under a minute" while nobody is offered it).
        ``waited``: the seconds its visitor has waited, when late (:func:`waiting_since`)."""
        team = line.team
        passed = self.passed(conversation_id) if conversation_id is not None else ()
        return estimate_wait(
            ahead,
            self.staffing.online_agents(team),
            self.staffing.free_capacity(team, passed),
            line.busy,
            self.handling.typical(team),
            waited,
        )

    def _offer(
        self, policy: Policy, line: _Line, place: int, estimate: WaitEstimate, now: datetime
    ) -> FallbackState | None:
        """The offer for the visitor at ``place`` (1-based) in ``line``, if the gate is
        closed for them and the operator offers anything."""
        reason = gate_reason(
            policy,
            line.team,
            now,
            online=self.staffing.online_agents(line.team),
            line_length=place,
            estimate=estimate,
        )
        options = [o for o in policy.fallbacks.offer if o not in self.unkeepable]
        if reason is None or not options:
            return None
        opens = next_opening(policy.business_hours, now) if reason == "closed" else None
        return fallbacks.offer_state(reason, options, opens, now)

    # ------------------------------------------------------------------ escalation

    async def plan(self, conversation_id: str, team: str | None, priority: int) -> Plan:
        """What a conversation about to be queued for ``team`` with ``priority`` is
        told: its estimate and, past the gate, the fallbacks."""
        now = self.clock()
        queued, busy = await self._lines()
        line = self._line([c for c in queued if c.id != conversation_id], busy, team)
        ahead = sum(1 for c in line.live if c.priority >= priority)
        estimate = self._estimate(line, ahead)
        policy = await self.policies.current()
        info = wait_info(estimate, now)
        plan = Plan({"wait_estimate": info}, [wait_frame(conversation_id, info)])
        offer = self._offer(policy, line, len(line.live) + 1, estimate, now)
        if offer is not None:
            plan.updates["fallback"] = offer.model_dump(mode="json")
            zone = policy.business_hours.timezone
            plan.frames.append(
                fallbacks.offer_frame(conversation_id, offer, estimate.text, now, zone)
            )
        return plan

    def tell(self, conversation_id: str, frames: list[BaseModel]) -> None:
        """Send ``frames`` to the conversation's visitor (after what they follow is
        published)."""
        for frame in frames:
            self.sink.publish_visitor(conversation_id, frame)

    async def resume_frames(self, conv: ConversationRecord) -> list[BaseModel]:
        """What a visitor resuming ``conv`` is told again: its estimate while queued in
        the chat, and an offer still unanswered."""
        if conv.status != "queued" or not fallbacks.is_live(conv):
            return []
        frames: list[BaseModel] = []
        if conv.wait_estimate is not None:
            frames.append(wait_frame(conv.id, conv.wait_estimate))
        offer = fallbacks.pending_offer(conv)
        if offer is not None:
            policy = await self.policies.current()
            text = (conv.wait_estimate or {}).get("text", "")
            zone = policy.business_hours.timezone
            frames.append(fallbacks.offer_frame(conv.id, offer, text, self.clock(), zone))
        return frames


class WaitingRoom(_Estimates):
    """Estimates, the gate, fallbacks and the offer of waiting work (module docstring).

    ``desk``: the conversation service; ``store``: read for the queue; ``policies``: the
    policy in force (gate, fallbacks, business hours); ``sink``: the hub; ``staffing``:
    who can come; ``settings``: ``[waiting]``; ``clock``: now, UTC. :meth:`start` loads
    recent handling times and starts the periodic refresh, :meth:`close` stops it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.staffing.on_available(self._available)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Load recent handling times and start the periodic refresh."""
        times = await self._store.call(self._store.store.handling_times, self.handling.keep)
        for team, seconds in reversed(times):
            self.handling.record(team, seconds)
        self._loop_task = asyncio.create_task(self._every(), name="waiting-room")

    async def close(self) -> None:
        """Stop refreshing. Idempotent."""
        tasks = [t for t in (self._loop_task, self._refreshing, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loop_task = self._refreshing = None

    async def _every(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refresh_seconds)
            self.refresh_soon()

    # ------------------------------------------------------------------ changes

    def changed(self, previous: ConversationStatus, conv: ConversationRecord) -> None:
        """A conversation changed (the service calls this after storing each change):
        measure handling times, and refresh the estimates when the line moved."""
        now = self.clock()
        if conv.status == "assigned" and previous != "assigned":
            self._claimed[conv.id] = (now, conv.team)
        elif previous == "assigned" and conv.status != "assigned":
            claimed = self._claimed.pop(conv.id, None)
            if claimed is not None:
                self.handling.record(claimed[1], (now - claimed[0]).total_seconds())
        if previous != conv.status and "queued" in (previous, conv.status):
            self.refresh_soon()

    def forget(self, conversation_id: str) -> None:
        """The conversation was erased from the store: no handling time is measured for
        it, and the lines it was in are re-estimated (it no longer takes a place)."""
        self._claimed.pop(conversation_id, None)
        self.refresh_soon()

    def held_ids(self) -> set[str]:
        """The conversations whose claim time is kept (assigned ones)."""
        return set(self._claimed)

    def refresh_soon(self) -> None:
        """Recompute every queued visitor's estimate in the background (one run at a
        time; a call during a run makes it run once more)."""
        if self._refreshing is not None and not self._refreshing.done():
            self._again = True
            return
        self._refreshing = asyncio.create_task(self._refresh_runs(), name="waiting-refresh")

    async def _refresh_runs(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                await self.refresh()
            except Exception:
                log.exception("refreshing wait estimates failed")

    async def refresh(self) -> list[str]:
        """Recompute the estimate of every live queued conversation; tell those whose
        estimate changed materially (and offer the fallbacks to those newly past the
        gate). Returns the ids of the conversations told, in line order. One refresh
        runs at a time: the next sees what the last told."""
        async with self._one_refresh:
            return await self._refresh()

    async def _refresh(self) -> list[str]:
        queued, busy = await self._lines()
        policy = await self.policies.current()
        told: list[str] = []
        for team in sorted({c.team for c in queued}, key=lambda t: t or ""):
            line = self._line(queued, busy, team)
            for place, conv in enumerate(line.live, start=1):
                if await self._retell(conv, line, place, policy):
                    told.append(conv.id)
        return told

    async def _retell(
        self, conv: ConversationRecord, line: _Line, place: int, policy: Policy
    ) -> bool:
        """Tell ``conv``'s visitor a materially new estimate (and a new offer); late
        once they have waited past the last one told (:func:`waiting_since`)."""
        now = self.clock()
        since, late = waiting_since(conv, now)
        waited = (now - since).total_seconds() if late else None
        estimate = self._estimate(line, place - 1, conv.id, waited)
        old = conv.wait_estimate
        if old is not None and not self._heard_since(old):
            return False
        if old is not None and not materially_changed(old.get("seconds"), estimate.seconds):
            return False
        info = wait_info(estimate, now, since)
        updates: ConversationUpdate = {"wait_estimate": info}
        offer = None
        if conv.fallback is None:
            offer = self._offer(policy, line, place, estimate, now)
            if offer is not None:
                updates["fallback"] = offer.model_dump(mode="json")

        def compose(current: ConversationRecord) -> fallbacks.Decided | None:
            still = current.status == "queued" and fallbacks.is_live(current)
            return ([], updates) if still and current.fallback == conv.fallback else None

        stored = await self.desk.apply(conv.id, compose)
        if stored is None:
            return False
        frames: list[BaseModel] = [wait_frame(conv.id, info)]
        if offer is not None:
            zone = policy.business_hours.timezone
            frames.append(fallbacks.offer_frame(conv.id, offer, estimate.text, now, zone))
        self.tell(conv.id, frames)
        return True

    def _heard_since(self, told: dict[str, Any]) -> bool:
        """Whether this node's presence is at least as recent as the estimate ``told``
        (stored by any node): one stored after this node last heard the other nodes may
        count an agent who just came online elsewhere (the node that told it heard them
        at once), and replacing it now would tell the visitor "nobody online" and offer
        the fallbacks between two estimates saying someone is. The next heartbeat
        (``[cluster] presence_heartbeat_seconds``) lets this node retell it."""
        heard, at = self.staffing.heard_at, WaitInfo.model_validate(told).at
        if heard is None or at is None:
            return True
        return heard >= (at if at.tzinfo else at.replace(tzinfo=UTC))

    # ------------------------------------------------------------------ agents

    def _available(self, team: str | None) -> None:
        """An agent of ``team`` came online or freed a slot (:class:`Staffing`)."""
        task = asyncio.get_running_loop().create_task(self._offer_work(team))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _offer_work(self, team: str | None) -> None:
        try:
            await self.offer_work(team)
        except Exception:
            log.exception("offering waiting work failed")

    async def offer_work(self, team: str | None) -> list[QueueItem]:
        """Tell waiting visitors their new estimates, then offer the waiting work of
        ``team`` (``None``: every team), oldest first, to the agents who could take it
        (online, serving it, with a free slot): a ``waiting_work`` frame each, with the
        oldest :data:`WAITING_WORK_ROWS` rows of the teams they serve (a frame must stay
        small whatever the queue) and how many more wait, to their connections here.

        Only here: every node learns of each agent coming online or freeing a slot (its
        own changes, the other nodes' queue notices and presence rows, and the periodic
        re-read of the queue), so each node tells the agent's connections on it, and
        each connection gets one frame per change from its own node (relayed as well,
        a connection on two nodes' agent got each twice). Returns the rows of ``team``
        waiting."""
        await self.refresh()
        rows = [r for r in await self.desk.queue(("queued",)) if _in_line_row(r, team)]
        rows.sort(key=lambda r: (r.queued_at or r.updated_at, r.conversation_id))
        for agent in self.staffing.candidates(team) if rows else []:
            theirs = [r for r in rows if agent.serves(r.team)]
            if theirs:
                items = theirs[:WAITING_WORK_ROWS]
                frame = SWaitingWork(team=team, items=items, more=len(theirs) - len(items))
                for client in agent.clients:
                    client.push(frame)
        return rows

    # ------------------------------------------------------------------ visitors

    async def choose(
        self,
        conversation_id: str,
        frame: VChooseFallback | VRequestCallback | VLeaveMessage,
        text: str | None,
        ack: Callable[[SAck], None] | None,
    ) -> None:
        """The visitor answered the offer (see :func:`.fallbacks.choice_change`); ``text``
        is an offline message's text as the gateway checked it. Raises ``InvalidState``
        / ``WireError`` before storing anything."""
        policy = await self.policies.current()
        now = self.clock()

        def compose(conv: ConversationRecord) -> fallbacks.Decided:
            return fallbacks.choice_change(conv, frame, text, policy, now)

        stored = await self.desk.apply(
            conversation_id, compose, sender="visitor", client_msg_id=frame.client_msg_id, ack=ack
        )
        if stored is not None:
            self.refresh_soon()


def _in_line_row(row: QueueItem, team: str | None) -> bool:
    return team is None or row.team == team
