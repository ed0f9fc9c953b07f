"""Wire protocol v1: every frame on ``/v1/visitor`` and ``/v1/agent``, as pydantic models.

Frames are JSON text messages with a ``type`` field; each direction is one discriminated
union (:data:`VisitorFrame`, :data:`AgentFrame`, :data:`ServerFrame`). Unknown fields and
unknown types are rejected (``invalid_frame`` / ``unknown_type``) by the parsers in
:mod:`handoff_server.frames`.

Client-sent frames that change state carry a ``client_msg_id`` (1–64 characters, unique
per conversation): a retried frame is stored once and acknowledged again with the same
``seq`` (``duplicate: true``).

Events carry a per-conversation ``seq`` starting at 1. A client that reconnects sends the
last ``seq`` it saw and receives exactly the events after it. Visitors do not receive
internal events (agent notes), so their ``seq`` may skip numbers; it never goes back.

This module does no I/O and imports nothing of the server: clients (the TUI, the CLI)
read it as the contract.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

import regex
from email_validator import EmailNotValidError, validate_email
from phonenumbers import NumberParseException, PhoneNumberFormat, format_number, is_valid_number
from phonenumbers import parse as parse_phone
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    field_validator,
    model_serializer,
    model_validator,
)

__all__ = [
    "AI_VERDICTS",
    "RESOLUTIONS",
    "RESOLVING_KINDS",
    "AgentStatus",
    "AiVerdict",
    "PresenceStatus",
    "Requeued",
    "RequeuedData",
    "Resolution",
    "ResolvedData",
    "ResolvedVia",
    "Transferred",
    "TransferredData",
    "DEFAULT_QUEUE_STATUSES",
    "PROTOCOL_VERSION",
    "AgentActionData",
    "AgentFrame",
    "AgentInfo",
    "AgentMessage",
    "AgentName",
    "AgentRole",
    "AgentTextData",
    "AiMessage",
    "AiMessageData",
    "CallbackDone",
    "CallbackDoneData",
    "CallbackInfo",
    "CallbackRequested",
    "CallbackRequestedData",
    "EmailAddress",
    "FallbackChoice",
    "FallbackChosen",
    "FallbackChosenData",
    "FallbackOption",
    "FallbackReason",
    "FallbackState",
    "OfflineMessage",
    "OfflineMessageData",
    "OfflineReply",
    "OfflineReplyData",
    "PhoneNumber",
    "WaitInfo",
    "CandidateInfo",
    "Claimed",
    "ClaimedData",
    "ConversationStarted",
    "ConversationStartedData",
    "ConversationStatus",
    "DecisionInfo",
    "DraftInfo",
    "ErrorCode",
    "Escalated",
    "EscalatedData",
    "Event",
    "EventActor",
    "EventAgent",
    "HandedBack",
    "HandoffPacket",
    "Limits",
    "Note",
    "VisitorLimits",
    "QueueItem",
    "Released",
    "Reopened",
    "ReopenedData",
    "Resolved",
    "ServerFrame",
    "SystemMessage",
    "TEAM_NAME_PATTERN",
    "TeamName",
    "SystemMessageData",
    "TriggerEvaluationInfo",
    "TriggerInfo",
    "VisitorFrame",
    "AAnswerOffline",
    "ACallbackDone",
    "SFallbackOffer",
    "SWaitEstimate",
    "SWaitingWork",
    "SAiPartial",
    "VChooseFallback",
    "VLeaveMessage",
    "VRequestCallback",
    "VisitorEmail",
    "VisitorInfo",
    "VisitorMessage",
    "VisitorMessageData",
    "dump_frame",
    "email_key",
    "matching_emails",
    "normalized_email",
    "KNOWN_BLANKS",
    "has_visible_text",
    "parse_event",
]

TEAM_NAME_PATTERN = r"[A-Za-z0-9_.-]{1,64}"
"""A team's name, wherever one is written (policy, KB entries, queue rows): 1–64 letters,
digits, ``_``, ``.`` or ``-`` (``billing``, ``tier-2``)."""


def _team_name(value: str) -> str:
    if not regex.fullmatch(TEAM_NAME_PATTERN, value):
        raise ValueError(f"team {value!r}: use 1-64 letters, digits, '_', '.' or '-'")
    return value


TeamName = Annotated[str, AfterValidator(_team_name)]
"""A team name checked against :data:`TEAM_NAME_PATTERN` (``ValueError`` naming the rule)."""

FallbackOption = Literal["wait", "callback", "offline_message", "ai_continues"]
"""What a visitor may choose when nobody can come (``docs/routing.md``): stay queued with
the wait estimate, a call back, an offline message answered by email, or the AI keeps
answering until a person follows up."""

FallbackReason = Literal["closed", "no_agents", "queue_full", "wait_too_long"]
"""Why fallbacks are offered: outside business hours; nobody of the team online; the
team's queue is at its ``max_queue_length``; the estimate is past ``max_wait_minutes``."""


def _phone(value: str) -> str:
    try:
        number = parse_phone(value, None)
    except NumberParseException:
        number = None
    if number is None or not is_valid_number(number):
        raise ValueError(
            "not a phone number in international format (a '+', the country code, the"
            " number: '+49 30 901820')"
        )
    return format_number(number, PhoneNumberFormat.E164)


def normalized_email(value: str) -> str:
    """``value`` as a normalized email address (``email-validator``, syntax only, no DNS
    look-up: the domain lower-cased, Unicode NFC). Raises ``ValueError`` ("not an email
    address: why") for anything else."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not an email address: {exc}") from None


def email_key(value: str) -> str:
    """The key two stored emails are the same visitor's by (erasure, any look-up of a
    visitor by email): ``value`` trimmed, Unicode NFC, case-folded whole
    (:meth:`str.casefold`: ``Ödön.Ü@Example.com`` and ``ödön.ü@example.com`` agree;
    ``ß`` folds to ``ss``), NFC again. Computed in Python for both stores alike, never
    by a database's ``lower()`` (SQLite's folds ASCII only; PostgreSQL's follows the
    database's locale)."""
    folded = unicodedata.normalize("NFC", value.strip()).casefold()
    return unicodedata.normalize("NFC", folded)


