"""The AI's turn in a conversation, decided and stored: :class:`AiTurns`.

Two ways a visitor's message and the AI's answer reach the store:

- **The message first** (:meth:`AiTurns._ai_turn` after the message's own append): the
  message is stored and acknowledged, then the AI answers and the answer is stored. Two
  commits; under ``synchronous=FULL`` each waits for an ``fsync``. This is the way for
  an answer that may be slow (an engine running in a worker thread, a streamed answer),
  for a conversation that changes state with the message (a resolved one reopening), a
  queued one the AI goes on with, and a crash's unanswered turn.
- **In one commit** (:meth:`AiTurns._answer_with_message`): for the usual turn, a
  conversation with the AI whose message changes nothing else and an engine quick
  enough to run on the event loop (:class:`~.inline.InlineRunner` says so), the AI
  answers first and the message, the answer and the turn's row are stored together:
  one store call, one commit, one ``fsync`` a turn instead of two, so a visitor waits
  for one disk flush, not two, and the store thread does half the commits. An ack still
  means stored: the message is acknowledged after that commit, published and
  acknowledged before the answer is published, as in the two-commit way, so a client
  sees the same frames in the same order. A turn that escalates stores the message
  first (acknowledged) and then the handoff, as before: the waiting room plans the
  handoff on what is stored. Until the commit nothing is stored and nothing
  acknowledged; a client whose message was not acknowledged sends it again (its
  ``client_msg_id`` makes a repeat harmless).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handoff_server.conversations import changes
from handoff_server.conversations.streaming import PartialStream
from handoff_server.conversations.turn import (
    TurnInput,
    TurnResult,
    evaluate_turn,
    flat_visitor,
    streams,
)
from handoff_server.conversations.turn_rows import turn_row
from handoff_server.escalation import Policy, PriorTurn
from handoff_server.protocol import Event, SAck
from handoff_server.routing import route
from handoff_server.store import ConversationRecord

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from handoff_server.ai.base import Answerer
    from handoff_server.conversations.batching import AnswerBatcher
    from handoff_server.conversations.inline import InlineRunner
    from handoff_server.conversations.memory import ConversationMemory
    from handoff_server.conversations.sink import Ack, EventSink
    from handoff_server.policies import PolicyBook
    from handoff_server.routing import Router, WaitingRoom

__all__ = ["AiTurns"]


class AiTurns:
    """The service's AI turns (mixed into
    :class:`~handoff_server.conversations.ConversationService`)."""

    if TYPE_CHECKING:
        # Provided by the service.
        answerer: Answerer
        sink: EventSink
        ai_timeout: float
        clock: Callable[[], datetime]
        policies: PolicyBook
        router: Router
        memory: ConversationMemory
        runner: InlineRunner
        batcher: AnswerBatcher
        waiting: WaitingRoom

        async def _append(
            self,
            conv: ConversationRecord,
            change: changes.Change,
            ack: Callable[[Event], None] | None = None,
        ) -> tuple[ConversationRecord, list[Event]]: ...

    def _answers_first(self, conv: ConversationRecord, change: changes.Change) -> bool:
        """Whether the visitor's message (``change``, not yet stored) can be stored with
        the AI's answer in one commit: a conversation with the AI that stays with it (no
        reopening), and an engine answering quickly on the loop, not streamed."""
        return (
            conv.status == "ai"
            and len(change.events) == 1
            and self.runner.inline
            and not streams(self.answerer)
        )

    async def _answer_with_message(
        self,
        conv: ConversationRecord,
        change: changes.Change,
        text: str,
        *,
        requested: bool,
        pressed: bool,
        ack: Ack | None,
    ) -> None:
        """The AI decides the turn on the visitor's message ``change`` (see
        :meth:`_answers_first`), then both are stored in one commit and the message is
        acknowledged; a turn that escalates stores the message first, then the handoff.
        The caller holds the conversation's lock."""
        policy = await self.policies.current()
        entry = await self.memory.held(conv.id)
        history = list(entry.turns)  # the message is not among them yet
        result, _ = await self._decide(conv, text, history, requested, policy)
        client_msg_id = change.events[0].client_msg_id or ""

        def acked(message: Event) -> None:
            if ack is not None:
                ack(SAck(client_msg_id=client_msg_id, conversation_id=conv.id, seq=message.seq))

        if result.decision.escalate:
            conv, _ = await self._append(conv, change, acked)
            await self._store_turn(conv, text, result, None, pressed=pressed)
            return
        # The row names the message by its seq, the one it takes in this commit.
        pending = conv.model_copy(update={"last_seq": conv.last_seq + 1})
        row = turn_row(pending, text, result, pressed=pressed)
        reply = changes.ai_reply(result, self.clock())
        both = changes.Change(
            events=change.events + reply.events,
            updates=change.updates,
            turns=[row] if row is not None else [],
        )
        both.updates.update(reply.updates)
        await self._append(conv, both, acked)

    async def _ai_turn(
        self,
        conv: ConversationRecord,
        text: str,
        *,
        explicit_human: bool,
        pressed: bool = False,
        policy: Policy | None = None,
    ) -> None:
        """Decide one AI turn on the visitor's message ``text``, the conversation's last
        stored event (:func:`~.turn.evaluate_turn`), then store and publish the answer or
        the handoff, with the turn's row (:func:`~.turn_rows.turn_row`; ``pressed``: the
        visitor pressed "talk to a person"). The caller holds the conversation lock;
        ``policy``: the one in force (read now when not given)."""
        policy = policy or await self.policies.current()
        entry = await self.memory.held(conv.id)
        result, stream = await self._decide(conv, text, entry.turns[:-1], explicit_human, policy)
        await self._store_turn(conv, text, result, stream, pressed=pressed)

    async def _decide(
        self,
        conv: ConversationRecord,
        text: str,
        history: list[PriorTurn],
        explicit_human: bool,
        policy: Policy,
    ) -> tuple[TurnResult, PartialStream | None]:
        """The decided turn on ``text`` with the earlier turns ``history``, and the
        partial text's stream when the engine streams (``None`` otherwise)."""
        turn = TurnInput(
            text=text,
            history=history,
            explicit_human=explicit_human,
            visitor=flat_visitor(conv.visitor),
            page_url=conv.page_url,
        )
        # The llm engine's text as it is written; none for an engine that does not stream.
        stream = PartialStream(self.sink, conv.id) if streams(self.answerer) else None
        result = await evaluate_turn(
            self.answerer,
            policy,
            turn,
            timeout=self.ai_timeout,
            clock=self.clock,
            on_partial=stream,
            runner=self.runner,
            batcher=self.batcher,
        )
        return result, stream

    async def _store_turn(
        self,
        conv: ConversationRecord,
        text: str,
        result: TurnResult,
        stream: PartialStream | None,
        *,
        pressed: bool,
    ) -> None:
        """Store and publish a decided turn on the stored message ``text`` (the
        conversation's last event): the answer, the holding reply of a queued
        conversation, or the handoff with its wait estimate; with the turn's row."""
        plan = None
        if conv.status == "queued":  # the AI goes on while the visitor waits for a person
            change = changes.holding_reply(result, self.clock())
        elif result.decision.escalate:
            where = route(result.decision)
            notice = self.router.notice()
            change = changes.escalation(conv, result, where, notice, self.clock())
            plan = await self.waiting.plan(conv.id, where.team, where.priority)
            change.updates.update(plan.updates)
        else:
            change = changes.ai_reply(result, self.clock())
        # Before the turn's event: the partial text ends, kept only if the answer is sent.
        if stream is not None:
            stream.finish(answered=result.answer is not None and not result.decision.escalate)
        row = turn_row(conv, text, result, pressed=pressed) if conv.status == "ai" else None
        if row is not None:
            change.turns.append(row)
        await self._append(conv, change)
        if plan is not None:
            self.waiting.tell(conv.id, plan.frames)
