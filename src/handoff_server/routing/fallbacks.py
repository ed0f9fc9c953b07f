"""Fallbacks when nobody can come: the offer, the visitor's choice and the agents' tasks.

Pure: each function takes a conversation, what was sent and the time, and returns what to
store (events and conversation columns), or raises a
:class:`~handoff_server.errors.WireError` before anything is stored. The conversation
service stores it under the conversation's lock, with the webhook rows of its events.

The state lives in the conversation's ``fallback`` column (a
:class:`~handoff_server.protocol.FallbackState`): the reason and choices offered, then
what the visitor chose. A conversation stays ``queued`` whatever the choice, so nothing
escalated is lost: a ``callback`` or ``offline_message`` choice makes its queue row a
task, ``ai_continues`` lets the AI answer until a person claims it. Once a task is
arranged it stands: a later choice is refused, telling the visitor what is arranged
(:func:`arranged`), and an agent who does not hold the conversation cannot drop it
(:func:`check_task_kept`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from handoff_server.config import WebhookSettings
from handoff_server.errors import InvalidState, WireError
from handoff_server.escalation import Policy, in_business_hours
from handoff_server.protocol import (
    AAnswerOffline,
    ACallbackDone,
    AgentInfo,
    CallbackDoneData,
    CallbackInfo,
    CallbackRequestedData,
    FallbackChoice,
    FallbackChosenData,
    FallbackOption,
    FallbackReason,
    FallbackState,
    OfflineMessageData,
    OfflineReplyData,
    SFallbackOffer,
    VChooseFallback,
    VLeaveMessage,
    VRequestCallback,
)
from handoff_server.store import ConversationRecord, ConversationUpdate, NewEvent

__all__ = [
    "HOLDING_SENTENCE",
    "ai_continues",
    "arranged",
    "LABELS",
    "Decided",
    "check_task_kept",
    "choice_change",
    "fallback_state",
    "is_live",
    "offer_frame",
    "offer_state",
    "pending_offer",
    "pending_task",
    "task_change",
]

Decided = tuple[list[NewEvent], ConversationUpdate]
"""What to store: events to append and conversation columns to change."""

LABELS: dict[FallbackOption, str] = {
    "wait": "Wait in the queue",
    "callback": "Ask for a call back",
    "offline_message": "Leave a message (answered by email)",
    "ai_continues": "Go on with the AI; a person follows up here",
}
"""A few words per fallback, for a button or a numbered line."""

_OFFER_TEXT: dict[FallbackReason, str] = {
    "closed": "We're closed right now{opens}. What would you like to do?",
    "no_agents": "Nobody from the team is online right now. What would you like to do?",
    "queue_full": "The team is very busy and the queue is full right now. "
    "What would you like to do?",
    "wait_too_long": "The team is very busy: {wait} What would you like to do?",
}

_NOTICES: dict[FallbackOption, str] = {
    "wait": "You'll keep your place in the queue; a person will reply here.",
    "callback": "Thanks: a person will get back to you {how} {when}.",
    "offline_message": "Thanks: your message is saved and a person will answer it by email "
    "at {email}.",
    "ai_continues": "I'll keep helping here, and a person will follow up in this chat as "
    "soon as one is available.",
}

HOLDING_SENTENCE = (
    "I can't answer that one well myself; a person will follow up on it here as soon as "
    "one is available."
)
"""The AI's reply, while it goes on for a visitor waiting for a person (``ai_continues``),
to a turn the policy would have escalated."""

MAX_CALLBACK_DAYS = 30
"""How far ahead a preferred call-back time may be."""
_TASKS: frozenset[str] = frozenset({"callback", "offline_message"})


def fallback_state(conv: ConversationRecord) -> FallbackState | None:
    """The conversation's fallback state, if it has one."""
    return FallbackState.model_validate(conv.fallback) if conv.fallback else None


def is_live(conv: ConversationRecord) -> bool:
    """Whether a queued conversation's visitor waits in the chat (not a call back or an
    offline message, which wait as tasks and take no place in the live line)."""
    state = fallback_state(conv)
    return state is None or state.chosen not in _TASKS


def pending_task(conv: ConversationRecord) -> FallbackState | None:
    """The fallback state of a queued conversation whose visitor asked for a call back
    or left an offline message (a task waiting for an agent), else ``None``."""
    state = fallback_state(conv)
    if conv.status != "queued" or state is None or state.chosen not in _TASKS:
        return None
    return state


def check_task_kept(conv: ConversationRecord, action: str, actor: AgentInfo) -> None:
    """Refuse an agent's action that would drop a pending task (:func:`pending_task`)
    without finishing it: the visitor was promised a call back or an email answer, and
    nothing escalated is dropped. Nobody holds a queued conversation, so ``handback``
    (back to the AI, the task gone) is refused to everyone, and a plain ``resolve`` to
    everyone but an operator (who may resolve anyone's conversation, with a resolution
    code such as ``spam``). The task is finished with ``callback_done`` or
    ``answer_offline``; an agent who claims the conversation holds it and may then
    hand it back or resolve it. Raises ``InvalidState`` naming what was arranged."""
    state = pending_task(conv)
    if state is None or action not in ("handback", "resolve"):
        return
    if action == "resolve" and actor.role == "operator":
        return
    verb = "hand it back" if action == "handback" else "resolve it"
    if state.chosen == "callback":
        raise InvalidState(
            "the visitor is waiting for a call back: finish it with callback_done,"
            f" or claim the conversation before you {verb}"
        )
    raise InvalidState(
        "the visitor left an offline message: answer it with answer_offline,"
        f" or claim the conversation before you {verb}"
    )