def matching_emails(stored: Iterable[object], email: str) -> list[str]:
    """The values of ``stored`` (emails as stored; non-strings skipped) whose
    :func:`email_key` is ``email``'s, each once, sorted: what a store then matches
    exactly."""
    key = email_key(email)
    return sorted({s for s in stored if isinstance(s, str) and email_key(s) == key})


def _email(value: str) -> str:
    return normalized_email(value)


def _visitor_email(value: str) -> str:
    """The visitor's own email as the hello stores it: normalized like
    :data:`EmailAddress` when it is one, else kept as given (trimmed), never refused:
    a conversation must not fail over an optional self-description (the widget's
    ``type=email`` check lets ``a@b`` through, and ``data-email`` comes from the host
    page). Clients that ask a person (``handoff visit --email``) check it first."""
    text = value.strip()
    try:
        return normalized_email(text)
    except ValueError:
        return text


PhoneNumber = Annotated[str, Field(max_length=40), AfterValidator(_phone)]
"""A phone number in international format, kept as E.164 (``+4930901820``); checked
with ``phonenumbers`` (Google's libphonenumber metadata)."""

EmailAddress = Annotated[str, Field(max_length=254), AfterValidator(_email)]
"""An email address, checked for syntax (``email-validator``, no DNS look-up) and kept
normalised."""

VisitorEmail = Annotated[str, Field(max_length=500), AfterValidator(_visitor_email)]
"""The email a visitor gives about themselves (``VisitorInfo.email``): normalized when
it is an address, else kept as given (never refused; see ``_visitor_email``)."""

PROTOCOL_VERSION = "v1"
MAX_SEQ = 2**53 - 1
"""Largest sequence number a client may send (the largest integer JSON carries exactly)."""

ClientMsgId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
ConversationId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ShortText = Annotated[str, Field(max_length=500)]

ConversationStatus = Literal["ai", "queued", "assigned", "resolved"]
"""Where a conversation is in its lifecycle (see DESIGN.md)."""

AgentRole = Literal["agent", "operator"]
"""What a signed-in person may do: operators may also resolve or hand back a
conversation another agent holds."""

DEFAULT_QUEUE_STATUSES: tuple[ConversationStatus, ...] = ("queued", "assigned")
"""What ``subscribe_queue`` watches when it names no ``statuses``: the agents' queue."""

PresenceStatus = Literal["online", "away", "offline"]
"""An agent's presence: ``online`` (takes conversations), ``away`` (signed in, takes
none), ``offline`` (gone, or never said they are here)."""

Resolution = Literal["answered", "referred", "no_response", "duplicate", "spam", "other"]
"""How a conversation ended, as the agent resolving it says: ``answered`` (the visitor's
need was met), ``referred`` (sent to another channel: email, phone, a ticket),
``no_response`` (the visitor stopped answering), ``duplicate`` (another conversation
covers it), ``spam``, ``other``."""

RESOLUTIONS: tuple[Resolution, ...] = (
    "answered",
    "referred",
    "no_response",
    "duplicate",
    "spam",
    "other",
)
"""Every :data:`Resolution`, in the order agents are offered them."""

ResolvedVia = Literal["resolve", "callback", "offline_message"]
"""How a conversation became resolved: an agent's (or operator's) ``resolve``, a call
back marked done (``callback_done``), an offline message answered (``answer_offline``)."""

RESOLVING_KINDS: dict[str, ResolvedVia] = {
    "resolved": "resolve",
    "callback_done": "callback",
    "offline_reply": "offline_message",
}
"""The event kinds that resolve a conversation, and how (:data:`ResolvedVia`). Whatever
announces or counts resolutions reads every one of them, not ``resolved`` alone: a call
back done and an offline message answered resolve the conversation with an event of
their own."""

AiVerdict = Literal["right", "wrong", "not_attempted"]
"""The agent's verdict on the AI's answer to the visitor's question: ``right`` (it was
right, a person was still needed), ``wrong``, ``not_attempted`` (the AI did not answer)."""

AI_VERDICTS: tuple[AiVerdict, ...] = ("right", "wrong", "not_attempted")
"""Every :data:`AiVerdict`, in the order agents are offered them."""

ErrorCode = Literal[
    "invalid_json",
    "invalid_frame",
    "unknown_type",
    "message_too_long",
    "empty_message",
    "not_started",
    "already_started",
    "not_found",
    "bad_resume_token",
    "unauthorized",
    "forbidden",
    "invalid_state",
    "conflict",
    "at_capacity",
    "rate_limited",
    "unavailable",
    "visitor_info_too_large",
    "too_many_connections",
    "internal",
]
"""Stable error codes sent in ``error`` frames."""


KNOWN_BLANKS = "\u2800\u115f\u1160\u3164\uffa0\U0001d159"
"""Assigned letters and symbols that draw nothing: U+2800 BRAILLE PATTERN BLANK, the
Hangul fillers (U+115F, U+1160, U+3164, U+FFA0) and U+1D159 MUSICAL SYMBOL NULL NOTEHEAD."""

_VISIBLE = regex.compile(
    r"[[\p{L}\p{N}\p{P}\p{S}]--[\p{Default_Ignorable_Code_Point}" + KNOWN_BLANKS + "]]",
    flags=regex.V1,
)


