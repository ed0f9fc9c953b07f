"""The agents' desk: routing's side of every agent connection, wired by ``app.py``
between the gateway and the conversation service.

:class:`Desk` owns the :class:`~handoff_server.routing.presence.Presence` (presence,
teams, capacity, load) and the :class:`~handoff_server.routing.assignment.Offers` (push
assignment), answers the routing frames (``presence``, ``transfer``, ``accept``,
``decline``), orders an agent's queue with their teams first, and puts the conversations
of an agent gone past the grace period back in the queue. :class:`RoutedSink` is the
service's event sink: the hub's, plus every queue row shown to the desk, which is how
routing learns who holds what.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from handoff_server.config import AssignmentSettings, ClusterSettings
from handoff_server.conversations.sink import Ack, Decided, EventSink
from handoff_server.errors import InvalidState, NotFound
from handoff_server.protocol import (
    AAccept,
    ADecline,
    AgentInfo,
    APresence,
    ATransfer,
    ConversationStatus,
    Event,
    QueueItem,
    SStaff,
)
from handoff_server.routing.assignment import Offers
from handoff_server.routing.board import LocalBoard, PresenceBoard, PresenceSync
from handoff_server.routing.presence import Client, Presence
from handoff_server.routing.transfer import requeue_change, transfer_change
from handoff_server.store import AgentRecord, AsyncStore, ConversationRecord, utcnow
from handoff_server.tokens import refusal

__all__ = ["Conversations", "Desk", "RoutedSink"]

log = logging.getLogger(__name__)

_REQUEUE_REASONS = {
    "token revoked": "token_revoked",
    "token expired": "token_expired",
    "unknown token": "agent_deleted",
}
"""A ``requeued`` event's ``reason`` for each way a holder's token stops working."""


class Conversations(Protocol):
    """What the desk asks of the conversation service."""

    async def agent_action(
        self,
        agent: AgentInfo,
        action: Any,
        conversation_id: str,
        client_msg_id: str,
        text: str | None,
        ack: Ack | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """An agent's claim (and the other lifecycle actions)."""
        ...

    async def apply(
        self,
        conversation_id: str,
        decide: Callable[[ConversationRecord], Decided | None],
        *,
        sender: str | None = None,
        client_msg_id: str | None = None,
        ack: Ack | None = None,
        seat: tuple[str, int] | None = None,
    ) -> ConversationRecord | None:
        """Store a change decided by routing (``seat``: the capacity of the agent it
        assigns to, checked in its transaction); the conversation as stored (``None``:
        nothing stored)."""
        ...

    async def queue(self, statuses: Sequence[ConversationStatus]) -> list[QueueItem]:
        """The conversations in ``statuses``, in queue order."""
        ...


