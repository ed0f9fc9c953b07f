"""Push assignment: offering queued conversations to one agent at a time.

For a team that pushes (``[assignment]`` in the config: ``mode``, ``push_teams``,
``pull_teams``), every conversation entering the queue is offered to the least-loaded
agent who is online, connected, serves the team and has a free slot (among equals, the
one whose last offer is oldest). The agent gets an ``offer`` frame and has
``offer_timeout_seconds`` to ``accept`` it (it is then assigned to them, as a claim with
``via: "offer"``); a ``decline`` or the time running out sends it to the next agent. An
agent is offered a conversation at most once in a round of offers; when every agent who
could take it has passed, the round is over and it waits in the queue, where anyone may
still claim it (claiming works in push teams too), until the next round starts
``reoffer_after_seconds`` later (:mod:`.rounds`; ``"off"``: no next round while it stays
queued). When an agent comes online or frees a slot, the waiting conversations of their
teams are offered in queue order: highest priority first, then the longest waiting.

An open offer takes one of the agent's slots, so nobody is offered more than they can
take. With several nodes each node offers to the agents connected to it; an offer lease
shared by the nodes (:class:`~.board.OfferLeases`, taken before the offer is sent and
ended with it) keeps one offer of a conversation open at a time across them. A node
refused the lease (another node's offer is open) looks again when that offer would have
expired. Never here: storing anything (the accepted claim goes through the conversation
service, with its capacity check).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from handoff_server.config import AssignmentSettings
from handoff_server.errors import InvalidState
from handoff_server.protocol import AgentInfo, ConversationStatus, QueueItem, SOffer, SOfferEnded
from handoff_server.routing import offer_metrics
from handoff_server.routing.board import OfferLeases
from handoff_server.routing.presence import AgentState, Presence
from handoff_server.routing.rounds import Rounds
from handoff_server.store import utcnow

__all__ = ["Offer", "Offers"]

log = logging.getLogger(__name__)


@dataclass
class Offer:
    """An open offer of a conversation to one agent."""

    agent_id: str
    timer: asyncio.TimerHandle


@dataclass
class _Waiting:
    """A queued conversation: its row, and the agents it was offered to in this round
    of offers (since it last entered the queue, or its last round started)."""

    item: QueueItem
    tried: set[str] = field(default_factory=set)


class Offers:
    """Offers of queued conversations in push teams.

    ``presence``: who can take them. ``settings``: ``[assignment]``. Feed it every queue
    row the service publishes (:meth:`observe`); it registers with ``presence`` for
    agents becoming available."""

    def __init__(self, presence: Presence, settings: AssignmentSettings) -> None:
        self.presence = presence
        self.settings = settings
        self.waiting: dict[str, _Waiting] = {}
        """Every queued conversation, by id."""
        self.open: dict[str, Offer] = {}
        """Open offers, by conversation id."""
        self.accepting: set[str] = set()
        """Conversations whose accepted offer is being claimed (offered to nobody else
        meanwhile)."""
        self.claiming: Counter[str] = Counter()
        """Agents with an accepted offer being claimed, and how many: offered nothing
        meanwhile (the slot their accepted offer held is free for that claim only; any
        change republishing a queued row, such as a new wait estimate, would otherwise
        offer it to them)."""
        self.leases: OfferLeases | None = None
        """The offer lease shared with other nodes (``None``: one node)."""
        self.leasing: set[str] = set()
        """Conversations whose lease is being taken (offered meanwhile to nobody)."""
        self.on_passed: Callable[[], None] = lambda: None
        """Called when who passed on a conversation changed (:meth:`passed`): an agent
        passed on an offer (declined, let it expire, went away), their free slots no
        longer counting for it, or a new round started, theirs counting again. The
        waiting room re-estimates."""
        self.rounds = Rounds(settings.reoffer_after_seconds, self._new_round)
        """When the next round of offers of each conversation everyone passed on starts."""
        self._retry: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        presence.on_available(self.offer_waiting)

    def observe(self, item: QueueItem, previous: ConversationStatus) -> None:
        """A conversation's new queue row: offer it if it entered the queue of a push
        team; end its offer if it left the queue or now belongs to a team the offered
        agent does not serve."""
        cid = item.conversation_id
        if item.status != "queued":
            self.waiting.pop(cid, None)
            self.rounds.cancel(cid)
            offer = self.open.get(cid)
            holder = item.assigned_agent
            if offer is not None:
                taken_by_them = holder is not None and holder.id == offer.agent_id
                self._end(cid, None if taken_by_them else "taken")
            return
        known = self.waiting.get(cid)
        if known is None or previous != "queued":
            known = self.waiting[cid] = _Waiting(item)
            self.rounds.cancel(cid)
        known.item = item
        offer = self.open.get(cid)
        if offer is not None:
            state = self.presence.agents.get(offer.agent_id)
            if state is None or not state.serves(item.team):
                self._end(cid, "taken")
        self.offer_next(cid)

    def passed(self, conversation_id: str) -> frozenset[str]:
        """The agents who passed on the conversation in this round of offers (since it
        entered a push team's queue, or its last round started): declined, let the offer
        expire, went away. It is offered to them no more until the next round, so their
        free slots are no capacity for it meanwhile (its wait estimate and gate leave
        them out). Empty for a pull team's conversation."""
        waiting = self.waiting.get(conversation_id)
        if waiting is None or not self.settings.pushes(waiting.item.team):
            return frozenset()
        offer = self.open.get(conversation_id)
        return frozenset(waiting.tried - {offer.agent_id} if offer is not None else waiting.tried)

    def offer_waiting(self, team: str | None) -> None:
        """Offer the waiting conversations an agent of ``team`` (``None``: an agent of
        every team) could take, highest priority first, then the longest waiting."""
        order = sorted(
            self.waiting.values(),
            key=lambda w: (-w.item.priority, w.item.queued_at or w.item.updated_at),
        )
        for waiting in order:
            if team is None or waiting.item.team in (None, team):
                self.offer_next(waiting.item.conversation_id)

    def offer_next(self, conversation_id: str) -> None:
        """Offer the conversation to the next agent, if it waits in a push team's queue
        with no open offer and someone who has not passed on it can take it. When
        everyone who could has passed, the round is over: the next is due
        (:attr:`rounds`)."""
        waiting = self.waiting.get(conversation_id)
        busy = (self.open, self.accepting, self.leasing)
        if waiting is None or any(conversation_id in b for b in busy):
            return
        if not self.settings.pushes(waiting.item.team):
            return
        candidates = [
            s
            for s in self.presence.candidates(waiting.item.team)
            if s.info.id not in waiting.tried and not self.claiming[s.info.id]
        ]
        if not candidates:
            if waiting.tried:
                self.rounds.over(conversation_id)
            return
        state = min(candidates, key=lambda s: (s.busy, s.last_offer))
        if self.leases is None:
            self._send(waiting, state)
        else:
            self.leasing.add(conversation_id)
            self._spawn(self._lease_then_send(conversation_id, state))

    async def _lease_then_send(self, conversation_id: str, state: AgentState) -> None:
        """Take the shared lease, then send the offer if it is still wanted; refused,
        look again once the other node's offer would have expired."""
        assert self.leases is not None
        timeout = self.settings.offer_timeout_seconds
        try:
            # A second longer than the offer: it is sent after the lease is taken, and
            # ended (the lease freed) when it ends, expiry included.
            taken = await self.leases.take(conversation_id, state.info.id, timeout + 1)
        except Exception as exc:  # noqa: BLE001 - the database may come back
            log.warning("offer lease of %s not taken: %s", conversation_id, exc)
            taken = False
        finally:
            self.leasing.discard(conversation_id)
        waiting = self.waiting.get(conversation_id)
        if not taken:
            if waiting is not None and conversation_id not in self._retry:
                handle = asyncio.get_running_loop().call_later(
                    timeout, self._again, conversation_id
                )
                self._retry[conversation_id] = handle
            return
        team = waiting.item.team if waiting is not None else None
        still = state in self.presence.candidates(team) and not self.claiming[state.info.id]
        if waiting is None or conversation_id in self.open or not still:
            self._spawn(self.leases.end(conversation_id, state.info.id))
            self.offer_next(conversation_id)
            return
        self._send(waiting, state)

    def _new_round(self, conversation_id: str) -> None:
        """A new round of offers of the conversation: whoever passed on it may be
        offered it again (the agent of an open offer is in this round already), in the
        least-loaded order, and counts as capacity for it again."""
        waiting = self.waiting.get(conversation_id)
        if waiting is None:
            return
        offer = self.open.get(conversation_id)
        waiting.tried = {offer.agent_id} if offer is not None else set()
        offer_metrics.round_started()
        self.offer_next(conversation_id)
        self.on_passed()

    def _again(self, conversation_id: str) -> None:
        self._retry.pop(conversation_id, None)
        self.offer_next(conversation_id)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send(self, waiting: _Waiting, state: AgentState) -> None:
        """Offer ``waiting`` to ``state`` now (their offer timer starts)."""
        conversation_id = waiting.item.conversation_id
        waiting.tried.add(state.info.id)
        self.rounds.cancel(conversation_id)  # someone new was offered it: the round goes on
        timeout = self.settings.offer_timeout_seconds
        loop = asyncio.get_running_loop()
        timer = loop.call_later(timeout, self._expired, conversation_id)
        self.open[conversation_id] = Offer(state.info.id, timer)
        self.presence.offered(state, conversation_id)
        offer_metrics.sent()
        frame = SOffer(
            item=waiting.item,
            expires_at=utcnow() + timedelta(seconds=timeout),
            timeout_seconds=timeout,
        )
        for client in state.clients:
            client.push(frame)

    def _expired(self, conversation_id: str) -> None:
        self._end(conversation_id, "expired")
        self.offer_next(conversation_id)
        self.on_passed()

    def _end(
        self,
        conversation_id: str,
        reason: Literal["expired", "declined", "taken"] | None,
        outcome: offer_metrics.OfferOutcome | None = None,
    ) -> None:
        """Close the open offer; tell the agent why (``None``: they took it). Counted
        (:mod:`.offer_metrics`) as ``outcome``, by default as ``reason`` (``None``:
        ``accepted``)."""
        offer = self.open.pop(conversation_id, None)
        if offer is None:
            return
        offer_metrics.ended(outcome or reason or "accepted")
        offer.timer.cancel()
        if self.leases is not None:
            self._spawn(self.leases.end(conversation_id, offer.agent_id))
        self.presence.offer_over(offer.agent_id, conversation_id)
        state = self.presence.agents.get(offer.agent_id)
        if reason is not None and state is not None:
            frame = SOfferEnded(conversation_id=conversation_id, reason=reason)
            for client in state.clients:
                client.push(frame)

    def _mine(self, agent: AgentInfo, conversation_id: str) -> Offer:
        offer = self.open.get(conversation_id)
        if offer is None or offer.agent_id != agent.id:
            raise InvalidState(
                "no offer of this conversation is open for you (it expired or ended)"
            )
        return offer

    def decline(self, agent: AgentInfo, conversation_id: str) -> None:
        """``agent`` declines their offer: it goes to the next agent. Raises
        ``InvalidState`` when no offer of it is open for them."""
        self._mine(agent, conversation_id)
        self._end(conversation_id, "declined")
        self.offer_next(conversation_id)
        self.on_passed()

    async def accept(
        self, agent: AgentInfo, conversation_id: str, claim: Callable[[], Awaitable[None]]
    ) -> None:
        """``agent`` accepts their offer: ``claim`` it for them. Raises ``InvalidState``
        when no offer of it is open for them, or the claim's refusal (then it goes on to
        the next agent)."""
        self._mine(agent, conversation_id)
        self._end(conversation_id, None)
        self.accepting.add(conversation_id)
        self.claiming[agent.id] += 1
        try:
            await claim()
        finally:
            self.accepting.discard(conversation_id)
            self.claiming[agent.id] -= 1
            if not self.claiming[agent.id]:
                del self.claiming[agent.id]
            self.offer_next(conversation_id)

    def withdraw(self, agent_id: str) -> None:
        """The agent went away or lost their last connection: their open offers go to
        the next agents at once (ended as ``declined``) rather than when they expire."""
        state = self.presence.agents.get(agent_id)
        if state is None or state.reachable:
            return
        ended = [c for c, o in self.open.items() if o.agent_id == agent_id]
        for cid in ended:
            self._end(cid, "declined", outcome="withdrawn")
            self.offer_next(cid)
        if ended:
            self.on_passed()

    def forget(self, conversation_id: str) -> None:
        """The conversation was erased from the store: it waits no more, its open offer
        ends (the agent gets ``offer_ended`` with ``taken``) and no retry or next round
        looks again."""
        self.waiting.pop(conversation_id, None)
        self.rounds.cancel(conversation_id)
        retry = self._retry.pop(conversation_id, None)
        if retry is not None:
            retry.cancel()
        self._end(conversation_id, "taken")

    def held_ids(self) -> set[str]:
        """The conversations held here: waiting, offered, being accepted."""
        return set(self.waiting) | set(self.open) | self.accepting

    def close(self) -> None:
        """Cancel every open offer's timer (the server is stopping)."""
        for offer in self.open.values():
            offer.timer.cancel()
        self.open.clear()
        for handle in self._retry.values():
            handle.cancel()
        self._retry.clear()
        self.rounds.close()
        for task in self._tasks:
            task.cancel()