def has_visible_text(text: str) -> bool:
    """True when ``text`` has at least one character a reader can see.

    Visible is a letter, number, punctuation or symbol (Unicode categories L*, N*, P*,
    S*) that is not default-ignorable (Unicode DerivedCoreProperties) and not one of
    :data:`KNOWN_BLANKS`. Everything else draws nothing on its own: whitespace, controls
    (Cc), format characters (Cf: U+200B, U+2060, U+FEFF, bidi controls, tags...),
    private-use (Co) and unassigned (Cn) code points, and combining marks (M*), which
    only decorate a visible base (``"e\u0301"`` is visible through its ``e``; U+0301
    alone, or on U+2800, is not). Emoji sequences count through their pictographs (So).
    Client text without a visible character is refused with ``empty_message``.
    """
    return _VISIBLE.search(text) is not None


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- shared parts


class VisitorInfo(_Frame):
    """What is known about the visitor: name, email, free-form form fields, start page."""

    name: ShortText | None = None
    email: VisitorEmail | None = None
    """Normalized when it is an address; else kept as given (trimmed), never refused."""
    fields: dict[Annotated[str, Field(max_length=100)], ShortText] = Field(
        default_factory=dict, max_length=50
    )
    page_url: Annotated[str, Field(max_length=2000)] | None = None


class AgentInfo(_Frame):
    """An agent or operator as others see them."""

    id: str
    name: str
    role: AgentRole


class CandidateInfo(_Frame):
    """A KB entry the AI considered, with its model score (0–1): the engine's score for
    the entry, the number the analysis quotes for it; not the calibrated confidence of
    the answer (``confidence``), which is a different number."""

    entry_id: str
    title: str
    score: float