def ai_continues(conv: ConversationRecord) -> bool:
    """Whether the AI answers this queued conversation's visitor until a person comes
    (they chose ``ai_continues``)."""
    state = fallback_state(conv)
    return conv.status == "queued" and state is not None and state.chosen == "ai_continues"


def pending_offer(conv: ConversationRecord) -> FallbackState | None:
    """The offer the visitor has not answered yet, if any."""
    state = fallback_state(conv)
    if conv.status != "queued" or state is None or state.reason is None or state.chosen:
        return None
    return state


def unkeepable(webhooks: WebhookSettings) -> frozenset[FallbackOption]:
    """The fallbacks this server cannot keep as it promises them, given its webhook
    endpoints: an offline message is "answered by email", and handoff sends no email
    itself: the answer goes out as the ``offline_message.replied`` webhook for the
    team's mail system. With no endpoint receiving that event, the answer would go
    nowhere, so ``offline_message`` is not offered (a call back needs nothing but the
    agent's phone)."""
    receives = any(
        not e.events or "offline_message.replied" in e.events for e in webhooks.endpoints
    )
    return frozenset() if receives else frozenset({"offline_message"})


def offer_state(
    reason: FallbackReason,
    options: list[FallbackOption],
    opens_at: datetime | None,
    now: datetime,
) -> FallbackState:
    """The offer of ``options`` (the operator's order) for ``reason``."""
    return FallbackState(
        reason=reason,
        choices=[FallbackChoice(option=o, label=LABELS[o]) for o in options],
        opens_at=opens_at,
        at=now,
    )


def opening_words(opens_at: datetime, now: datetime, timezone: str) -> str:
    """When ``opens_at`` is, told at ``now`` (both aware) in ``timezone`` (IANA): "today
    at 09:00", "tomorrow at 09:00", "on Tuesday at 09:00" within the week, else with the
    date ("on Tuesday 15 December at 09:00")."""
    zone = ZoneInfo(timezone)
    local = opens_at.astimezone(zone)
    days = (local.date() - now.astimezone(zone).date()).days
    if days <= 0:
        day = "today"
    elif days == 1:
        day = "tomorrow"
    elif days < 7:
        day = f"on {local:%A}"
    else:
        day = f"on {local:%A} {local.day} {local:%B}"
    return f"{day} at {local:%H:%M}"


def offer_frame(
    conversation_id: str,
    state: FallbackState,
    wait_text: str,
    now: datetime,
    timezone: str = "UTC",
) -> SFallbackOffer:
    """The ``fallback_offer`` frame for a pending offer, told at ``now`` (aware);
    ``wait_text`` is the current wait sentence (quoted for ``wait_too_long``);
    ``timezone`` (IANA) is the business hours' zone, in which the opening time is told."""
    assert state.reason is not None
    opens = ""
    if state.opens_at is not None and state.opens_at > now:  # a past one is no promise
        opens = f"; we open again {opening_words(state.opens_at, now, timezone)} ({timezone})"
    text = _OFFER_TEXT[state.reason].format(opens=opens, wait=wait_text)
    return SFallbackOffer(
        conversation_id=conversation_id,
        reason=state.reason,
        text=text,
        choices=state.choices,
        opens_at=state.opens_at,
    )


def _offered(conv: ConversationRecord, option: FallbackOption) -> FallbackState:
    """The conversation's fallback state, if ``option`` was offered, it still waits for
    a person and no task was arranged yet (:func:`arranged`); else ``InvalidState``."""
    if conv.status != "queued":
        raise InvalidState(f"the conversation is {conv.status}, not waiting for a person")
    state = fallback_state(conv)
    if state is None or option not in {c.option for c in state.choices}:
        raise InvalidState(f"{option!r} was not offered in this conversation")
    promised = arranged(state)
    if promised is not None:
        raise InvalidState(f"{promised} Write here if you want to add anything.")
    return state


def arranged(state: FallbackState) -> str | None:
    """What the visitor was promised, once their choice made a task (a call back, an
    offline message): a sentence for them; ``None`` before. A later choice would
    overwrite that promise (its webhook already sent, an agent perhaps already on it),
    so it is refused with this sentence instead: the first task stands."""
    if state.chosen == "callback" and state.callback is not None:
        how, when = _callback_parts(state.callback)
        return f"A call back is already arranged: a person will get back to you {how} {when}."
    if state.chosen == "offline_message":
        return f"Your message is already saved: a person will answer it by email at {state.email}."
    return None