class Desk:
    """Routing for the agents. ``service``: the conversation service; ``store``: read
    once at :meth:`start` (the roster, who holds what, what waits); ``settings``:
    ``[assignment]``; ``clock``: the time of the changes it stores (UTC); ``presence``:
    the agents' :class:`~.presence.Presence` (made from ``settings`` unless given; the
    server gives the one the conversation service's waiting room reads as its staffing);
    ``board`` and ``cluster``: where the presence is shared with other nodes and how
    often (:mod:`~.board`; default: one node, nothing shared)."""

    def __init__(
        self,
        service: Conversations,
        store: AsyncStore,
        settings: AssignmentSettings,
        clock: Callable[[], datetime] = utcnow,
        *,
        presence: Presence | None = None,
        board: PresenceBoard | None = None,
        cluster: ClusterSettings | None = None,
    ) -> None:
        self.service = service
        self._store = store
        self.settings = settings
        self.clock = clock
        self.presence = presence or Presence.from_settings(settings)
        self.presence.on_gone = self._gone
        self.offers = Offers(self.presence, settings)
        self._tasks: set[asyncio.Task[Any]] = set()
        cluster = cluster or ClusterSettings()
        self.sync = PresenceSync(
            board or LocalBoard(),
            self.presence.local_rows,
            self.presence.elsewhere,
            cluster.presence_heartbeat_seconds,
            cluster.presence_ttl_seconds,
        )
        self.presence.on_local = self.sync.kick

    async def start(self) -> None:
        """Learn the roster, who holds which conversation and what waits in the queue;
        agents whose token no longer works are off the roster, their conversations
        back in the queue."""
        db = self._store.store
        records = await self._store.call(db.list_agents)
        for record in records:
            self.presence.know(record)
        for item in await self.service.queue(["queued", "assigned"]):
            self.observe(item, item.status)
        self.tokens_read({r.id: r for r in records}, self.clock())
        self.sync.start()

    def tokens_read(self, records: dict[str, AgentRecord], now: datetime) -> None:
        """The agents as just read from the store (id → record; one missing was
        deleted), at ``now`` (UTC): every agent whose token no longer works (revoked,
        expired, deleted) leaves the roster at once, their open offers move on and the
        conversations they hold go back to the queue in place (``requeued`` with
        ``reason`` ``token_revoked``, ``token_expired`` or ``agent_deleted``). The token
        guard calls it at each re-read (:mod:`handoff_server.tokens`)."""
        for agent_id, state in list(self.presence.agents.items()):
            record = records.get(agent_id)
            if record is None and (state.links or state.elsewhere is not None):
                # Created since the read, maybe (signed in on another node): a deleted
                # agent's connections close first, and the next read ends them.
                continue
            reason = refusal(record, now)
            if reason is None and state.ended is not None:
                self.presence.know(records[agent_id])  # un-revoked in the database, say
            if reason is None or state.ended is not None:
                continue
            held = self.presence.end(agent_id, reason)
            self.offers.withdraw(agent_id)
            for cid in held:
                self._spawn(self._requeue(state.info, cid, _REQUEUE_REASONS[reason]))

    async def check_tokens(self) -> None:
        """Read the agents now and apply them (:meth:`tokens_read`): before a transfer's
        target is chosen and a roster is sent, so neither waits for the guard's next
        re-read."""
        records = await self._store.call(self._store.store.list_agents)
        self.tokens_read({r.id: r for r in records}, self.clock())

    def observe(self, item: QueueItem, previous: ConversationStatus) -> None:
        """A conversation's new queue row (see :class:`RoutedSink`)."""
        self.presence.observe(item)
        self.offers.observe(item, previous)

    def forget(self, conversation_id: str) -> None:
        """The conversation was erased from the store: its holder's slot, its offer and
        its place among the waiting are released (see :meth:`.Presence.forget`,
        :meth:`.Offers.forget`)."""
        self.presence.forget(conversation_id)
        self.offers.forget(conversation_id)

    def held_ids(self) -> set[str]:
        """The conversations routing holds in memory: held by an agent, waiting, offered."""
        return set(self.presence.holders) | self.offers.held_ids()

    # ----------------------------------------------------------------- connections

    def linked(self, agent: AgentInfo) -> None:
        """A connection of ``agent`` is signed in."""
        self.presence.linked(agent)

    def unlinked(self, agent: AgentInfo, client: Client) -> None:
        """A connection of ``agent`` closed (offers to an agent gone move on)."""
        self.presence.unlinked(agent, client)
        self.offers.withdraw(agent.id)

    async def queue(
        self, agent: AgentInfo, statuses: Sequence[ConversationStatus]
    ) -> list[QueueItem]:
        """The queue in ``statuses`` for ``agent``: their teams' conversations first,
        each part in queue order."""
        items = await self.service.queue(statuses)
        state = self.presence.agents.get(agent.id)
        teams = set(state.teams) if state is not None else set()
        return sorted(items, key=lambda i: i.team not in teams) if teams else items

    # ----------------------------------------------------------------- actions

    async def transfer(
        self,
        agent: AgentInfo,
        conversation_id: str,
        client_msg_id: str,
        to: tuple[str | None, str | None],
        note: str | None,
        ack: Ack | None,
    ) -> None:
        """Transfer the conversation to ``to`` = (agent id, team), one of them given.
        Raises ``NotFound`` (no such agent, or one whose token no longer works: revoked,
        expired, deleted, as the store says now), ``InvalidState`` (the agent is not
        online, is you, or the conversation cannot be transferred), ``Conflict``,
        ``at_capacity`` (the agent has no free slot)."""
        to_agent_id, to_team = to
        target = None
        if to_agent_id is not None:
            await self.check_tokens()
            state = self.presence.agents.get(to_agent_id)
            if state is None:
                raise NotFound(f"no agent {to_agent_id!r}")
            if state.ended is not None:
                raise NotFound(
                    f"{state.info.name} is no longer on the roster ({state.ended}):"
                    " transfer to an online agent, or to a team"
                )
            if state.info.id == agent.id:
                raise InvalidState("you cannot transfer a conversation to yourself")
            if not state.present:
                connected = state.clients or state.elsewhere_connected
                raise InvalidState(
                    f"{state.info.name} is {state.shown_status if connected else 'not connected'}:"
                    " transfer to an online agent, or to a team"
                )
            target = state.info

        def decide(conv: ConversationRecord) -> Decided:
            return transfer_change(conv, agent, target, to_team, note, client_msg_id, self.clock())

        seat = self.presence.seat(target) if target is not None else nullcontext()
        with seat as capacity:
            await self.service.apply(
                conversation_id,
                decide,
                sender=agent.id,
                client_msg_id=client_msg_id,
                ack=ack,
                seat=(target.id, capacity) if target is not None and capacity else None,
            )

    async def accept(
        self, agent: AgentInfo, conversation_id: str, client_msg_id: str, ack: Ack | None
    ) -> None:
        """``agent`` accepts the offer of the conversation: claimed for them, with
        ``via: "offer"``. Raises ``InvalidState`` when no offer of it is open for them,
        and the claim's refusals."""
        await self.offers.accept(
            agent,
            conversation_id,
            lambda: self.service.agent_action(
                agent, "claim", conversation_id, client_msg_id, None, ack, {"via": "offer"}
            ),
        )

    def decline(self, agent: AgentInfo, conversation_id: str) -> None:
        """``agent`` declines the offer: it goes to the next agent."""
        self.offers.decline(agent, conversation_id)

    async def handle(
        self,
        frame: APresence | ATransfer | AAccept | ADecline,
        agent: AgentInfo,
        client: Client,
        check_text: Callable[..., str | None],
    ) -> None:
        """Answer a routing frame of ``agent``'s connection ``client`` (acks, errors and
        the roster go to it). ``check_text(text, required=False)`` is the gateway's text
        check for a transfer's note. Raises the actions' ``WireError``s."""
        if isinstance(frame, APresence):
            await self.check_tokens()  # a token revoked while nobody watched: off the roster
            # No await from here: the roster goes out before any offer the change brings.
            self.presence.declare(agent, client, frame.status)
            self.offers.withdraw(agent.id)  # away: their offers move on
            client.push(SStaff(agents=self.presence.roster()))
        elif isinstance(frame, ATransfer):
            note = check_text(frame.note, required=False)
            to = (frame.to_agent, frame.to_team)
            await self.transfer(
                agent, frame.conversation_id, frame.client_msg_id, to, note, client.push
            )
        elif isinstance(frame, AAccept):
            await self.accept(agent, frame.conversation_id, frame.client_msg_id, client.push)
        else:
            self.decline(agent, frame.conversation_id)

    # ----------------------------------------------------------------- agents gone

    def _gone(self, agent: AgentInfo, conversation_ids: list[str]) -> None:
        """Put the conversations ``agent`` still holds back in the queue."""
        for cid in conversation_ids:
            self._spawn(self._requeue(agent, cid))

    async def _requeue(
        self, agent: AgentInfo, conversation_id: str, reason: str = "agent_disconnected"
    ) -> None:
        log.info("agent %s gone: conversation %s back in the queue", agent.id, conversation_id)
        await self.service.apply(
            conversation_id, lambda conv: requeue_change(conv, agent.id, self.clock(), reason)
        )

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("routing task failed", exc_info=task.exception())

    async def close(self) -> None:
        """Stop the presence sync (this node's rows deleted) and the timers, and wait
        for the returns to the queue under way."""
        await self.sync.close()
        self.offers.close()
        for state in self.presence.agents.values():
            if state.gone is not None:
                state.gone.cancel()
                state.gone = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class RoutedSink:
    """The service's :class:`~handoff_server.conversations.sink.EventSink`: the hub's,
    with every queue row also shown to the ``observers`` (the :class:`Desk`'s
    :meth:`~Desk.observe`, added once the desk exists)."""

    def __init__(self, hub: EventSink) -> None:
        self.hub = hub
        self.observers: list[Callable[[QueueItem, ConversationStatus], None]] = []

    def publish(self, events: Sequence[Event], conversation_id: str) -> None:
        """To the hub."""
        self.hub.publish(events, conversation_id)

    def publish_queue(self, item: QueueItem, previous: ConversationStatus) -> None:
        """To the hub, then to the observers."""
        self.hub.publish_queue(item, previous)
        for observe in self.observers:
            observe(item, previous)

    def publish_visitor(self, conversation_id: str, frame: BaseModel) -> None:
        """To the hub."""
        self.hub.publish_visitor(conversation_id, frame)

    def attached(self, conversation_id: str, seq: int) -> None:
        """To the hub, if it fans out across nodes (it tracks what was delivered)."""
        attached = getattr(self.hub, "attached", None)
        if attached is not None:
            attached(conversation_id, seq)

    def publish_live(self, conversation_id: str, frame: BaseModel) -> None:
        """To the hub."""
        self.hub.publish_live(conversation_id, frame)

    @property
    def agents_online(self) -> int:
        """The hub's count."""
        return self.hub.agents_online