class _EventPart(BaseModel):
    """Part of an event's stored data.

    It dumps exactly the fields it was given (a stored row, or what the server built),
    in declaration order, so the wire carries what was stored and nothing the reader
    filled in; fields a row lacks read as their defaults. Keys it does not name (rows
    of another version) are kept and sent on as they are.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_serializer(mode="wrap")
    def _given_fields_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        return {k: v for k, v in out.items() if k in self.model_fields_set}


class TriggerEvaluationInfo(_EventPart):
    """One trigger's result on a turn: ``trigger`` (its name), whether it is ``enabled``
    and ``fired``, the measured ``value`` (a confidence 0–1, a sentiment −1…1, a matched
    phrase, a count) against ``threshold`` when that applies, and ``detail`` for people."""

    trigger: str
    enabled: bool = True
    fired: bool = False
    value: JsonValue = None
    threshold: JsonValue = None
    detail: str = ""


class TriggerInfo(_EventPart):
    """Why a conversation was escalated.

    ``kind`` is the trigger (``low_confidence``, ``keyword``, ``human_request``, ...),
    ``detail`` a sentence for people, ``confidence`` the AI's confidence (0–1) on the turn
    that escalated (``None`` when the AI did not answer, e.g. ``ai_error``, and when the
    turn only asked for a person: the AI's reading of "talk to a person" means nothing),
    ``threshold`` the policy threshold then, ``evaluations`` every trigger's result.
    Unknown fields are refused. Like event data it dumps the fields it was given: a
    visitor's copy is ``{"kind": ...}`` only.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    detail: str = ""
    confidence: float | None = None
    threshold: float | None = None
    rule: str | None = None
    policy_version: int | None = None
    evaluations: list[TriggerEvaluationInfo] = Field(default_factory=list)

    def complete(self) -> TriggerInfo:
        """A copy with every field given (defaults included), which dumps them all."""
        return TriggerInfo(**dict(self))


class AgentName(_Frame):
    """An agent as a visitor sees them: the name only."""

    name: str


class DecisionInfo(_EventPart):
    """The policy's verdict on an AI turn: ``action`` (``continue``, ``offer_handoff``,
    ``escalate``), the ``trigger`` that decided (``None`` when continuing), ``detail``."""

    action: str
    trigger: str | None = None
    detail: str = ""


class DraftInfo(_EventPart):
    """The AI's unsent answer sent to agents with an escalation: ``text`` as plain text
    (Markdown removed), the top KB ``entry_id``, ``confidence`` (0–1), ``sources``,
    ``candidates`` and ``analysis``."""

    text: str = ""
    entry_id: str | None = None
    confidence: float | None = None
    sources: list[str] = Field(default_factory=list)
    candidates: list[CandidateInfo] = Field(default_factory=list)
    analysis: str = ""


class ConversationStartedData(_EventPart):
    """``conversation_started``: what the visitor gave at ``start``."""

    visitor: VisitorInfo = Field(default_factory=VisitorInfo)


class VisitorMessageData(_EventPart):
    """``visitor_message``: the ``text``; ``request_human`` (given only when true) says
    the visitor asked for a person (pressed, or accepted the AI's offer)."""

    text: str = ""
    request_human: bool = False


class AiMessageData(_EventPart):
    """``ai_message``: the reply ``text``, the AI's ``confidence`` (0–1) against the
    policy ``threshold``, the top ``entry_id``, ``sources``, ``candidates``,
    ``analysis``; ``question`` is false for a courtesy turn or a request for a person;
    ``offer_handoff``: the reply offers a person; the policy's ``decision`` and every
    trigger's ``evaluations``."""

    text: str = ""
    confidence: float | None = None
    threshold: float | None = None
    entry_id: str | None = None
    sources: list[str] = Field(default_factory=list)
    candidates: list[CandidateInfo] = Field(default_factory=list)
    analysis: str = ""
    question: bool = True
    offer_handoff: bool = False
    decision: DecisionInfo | None = None
    evaluations: list[TriggerEvaluationInfo] = Field(default_factory=list)


class EscalatedData(_EventPart):
    """``escalated``: the ``trigger``, queue ``priority`` and ``team``, the ``text`` the
    visitor is told, ``question`` (as on ``ai_message``), and the AI's unsent ``draft``
    (``None`` when there is none)."""

    trigger: TriggerInfo | None = None
    priority: int = 0
    team: str | None = None
    text: str = ""
    question: bool = True
    draft: DraftInfo | None = None


EventAgent = AgentInfo | AgentName
"""Who acted: the full :class:`AgentInfo` for agents, :class:`AgentName` for visitors."""


class ClaimedData(_EventPart):
    """``claimed``: the ``agent`` and the ``notice`` sentence for the visitor; ``via``
    (given only for ``offer``) says the agent accepted an offer (push) rather than
    claiming from the queue."""

    agent: EventAgent
    notice: str = ""
    via: Literal["claim", "offer"] = "claim"


class AgentTextData(_EventPart):
    """``agent_message`` and ``note``: the ``agent`` and their ``text``."""

    agent: EventAgent
    text: str = ""


class AgentActionData(_EventPart):
    """``released``, ``handed_back``, ``resolved``: the ``agent``, their optional
    ``text`` (for agents) and the ``notice`` sentence for the visitor."""

    agent: EventAgent
    text: str | None = None
    notice: str = ""


class ResolvedData(AgentActionData):
    """``resolved``: as :class:`AgentActionData`, with the agent's ``resolution`` code and
    their ``ai_verdict`` on the AI's answer (each given only when the agent gave it)."""

    resolution: Resolution | None = None
    ai_verdict: AiVerdict | None = None


class TransferredData(_EventPart):
    """``transferred``: the ``agent`` who transferred it, to ``to_agent`` (who now holds
    it) or to ``to_team`` (queued for that team at its original place), the agent's
    ``note`` for colleagues (never sent to the visitor) and the neutral ``notice`` the
    visitor gets (a visitor's copy carries the ``notice`` alone)."""

    agent: EventAgent | None = None
    to_agent: AgentInfo | None = None
    to_team: str | None = None
    note: str | None = None
    notice: str = ""


class RequeuedData(_EventPart):
    """``requeued``: the conversation went back to the queue at its original place
    without an agent's action: ``agent`` held it, ``reason`` says why
    (``agent_disconnected``: gone past the grace period; ``token_revoked``,
    ``token_expired``, ``agent_deleted``: their token stopped working), ``text`` for agents,
    ``notice`` for the visitor."""

    agent: EventAgent | None = None
    reason: str = ""
    text: str = ""
    notice: str = ""


class ReopenedData(_EventPart):
    """``reopened``: ``text`` for agents, ``notice`` for the visitor."""

    text: str = ""
    notice: str = ""


class SystemMessageData(_EventPart):
    """``system_message``: a sentence from the system."""

    text: str = ""


class FallbackChosenData(_EventPart):
    """``fallback_chosen``: the visitor chose to stay queued (``wait``) or to go on with
    the AI until a person follows up (``ai_continues``); ``notice`` is their sentence."""

    option: str = ""
    notice: str = ""


class CallbackRequestedData(_EventPart):
    """``callback_requested``: the visitor asked to be called back at ``phone`` or
    written to at ``email`` (one at least), at ``preferred_at`` (UTC; ``None``: as soon as
    possible), with an optional ``note``; ``notice`` is their sentence."""

    phone: str | None = None
    email: str | None = None
    preferred_at: datetime | None = None
    note: str | None = None
    notice: str = ""


class OfflineMessageData(_EventPart):
    """``offline_message``: the visitor left ``text`` to be answered by email at
    ``email``; ``notice`` is their sentence."""

    email: str = ""
    text: str = ""
    notice: str = ""


class CallbackDoneData(_EventPart):
    """``callback_done``: the ``agent`` called (or wrote) back; ``text`` is their note
    (agents only), ``notice`` the visitor's sentence."""

    agent: EventAgent
    text: str | None = None
    notice: str = ""


class OfflineReplyData(_EventPart):
    """``offline_reply``: the ``agent``'s email-style answer ``text`` to an offline
    message, to be sent to ``email`` (the ``offline_message.replied`` webhook carries it
    to the team's mail system); ``notice`` is the visitor's sentence."""

    agent: EventAgent
    text: str = ""
    email: str = ""
    notice: str = ""


EventActor = Literal["visitor", "ai", "agent", "system"]


class _Event(_Frame):
    """What every event carries; ``kind`` and ``data`` are narrowed per kind below (they
    keep their place in the JSON: ``conversation_id, seq, kind, at, actor, data,
    client_msg_id``)."""

    conversation_id: str
    seq: int = Field(ge=1)
    kind: str
    at: datetime
    actor: EventActor
    data: _EventPart
    client_msg_id: str | None = None


class ConversationStarted(_Event):
    """The visitor started the conversation (seq 1)."""

    kind: Literal["conversation_started"]
    data: ConversationStartedData


class VisitorMessage(_Event):
    """The visitor wrote."""

    kind: Literal["visitor_message"]
    data: VisitorMessageData


class AiMessage(_Event):
    """The AI answered."""

    kind: Literal["ai_message"]
    data: AiMessageData


class Escalated(_Event):
    """The conversation was handed to people (queued)."""

    kind: Literal["escalated"]
    data: EscalatedData


class Claimed(_Event):
    """An agent took the conversation."""

    kind: Literal["claimed"]
    data: ClaimedData


class AgentMessage(_Event):
    """An agent wrote to the visitor."""

    kind: Literal["agent_message"]
    data: AgentTextData


class Note(_Event):
    """An agent's internal note; never sent to visitors."""

    kind: Literal["note"]
    data: AgentTextData


class Released(_Event):
    """An agent put the conversation back in the queue."""

    kind: Literal["released"]
    data: AgentActionData


class HandedBack(_Event):
    """An agent handed the conversation back to the AI."""

    kind: Literal["handed_back"]
    data: AgentActionData


class Resolved(_Event):
    """An agent marked the conversation resolved."""

    kind: Literal["resolved"]
    data: ResolvedData


class Transferred(_Event):
    """An agent passed the conversation to another agent or to a team."""

    kind: Literal["transferred"]
    data: TransferredData


class Requeued(_Event):
    """The conversation went back to the queue without an agent's action."""

    kind: Literal["requeued"]
    data: RequeuedData


class Reopened(_Event):
    """The visitor wrote to a resolved conversation; it is with the AI again."""

    kind: Literal["reopened"]
    data: ReopenedData


class SystemMessage(_Event):
    """A sentence from the system."""

    kind: Literal["system_message"]
    data: SystemMessageData


class FallbackChosen(_Event):
    """The visitor chose a fallback: stay queued, or go on with the AI."""

    kind: Literal["fallback_chosen"]
    data: FallbackChosenData


class CallbackRequested(_Event):
    """The visitor asked for a call back (a task for agents)."""

    kind: Literal["callback_requested"]
    data: CallbackRequestedData


class OfflineMessage(_Event):
    """The visitor left a message to be answered by email (a task for agents)."""

    kind: Literal["offline_message"]
    data: OfflineMessageData


class CallbackDone(_Event):
    """An agent called back; the conversation is resolved."""

    kind: Literal["callback_done"]
    data: CallbackDoneData


class OfflineReply(_Event):
    """An agent answered an offline message by email; the conversation is resolved."""

    kind: Literal["offline_reply"]
    data: OfflineReplyData


Event = Annotated[
    ConversationStarted
    | VisitorMessage
    | AiMessage
    | Escalated
    | Claimed
    | AgentMessage
    | Note
    | Released
    | HandedBack
    | Resolved
    | Transferred
    | Requeued
    | Reopened
    | SystemMessage
    | FallbackChosen
    | CallbackRequested
    | OfflineMessage
    | CallbackDone
    | OfflineReply,
    Field(discriminator="kind"),
]
"""One stored change in a conversation: a discriminated union on ``kind``.

Each kind has its typed ``data`` (see the ``*Data`` models). Visitors receive a
projection (an allow-list per kind): ``visitor_message`` text; ``ai_message`` text,
sources, confidence, offer_handoff; ``escalated`` text and ``trigger.kind``;
``agent_message`` text and ``agent.name``; the agent actions and ``reopened`` their
``notice`` (and ``agent.name``); ``transferred`` and ``requeued`` their ``notice`` only;
``system_message`` text; the visitor's own fallback choices (``fallback_chosen``,
``callback_requested``, ``offline_message``) whole; of ``callback_done`` the ``notice``
and ``agent.name``, of ``offline_reply`` the reply ``text``, ``email``, ``notice`` and
``agent.name``; never notes, analysis, candidates, thresholds, trigger details, drafts
or routing.

``actor`` is ``visitor`` | ``ai`` | ``agent`` | ``system``; ``at`` is UTC.
"""

_EVENT: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(obj: Any) -> Event:
    """An event from its JSON-able form (a dict with ``kind``, ``data``, ...).

    Raises :class:`pydantic.ValidationError` for an unknown kind or a wrong shape."""
    return _EVENT.validate_python(obj)


class WaitInfo(_Frame):
    """A wait-time estimate (``docs/routing.md``) as agents see it on a queue row.

    ``minutes``: the estimate as told, rounded (0: under a minute; ``None``: nobody
    online to estimate from); ``max_minutes``: the top of a range for long waits
    (``None``: one figure); ``ahead``: live conversations ahead in the team's line;
    ``text``: the sentence the visitor was told; ``seconds``: the unrounded estimate;
    ``at``: when it was made (UTC); ``late``: the visitor waited past an estimate
    told, so it counts the time they have waited (``docs/routing.md``; added within
    v1, left out when false); ``since``: when their wait began (their first estimate
    since entering the queue; UTC), kept in the store's column only, never sent."""

    minutes: int | None = None
    max_minutes: int | None = None
    ahead: int = 0
    text: str = ""
    seconds: float | None = None
    at: datetime | None = None
    late: bool = Field(default=False, exclude_if=lambda v: not v)
    since: datetime | None = Field(default=None, exclude=True)


class FallbackChoice(_Frame):
    """One fallback offered to the visitor: ``option`` and its ``label`` (a few words to
    show on a button or a numbered line)."""

    option: FallbackOption
    label: str


class CallbackInfo(_Frame):
    """A call back as a task: ``phone`` and/or ``email``, ``preferred_at`` (UTC; ``None``:
    as soon as possible), the visitor's ``note``."""

    phone: str | None = None
    email: str | None = None
    preferred_at: datetime | None = None
    note: str | None = None


class FallbackState(_Frame):
    """Where a queued conversation stands on fallbacks (a queue row's ``fallback``).

    ``reason``: why fallbacks were offered (``None``: never offered); ``choices``: what
    was offered, in the operator's order; ``chosen``: what the visitor chose (``None``:
    nothing yet); ``callback`` / ``message`` + ``email``: the task's details once the
    visitor asked for a call back or left a message; ``at``: when it last changed (UTC)."""

    reason: FallbackReason | None = None
    choices: list[FallbackChoice] = Field(default_factory=list)
    chosen: FallbackOption | None = None
    callback: CallbackInfo | None = None
    message: str | None = None
    email: str | None = None
    opens_at: datetime | None = None
    at: datetime | None = None


class QueueItem(_Frame):
    """A row of the agents' queue: one queued or assigned conversation.

    ``queued_at`` is when it was escalated (UTC); waiting time is now − ``queued_at``.
    ``last_confidence`` is the AI's confidence (0–1) on the visitor's last question (a
    request for a person or a thanks is no question). ``wait`` and ``fallback`` are
    ``None`` until the conversation is queued with an estimate or offered fallbacks.
    """

    conversation_id: str
    status: ConversationStatus
    visitor: VisitorInfo
    first_question: str | None = None
    trigger: TriggerInfo | None = None
    last_confidence: float | None = None
    priority: int = 0
    team: str | None = None
    assigned_agent: AgentInfo | None = None
    queued_at: datetime | None = None
    updated_at: datetime
    last_seq: int = 0
    wait: WaitInfo | None = None
    """The last wait estimate told the visitor (queued, live conversations)."""
    fallback: FallbackState | None = None
    """Fallbacks offered and chosen: a ``callback`` or ``offline_message`` choice makes
    the row a task."""


class AgentStatus(_Frame):
    """An agent as their colleagues see them on the roster: who (``id``, ``name``,
    ``role``), their presence ``status``, whether a client of theirs that said its
    presence is ``connected`` now (an agent gone for less than the grace period keeps
    their status), the ``teams`` they serve (empty: every team), their ``capacity`` (most
    conversations held at once) and ``load`` (conversations they hold now)."""

    id: str
    name: str
    role: AgentRole
    status: PresenceStatus
    connected: bool = False
    teams: list[str] = Field(default_factory=list)
    capacity: int = Field(ge=1)
    load: int = Field(default=0, ge=0)


class HandoffPacket(_Frame):
    """Everything an agent receives about a conversation.

    The transcript (every event, notes included, each AI message with its confidence and
    KB sources), the trigger that fired, the AI's analysis and candidates on the
    visitor's last question (the analysis names it; a request for a person or a thanks
    is no question), the confidence history (one value 0–1 per answered question, oldest
    first), the visitor's fields and start page, and UTC timestamps.
    """

    conversation_id: str
    status: ConversationStatus
    visitor: VisitorInfo
    started_at: datetime
    queued_at: datetime | None = None
    trigger: TriggerInfo | None = None
    analysis: str = ""
    candidates: list[CandidateInfo] = Field(default_factory=list)
    confidence_history: list[float] = Field(default_factory=list)
    threshold: float | None = None
    priority: int = 0
    team: str | None = None
    assigned_agent: AgentInfo | None = None
    transcript: list[Event] = Field(default_factory=list)
    last_seq: int = 0
    more: bool = Field(default=False, exclude_if=lambda v: not v)
    """The transcript stops before ``last_seq`` because the answer reached its size
    limit (``server.page_bytes``): ask for the rest with ``open`` from the
    ``seq`` of its last event (added in v1; older servers always send everything; left out of the frame when false, so complete
    packets are as before)."""


# --------------------------------------------------------------------------- visitor → server


class VStart(_Frame):
    """Start a new conversation."""

    type: Literal["start"]
    visitor: VisitorInfo = Field(default_factory=VisitorInfo)


class VResume(_Frame):
    """Reconnect to a conversation; events after ``last_seq`` are replayed."""

    type: Literal["resume"]
    conversation_id: ConversationId
    resume_token: Annotated[str, Field(min_length=1, max_length=200)]
    last_seq: int = Field(default=0, ge=0, le=MAX_SEQ)


class VMessage(_Frame):
    """The visitor says something."""

    type: Literal["message"]
    client_msg_id: ClientMsgId
    text: str


class VRequestHuman(_Frame):
    """The visitor presses "talk to a person"; ``text`` optionally says why."""

    type: Literal["request_human"]
    client_msg_id: ClientMsgId
    text: str | None = None


class VTyping(_Frame):
    """The visitor started or stopped typing (not stored)."""

    type: Literal["typing"]
    active: bool


class VChooseFallback(_Frame):
    """Answer a ``fallback_offer``: stay queued (``wait``) or go on with the AI until a
    person follows up (``ai_continues``); the option must be one offered."""

    type: Literal["choose_fallback"]
    client_msg_id: ClientMsgId
    option: Literal["wait", "ai_continues"]


class VRequestCallback(_Frame):
    """Answer a ``fallback_offer`` with the call-back form: ``phone`` (international
    format) and/or ``email``, ``preferred_at`` (a time with its UTC offset, in the future,
    within business hours and the next 30 days; ``None``: as soon as possible), an
    optional ``note``."""

    type: Literal["request_callback"]
    client_msg_id: ClientMsgId
    phone: PhoneNumber | None = None
    email: EmailAddress | None = None
    preferred_at: datetime | None = None
    note: ShortText | None = None

    @model_validator(mode="after")
    def _contact(self) -> VRequestCallback:
        if self.phone is None and self.email is None:
            raise ValueError("give a phone number or an email address (or both)")
        if self.preferred_at is not None and self.preferred_at.utcoffset() is None:
            raise ValueError("preferred_at needs its UTC offset ('2026-03-03T10:00:00+01:00')")
        return self


class VLeaveMessage(_Frame):
    """Answer a ``fallback_offer`` with an offline message: ``text`` to be answered by
    email at ``email``."""

    type: Literal["leave_message"]
    client_msg_id: ClientMsgId
    email: EmailAddress
    text: str


VisitorFrame = Annotated[
    VStart
    | VResume
    | VMessage
    | VRequestHuman
    | VTyping
    | VChooseFallback
    | VRequestCallback
    | VLeaveMessage,
    Field(discriminator="type"),
]

# --------------------------------------------------------------------------- agent → server


class AAuth(_Frame):
    """Authenticate (when the handshake carried no token)."""

    type: Literal["auth"]
    token: Annotated[str, Field(min_length=1, max_length=200)]


class ASubscribeQueue(_Frame):
    """Watch the conversations whose status is in ``statuses`` (default: queued and
    assigned; non-empty, no repeats).

    The answer is ``queue`` (those conversations, highest priority first, then longest
    waiting); after it, ``queue_item`` when one of them changes, when a conversation
    enters the set, and when one leaves it (the row then carries its new status, so the
    client removes it). Nothing is sent for conversations outside the set. Subscribing
    again replaces the set and sends a fresh ``queue``.
    """

    type: Literal["subscribe_queue"]
    statuses: list[ConversationStatus] = Field(
        default_factory=lambda: list(DEFAULT_QUEUE_STATUSES), min_length=1
    )

    @field_validator("statuses")
    @classmethod
    def _no_repeats(cls, value: list[ConversationStatus]) -> list[ConversationStatus]:
        if len(set(value)) != len(value):
            raise ValueError("statuses must not repeat")
        return value


class AOpen(_Frame):
    """Get a conversation's handoff packet with the events after ``last_seq``; with
    ``subscribe`` also its live events until ``close``."""

    type: Literal["open"]
    conversation_id: ConversationId
    last_seq: int = Field(default=0, ge=0, le=MAX_SEQ)
    subscribe: bool = True


class AClose(_Frame):
    """Stop receiving a conversation's live events."""

    type: Literal["close"]
    conversation_id: ConversationId


class _AAction(_Frame):
    conversation_id: ConversationId
    client_msg_id: ClientMsgId


class AClaim(_AAction):
    """Take a queued (or AI-handled) conversation."""

    type: Literal["claim"]


class AReply(_AAction):
    """Send a message to the visitor (the conversation must be assigned to you)."""

    type: Literal["reply"]
    text: str


class ANote(_AAction):
    """Internal note on the conversation; never shown to the visitor."""

    type: Literal["note"]
    text: str


class AResolve(_AAction):
    """Mark the conversation resolved, with how it ended (``resolution``) and the
    agent's verdict on the AI's answer (``ai_verdict``); both optional, stored as given."""

    type: Literal["resolve"]
    text: str | None = None
    resolution: Resolution | None = None
    ai_verdict: AiVerdict | None = None


class ARelease(_AAction):
    """Put the conversation back in the queue."""

    type: Literal["release"]
    text: str | None = None


class AHandback(_AAction):
    """Hand the conversation back to the AI."""

    type: Literal["handback"]
    text: str | None = None


class ATransfer(_AAction):
    """Pass the conversation to another agent (``to_agent``: their id; online, with a
    free slot) or to a team (``to_team``: queued for it at its original place), with a
    ``note`` for colleagues that the visitor never sees. Exactly one of ``to_agent`` and
    ``to_team``."""

    type: Literal["transfer"]
    to_agent: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    to_team: TeamName | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> ATransfer:
        if (self.to_agent is None) == (self.to_team is None):
            raise ValueError("give exactly one of to_agent and to_team")
        return self


class APresence(_Frame):
    """Say you are ``online`` (take conversations) or ``away``. The answer is ``staff``
    (every agent's status); later changes come as ``agent_status``. Until a connection
    says its presence the agent is not counted as online."""

    type: Literal["presence"]
    status: Literal["online", "away"]


class AAccept(_AAction):
    """Accept the ``offer`` of this conversation: it is assigned to you (as a claim)."""

    type: Literal["accept"]


class ADecline(_Frame):
    """Decline the ``offer`` of this conversation: it is offered to the next agent."""

    type: Literal["decline"]
    conversation_id: ConversationId


class ACallbackDone(_AAction):
    """Mark a call back done (the conversation is resolved); ``text`` is a note for
    agents."""

    type: Literal["callback_done"]
    text: str | None = None


class AAnswerOffline(_AAction):
    """Answer an offline message by email (the conversation is resolved): ``text`` is
    the whole reply."""

    type: Literal["answer_offline"]
    text: str


class ATyping(_Frame):
    """The agent started or stopped typing in a conversation (not stored)."""

    type: Literal["typing"]
    conversation_id: ConversationId
    active: bool


AgentFrame = Annotated[
    AAuth
    | ASubscribeQueue
    | AOpen
    | AClose
    | AClaim
    | AReply
    | ANote
    | AResolve
    | ARelease
    | AHandback
    | ATyping
    | ATransfer
    | APresence
    | AAccept
    | ADecline
    | ACallbackDone
    | AAnswerOffline,
    Field(discriminator="type"),
]

# --------------------------------------------------------------------------- server → client


class VisitorLimits(BaseModel):
    """What the server accepts, so clients need not hard-code it (a visitor's share:
    the policy's threshold is never sent to visitors)."""

    max_message_chars: int = Field(ge=1)
    """Longest visitor or agent message accepted, in characters."""


class Limits(VisitorLimits):
    """What the server accepts and applies, for agents."""

    threshold: float = Field(ge=0.0, le=1.0)
    """The policy's confidence threshold in force (0–1) when the frame was sent."""


class SWelcome(_Frame):
    """A visitor's conversation is ready; keep ``resume_token`` to reconnect.
    ``limits`` is optional (added in v1 without breaking older servers or clients)."""

    type: Literal["welcome"] = "welcome"
    conversation_id: str
    resume_token: str
    status: str
    last_seq: int
    limits: VisitorLimits | None = None


class SAuthenticated(_Frame):
    """The agent connection is signed in. ``limits`` is optional, as in :class:`SWelcome`."""

    type: Literal["authenticated"] = "authenticated"
    agent: AgentInfo
    limits: Limits | None = None


class SEvent(_Frame):
    """A conversation event (live or replayed)."""

    type: Literal["event"] = "event"
    event: Event


class SAck(_Frame):
    """The frame with ``client_msg_id`` is stored as event ``seq``."""

    type: Literal["ack"] = "ack"
    client_msg_id: str
    conversation_id: str
    seq: int
    duplicate: bool = False


class SError(_Frame):
    """A frame was refused; nothing was stored for it."""

    type: Literal["error"] = "error"
    code: ErrorCode
    detail: str
    client_msg_id: str | None = None
    conversation_id: str | None = None
    request_id: str | None = Field(default=None, exclude_if=lambda v: v is None)
    """The ``request_id`` of the refused operator request, if it had one (left out of
    the frame otherwise, so visitors' error frames are as before)."""


class SQueue(_Frame):
    """Answer to ``subscribe_queue``: every conversation whose status the agent watches,
    highest priority first, then longest waiting: the first rows here, the ``more``
    others right after as ``queue_item`` frames."""

    type: Literal["queue"] = "queue"
    items: list[QueueItem]
    more: int = Field(default=0, ge=0, exclude_if=lambda v: v == 0)
    """How many more rows of this answer follow at once as ``queue_item`` frames (the
    frame holds at most ``server.queue_page_rows`` rows; added in v1, older servers
    never send it; left out of the frame when 0)."""


class SQueueItem(_Frame):
    """A watched conversation changed, entered the watched statuses, or left them (its
    ``status`` is then one the agent does not watch: remove the row), or was ``erased``."""

    type: Literal["queue_item"] = "queue_item"
    item: QueueItem
    erased: bool = Field(default=False, exclude_if=lambda v: not v)
    """The conversation was erased from the store (``handoff erase`` beside the running
    server): remove its row whatever statuses are watched, and stop showing anything of
    it (an open conversation is gone; the server no longer has it). ``item`` then holds
    its id alone, with no visitor details and status ``resolved``, so a client older
    than the field removes the row too. Sent to every queue watcher and every agent who
    opened it (added in v1; left out of the frame when false)."""


class SConversation(_Frame):
    """Answer to ``open``: the handoff packet; ``transcript`` holds events after the
    requested ``last_seq``."""

    type: Literal["conversation"] = "conversation"
    packet: HandoffPacket


class STyping(_Frame):
    """Someone in the conversation is typing."""

    type: Literal["typing"] = "typing"
    conversation_id: str
    role: Literal["visitor", "agent"]
    name: str | None = None
    active: bool


class SStaff(_Frame):
    """Answer to ``presence``: every agent and operator with their presence, teams,
    capacity and load."""

    type: Literal["staff"] = "staff"
    agents: list[AgentStatus]


class SAgentStatus(_Frame):
    """An agent's presence, teams, capacity or load changed (sent to connections that
    said their presence)."""

    type: Literal["agent_status"] = "agent_status"
    agent: AgentStatus


class SOffer(_Frame):
    """A queued conversation is offered to you (push): ``accept`` it within
    ``timeout_seconds`` (until ``expires_at``, UTC) or it goes to the next agent."""

    type: Literal["offer"] = "offer"
    item: QueueItem
    expires_at: datetime
    timeout_seconds: float


class SOfferEnded(_Frame):
    """The offer of a conversation is over without your accepting it: ``expired``,
    ``declined`` (you said no, went away or lost your connection) or ``taken`` (someone
    else has it, or it left the queue)."""

    type: Literal["offer_ended"] = "offer_ended"
    conversation_id: str
    reason: Literal["expired", "declined", "taken"]


class SWaitEstimate(_Frame):
    """To a visitor whose conversation is queued: how long until a person is with them.

    Sent when the conversation is queued, again when the estimate changes materially
    (by a third, and at least a minute; or when it becomes known or unknown), and after
    ``welcome`` on a resume. ``minutes`` is the estimate as told, rounded (0: under a
    minute; ``None``: nobody of the team is online); ``max_minutes`` the top of a range
    (long waits); ``ahead`` the live conversations ahead; ``text`` the sentence."""

    type: Literal["wait_estimate"] = "wait_estimate"
    conversation_id: str
    minutes: int | None = None
    max_minutes: int | None = None
    ahead: int = 0
    text: str


class SFallbackOffer(_Frame):
    """To a visitor: nobody can come soon (``reason``); ``choices`` in the operator's
    order. Answer with ``choose_fallback`` (``wait``, ``ai_continues``),
    ``request_callback`` or ``leave_message``. ``opens_at``: when business hours start
    again (UTC), for ``closed``. Sent again after ``welcome`` on a resume while the
    conversation is queued and the visitor has not asked for a call back or left a
    message."""

    type: Literal["fallback_offer"] = "fallback_offer"
    conversation_id: str
    reason: FallbackReason
    text: str
    choices: list[FallbackChoice]
    opens_at: datetime | None = None


class SWaitingWork(_Frame):
    """To agents when an agent of ``team`` comes online or frees a slot (``None``: any
    team) and work is waiting: the queued conversations of that team, oldest first
    (live conversations, call backs and offline messages alike)."""

    type: Literal["waiting_work"] = "waiting_work"
    team: str | None = None
    items: list[QueueItem]
    more: int = Field(default=0, ge=0, exclude_if=lambda v: v == 0)
    """How many other conversations wait beyond ``items`` (the frame lists the oldest
    50 at most; added in v1, older servers never send it; left out when 0)."""


class SAiPartial(_Frame):
    """The AI's answer while it is being written (the ``llm`` engine), to the
    conversation's visitor and to agents who opened it. Never stored, never replayed.

    ``turn_id`` names one answer; ``text`` is the whole visible text so far (each frame
    replaces the last). The text is provisional: a last frame with ``done: true`` ends
    it, sent before the turn's stored event. ``outcome``: ``answered`` (an ``ai_message``
    event follows with the final text: show that instead) or ``withdrawn`` (the answer
    failed its checks: remove the partial text; an ``escalated`` event follows). A client
    that reconnects drops any partial text it still shows."""

    type: Literal["ai_partial"] = "ai_partial"
    conversation_id: str
    turn_id: str
    text: str = ""
    done: bool = False
    outcome: Literal["answered", "withdrawn"] | None = None


ServerFrame = Annotated[
    SWelcome
    | SAuthenticated
    | SEvent
    | SAck
    | SError
    | SQueue
    | SQueueItem
    | SConversation
    | STyping
    | SStaff
    | SAgentStatus
    | SOffer
    | SOfferEnded
    | SWaitEstimate
    | SFallbackOffer
    | SWaitingWork
    | SAiPartial,
    Field(discriminator="type"),
]


def dump_frame(frame: BaseModel) -> str:
    """Serialise a frame to its JSON text."""
    return frame.model_dump_json()