def _check_time(at: datetime | None, policy: Policy, now: datetime) -> None:
    """A preferred call-back time must be ahead, within business hours and the next
    :data:`MAX_CALLBACK_DAYS` days (``invalid_frame`` naming the field)."""
    if at is None:
        return
    if at <= now:
        raise WireError("preferred_at: the time has passed", code="invalid_frame")
    if at > now + timedelta(days=MAX_CALLBACK_DAYS):
        raise WireError(
            f"preferred_at: more than {MAX_CALLBACK_DAYS} days ahead", code="invalid_frame"
        )
    hours = policy.business_hours
    if not in_business_hours(hours, at):
        raise WireError(
            f"preferred_at: outside business hours ({', '.join(hours.days)}"
            f" {hours.start:%H:%M}-{hours.end:%H:%M} {hours.timezone})",
            code="invalid_frame",
        )


def choice_change(
    conv: ConversationRecord,
    frame: VChooseFallback | VRequestCallback | VLeaveMessage,
    text: str | None,
    policy: Policy,
    now: datetime,
) -> Decided:
    """The visitor's answer to the offer: the event (``fallback_chosen``,
    ``callback_requested`` or ``offline_message``, with their sentence) and the new
    fallback state. ``text`` is the offline message as the gateway checked it. Raises
    ``InvalidState`` when the option was not offered, the conversation no longer waits,
    or a call back or offline message is already arranged (the sentence says which:
    :func:`arranged`), ``WireError(invalid_frame)`` for a preferred time that cannot be."""
    if isinstance(frame, VChooseFallback):
        state = _offered(conv, frame.option)
        data = FallbackChosenData(option=frame.option, notice=_NOTICES[frame.option])
        event = _sent("fallback_chosen", data, "visitor", frame.client_msg_id, now)
        new = state.model_copy(update={"chosen": frame.option, "at": now})
    elif isinstance(frame, VRequestCallback):
        state = _offered(conv, "callback")
        _check_time(frame.preferred_at, policy, now)
        callback = CallbackInfo(
            phone=frame.phone, email=frame.email, preferred_at=frame.preferred_at, note=frame.note
        )
        notice = _callback_notice(callback)
        cb = CallbackRequestedData(**callback.model_dump(exclude_none=True), notice=notice)
        event = _sent("callback_requested", cb, "visitor", frame.client_msg_id, now)
        new = state.model_copy(update={"chosen": "callback", "callback": callback, "at": now})
    else:
        state = _offered(conv, "offline_message")
        body = text if text is not None else frame.text
        notice = _NOTICES["offline_message"].format(email=frame.email)
        om = OfflineMessageData(email=frame.email, text=body, notice=notice)
        event = _sent("offline_message", om, "visitor", frame.client_msg_id, now)
        update = {"chosen": "offline_message", "message": body, "email": frame.email, "at": now}
        new = state.model_copy(update=update)
    return [event], {"fallback": new.model_dump(mode="json")}


def _sent(kind: str, data: BaseModel, sender: str, client_msg_id: str, now: datetime) -> NewEvent:
    """The event answering a client's frame (``sender``: ``visitor`` or the agent's id)."""
    return NewEvent(
        kind=kind,
        data=data.model_dump(mode="json"),
        client_msg_id=client_msg_id,
        sender=sender,
        at=now,
    )


def _callback_parts(callback: CallbackInfo) -> tuple[str, str]:
    """How and when the visitor is called back, in words."""
    how = f"by phone at {callback.phone}" if callback.phone else f"by email at {callback.email}"
    when = (
        f"around {callback.preferred_at:%Y-%m-%d %H:%M} UTC"
        if callback.preferred_at
        else "as soon as someone is available"
    )
    return how, when


def _callback_notice(callback: CallbackInfo) -> str:
    how, when = _callback_parts(callback)
    return _NOTICES["callback"].format(how=how, when=when)


def task_change(
    conv: ConversationRecord,
    agent: AgentInfo,
    frame: ACallbackDone | AAnswerOffline,
    text: str | None,
    now: datetime,
) -> Decided:
    """An agent finished a task: ``callback_done`` (``text``: their note) or
    ``offline_reply`` (``text``: the reply, sent by email); either resolves the
    conversation. Raises ``InvalidState`` when the visitor asked for no such task. The
    caller checks the agent may resolve the conversation."""
    state = fallback_state(conv)
    wanted = "callback" if isinstance(frame, ACallbackDone) else "offline_message"
    if state is None or state.chosen != wanted:
        raise InvalidState(
            "the visitor asked for no call back"
            if wanted == "callback"
            else "the visitor left no offline message"
        )
    if isinstance(frame, ACallbackDone):
        notice = f"{agent.name} got back to you; this conversation is resolved."
        done = CallbackDoneData(agent=agent, text=text, notice=notice)
        event = _sent("callback_done", done, agent.id, frame.client_msg_id, now)
    else:
        notice = f"{agent.name} answered your message by email at {state.email}."
        reply = OfflineReplyData(
            agent=agent, text=text or "", email=state.email or "", notice=notice
        )
        event = _sent("offline_reply", reply, agent.id, frame.client_msg_id, now)
    return [event], {"status": "resolved"}
