"""Wire protocol v1, the operator's frames on ``/v1/agent``: the policy, what-if,
analytics, risk–coverage and knowledge gaps, as pydantic models.

Only a connection signed in with an operator token may send these; from an agent token
the server answers ``error`` with code ``forbidden`` and changes nothing. An operator may
also send every agent frame (:mod:`handoff_server.protocol`): operators work the queue too.

Every request may carry a ``request_id`` (1–64 characters); the answer to it (or the
``error`` refusing it) carries the same ``request_id``, so a client can match answers to
requests. Answers come in the order the requests were sent.

The policy travels as the JSON object of its TOML file (what ``handoff policy export``
writes): clients never need the server's policy classes. The server validates it and
answers problems with their location (``loc``, as pydantic reports it), so a screen can
show each reason next to its field.

Times are ISO 8601 with a UTC offset; durations are seconds; rates and probabilities are
0–1. Like :mod:`handoff_server.protocol`, this module does no I/O and imports nothing of
the server but the protocol.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, model_validator
from pydantic_core import PydanticCustomError

from handoff_server.protocol import ClientMsgId, ConversationId, TeamName

__all__ = [
    "OperatorFrame",
    "OperatorServerFrame",
    "OAnalytics",
    "OKbEntryCreate",
    "OKnowledgeGaps",
    "OPolicyApply",
    "OPolicyGet",
    "OPolicyHistory",
    "OPolicyRollback",
    "OPolicyValidate",
    "ORiskCoverage",
    "OWhatIf",
    "AnalyticsDay",
    "DurationStats",
    "GapGroup",
    "KbEntryDraft",
    "PolicyChange",
    "PolicyProblem",
    "PolicyVersionInfo",
    "RiskPoint",
    "TeamStats",
    "WhatIfExample",
    "WhatIfSide",
    "SAnalytics",
    "SKbEntryCreated",
    "SKnowledgeGaps",
    "SPolicy",
    "SPolicyHistory",
    "SPolicyValidation",
    "SRiskCoverage",
    "SWhatIf",
]

RequestId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
PolicyBody = dict[str, JsonValue]
"""A policy as the JSON object of its TOML file (``handoff policy export``)."""


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Request(_Frame):
    request_id: RequestId | None = None


def _utc_time(value: datetime) -> datetime:
    """``value`` if it carries a UTC offset and stays a datetime in UTC; else a
    ``PydanticCustomError`` (the frame is refused with ``invalid_frame``)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise PydanticCustomError(
            "operator_time",
            "a time needs a UTC offset, e.g. 2026-01-31T09:00:00Z or 2026-01-31T10:00:00+01:00",
        )
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "operator_time", "the time is out of range once converted to UTC"
        ) from None
    return value


OperatorTime = Annotated[datetime, AfterValidator(_utc_time)]
"""An ISO 8601 time with a UTC offset that converts to UTC (``0001-01-01T00:00+05:00``
does not)."""


class _PeriodRequest(_Request):
    """A request about the period [``since``, ``until``) (``None``: unbounded)."""

    since: OperatorTime | None = None
    until: OperatorTime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> _PeriodRequest:
        if self.since is not None and self.until is not None and self.since > self.until:
            raise PydanticCustomError("operator_period", "since must not be after until")
        return self


class _Answer(_Frame):
    request_id: str | None = None


# --------------------------------------------------------------------------- operator → server


class OPolicyGet(_Request):
    """Read the policy in force. With ``subscribe`` (the default) the connection also gets
    a ``policy`` frame whenever a new version is applied, by anyone (another operator,
    ``handoff policy import``, a rollback)."""

    type: Literal["policy_get"]
    subscribe: bool = True


class OPolicyValidate(_Request):
    """Check an edited policy without applying it; the answer is ``policy_validation``."""

    type: Literal["policy_validate"]
    policy: PolicyBody


class OPolicyApply(_Request):
    """Apply an edited policy as a new version, which running conversations use from their
    next turn. ``base_version`` is the version the edit started from: if another version
    was applied since, the server refuses with ``conflict`` and changes nothing. An invalid
    policy is answered with ``policy_validation`` (``ok`` false) and changes nothing; a
    valid one with ``policy`` (the new version), which every subscribed operator gets too."""

    type: Literal["policy_apply"]
    client_msg_id: ClientMsgId
    policy: PolicyBody
    base_version: int = Field(ge=0)
    comment: Annotated[str, Field(max_length=500)] | None = None


class OPolicyHistory(_Request):
    """List the stored versions, newest first, each with its changes from the one before:
    a page of at most ``limit`` versions older than ``before`` (``None``: from the
    newest). The answer is cut to the server's page size (``server.page_bytes``) and says
    ``more`` when older versions follow: ask again with ``before`` the last version got."""

    type: Literal["policy_history"]
    limit: int = Field(default=50, ge=1, le=500)
    before: int | None = Field(default=None, ge=1)


class OPolicyRollback(_Request):
    """Apply the body of stored version ``version`` again, as a new version (history is
    never rewritten). ``base_version`` as in :class:`OPolicyApply`."""

    type: Literal["policy_rollback"]
    client_msg_id: ClientMsgId
    version: int = Field(ge=1)
    base_version: int = Field(ge=0)


class OWhatIf(_PeriodRequest):
    """Replay ``policy`` (edited, not applied) over the stored AI turns of the period
    [``since``, ``until``) (``None``: unbounded) and compare with the policy in force. The
    stored answers and trigger values are replayed; the AI is not run again. At most
    ``examples`` example turns per kind of change are returned."""

    type: Literal["what_if"]
    policy: PolicyBody
    examples: int = Field(default=5, ge=0, le=50)


class OAnalytics(_PeriodRequest):
    """Containment, escalations, wait and handling times for [``since``, ``until``), by day
    (in the policy's business-hours time zone), overall and per team; only ``team``'s
    conversations when it is set."""

    type: Literal["analytics"]
    team: TeamName | None = None


class ORiskCoverage(_Request):
    """The risk–coverage curve: from resolved conversations the agents judged (their
    ``ai_verdict``) and the latest ``handoff eval`` results."""

    type: Literal["risk_coverage"]


class OKnowledgeGaps(_PeriodRequest):
    """Escalated and low-confidence visitor questions of [``since``, ``until``) grouped by
    topic, newest and largest first; at most ``limit`` groups."""

    type: Literal["knowledge_gaps"]
    limit: int = Field(default=20, ge=1, le=200)


def _not_blank(value: str) -> str:
    """``value`` if it holds more than whitespace (Unicode's: NBSP, U+3000 and the like
    count as whitespace, as ``str.strip`` and the KB loader read them), else a
    ``PydanticCustomError``."""
    if not value.strip():
        raise PydanticCustomError("blank", "must hold more than whitespace")
    return value


NotBlank = Annotated[str, AfterValidator(_not_blank)]
"""Text that is not empty once surrounding whitespace is stripped."""


class KbEntryDraft(_Frame):
    """A KB entry to write: ``id`` (the file name stem: letters, digits, ``-``, ``_``),
    ``title``, example ``questions`` (at least one) and the ``answer`` (Markdown), and the
    ``team`` its escalations go to. The title, each question and the answer must hold
    more than whitespace (the KB loader refuses an empty answer or example question, so
    a file with one would stop the server from starting); the server strips surrounding
    whitespace from each and reads the answer's ``\\r\\n`` and ``\\r`` as newlines."""

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    title: Annotated[NotBlank, Field(min_length=1, max_length=200)]
    questions: list[Annotated[NotBlank, Field(min_length=1, max_length=500)]] = Field(
        min_length=1, max_length=200
    )
    answer: Annotated[NotBlank, Field(min_length=1, max_length=20_000)]
    team: TeamName | None = None


class OKbEntryCreate(_Request):
    """Write a new KB entry in the KB's Markdown format and reindex. The answer,
    ``kb_entry_created``, comes once the new index is in use (built off the event loop and
    swapped in whole: no conversation sees a half-built index). An ``id`` that exists is
    refused with ``conflict``."""

    type: Literal["kb_entry_create"]
    client_msg_id: ClientMsgId
    entry: KbEntryDraft


OperatorFrame = Annotated[
    OPolicyGet
    | OPolicyValidate
    | OPolicyApply
    | OPolicyHistory
    | OPolicyRollback
    | OWhatIf
    | OAnalytics
    | ORiskCoverage
    | OKnowledgeGaps
    | OKbEntryCreate,
    Field(discriminator="type"),
]
"""Every operator → server frame."""

# --------------------------------------------------------------------------- server → operator


class SPolicy(_Answer):
    """The policy in force: answer to ``policy_get``, ``policy_apply`` and
    ``policy_rollback``, and pushed to subscribed operators when a version is applied."""

    type: Literal["policy"] = "policy"
    version: int = Field(ge=0)
    """The stored version (0: nothing stored yet, the config file's policy applies)."""
    author: str
    created_at: datetime | None = None
    comment: str | None = None
    policy: PolicyBody


class PolicyProblem(_Frame):
    """One reason a policy is invalid, at ``loc`` (keys and list indexes from the top of
    the policy object, e.g. ``["rules", 2, "when", "confidence_below"]``; empty for the
    whole policy)."""

    loc: list[str | int]
    message: str


class SPolicyValidation(_Answer):
    """Answer to ``policy_validate`` (and to an invalid ``policy_apply``)."""

    type: Literal["policy_validation"] = "policy_validation"
    ok: bool
    problems: list[PolicyProblem] = Field(default_factory=list)


class PolicyChange(_Frame):
    """One difference between two versions: the dotted ``path`` (``threshold``,
    ``rules[2].team``), its value ``before`` and ``after`` (``None`` when absent)."""

    path: str
    before: JsonValue = None
    after: JsonValue = None


class PolicyVersionInfo(_Frame):
    """A stored version: who applied it, when, and its ``changes`` from the version
    before (every setting for the first version)."""

    version: int
    author: str
    created_at: datetime
    comment: str | None = None
    rolled_back_to: int | None = None
    """The version whose body this one restored, for a rollback."""
    changes: list[PolicyChange]


class SPolicyHistory(_Answer):
    """Answer to ``policy_history``: a page of versions, newest first. ``more``: older
    versions follow (ask with ``before`` the last of ``versions``); added in v1, older
    servers send every version at once and no ``more``."""

    type: Literal["policy_history"] = "policy_history"
    versions: list[PolicyVersionInfo]
    more: bool = False


class WhatIfSide(_Frame):
    """What one policy does on the replayed turns: ``conversations`` of which ``contained``
    (never escalated) and ``escalated``; ``containment_rate`` = contained / conversations
    (0–1; 0 when there are none); ``by_trigger``: escalated conversations by the trigger
    that escalated them."""

    policy_version: int | None = None
    conversations: int
    contained: int
    escalated: int
    containment_rate: float = Field(ge=0.0, le=1.0)
    by_trigger: dict[str, int]


class WhatIfExample(_Frame):
    """A conversation whose outcome changes: the visitor's ``text`` at the turn ``seq`` that
    decides it, and what each policy does (``contained`` or the escalating trigger)."""

    conversation_id: ConversationId
    seq: int
    text: str
    before: str
    after: str


class SWhatIf(_Answer):
    """Answer to ``what_if``: both sides over the same ``turns`` of ``conversations``, the
    number of conversations that change outcome each way, and examples of each."""

    type: Literal["what_if"] = "what_if"
    turns: int
    conversations: int
    current: WhatIfSide
    proposed: WhatIfSide
    escalated_to_contained: int
    contained_to_escalated: int
    trigger_changed: int = 0
    """Conversations escalated under both policies, but by a different trigger."""
    examples: list[WhatIfExample]


class DurationStats(_Frame):
    """Median and 90th percentile of durations in seconds, over ``count`` samples
    (``None`` when there are none)."""

    count: int
    median: float | None = None
    p90: float | None = None


class AnalyticsDay(_Frame):
    """One day's conversations: ``contained`` + ``escalated`` = conversations that had an
    AI turn; rates are 0–1 of those."""

    date: date
    conversations: int
    contained: int
    escalated: int
    containment_rate: float | None
    """``None`` when no conversation that day had an AI turn (no denominator)."""
    escalation_rate: float | None


class TeamStats(_Frame):
    """One team's escalations and times (wait: queued → claimed; handling: claimed →
    resolved)."""

    escalated: int
    wait: DurationStats
    handling: DurationStats


class SAnalytics(_Answer):
    """Answer to ``analytics`` (``handoff report --json`` prints the same object without
    ``type`` and ``request_id``)."""

    type: Literal["analytics"] = "analytics"
    since: datetime | None = None
    until: datetime | None = None
    conversations: int
    containment_rate: float | None
    """contained / (contained + escalated); ``None`` (JSON ``null``) when no conversation
    had an AI turn: no data, not 0%."""
    escalation_rate: float | None
    days: list[AnalyticsDay]
    by_trigger: dict[str, int]
    wait: DurationStats
    handling: DurationStats
    teams: dict[str, TeamStats]


class RiskPoint(_Frame):
    """At ``threshold``: the share of questions the AI would answer (``coverage``, 0–1),
    the wrong-answer rate among all questions (``risk``, 0–1) and its one-sided upper
    confidence bound (``upper``, ``None`` when not computed)."""

    threshold: float
    coverage: float
    risk: float
    upper: float | None = None


class SRiskCoverage(_Answer):
    """Answer to ``risk_coverage``: the curve (thresholds ascending), the threshold in
    force, how many judged conversations and eval questions it rests on, and ``trade``: in
    words, what moving the threshold one step each way trades."""

    type: Literal["risk_coverage"] = "risk_coverage"
    threshold: float
    points: list[RiskPoint]
    resolved_samples: int
    eval_samples: int
    trade: str


class GapGroup(_Frame):
    """Visitor questions about one topic the KB fails: ``size`` questions (``examples``: a
    few of them), the newest at ``newest``, the KB entry the AI most often wrongly reached
    for (``None`` if none), and the conversations they come from."""

    id: str
    size: int
    newest: datetime
    examples: list[str]
    wrong_entry_id: str | None = None
    wrong_entry_title: str | None = None
    conversation_ids: list[str]


class SKnowledgeGaps(_Answer):
    """Answer to ``knowledge_gaps``: groups, newest and largest first."""

    type: Literal["knowledge_gaps"] = "knowledge_gaps"
    groups: list[GapGroup]


class SKbEntryCreated(_Answer):
    """Answer to ``kb_entry_create``: the entry is written and the new index is in use."""

    type: Literal["kb_entry_created"] = "kb_entry_created"
    client_msg_id: str
    entry_id: str
    path: str
    """Where the entry was written, relative to the KB folder."""
    entries: int
    """Entries in the new index."""


OperatorServerFrame = Annotated[
    SPolicy
    | SPolicyValidation
    | SPolicyHistory
    | SWhatIf
    | SAnalytics
    | SRiskCoverage
    | SKnowledgeGaps
    | SKbEntryCreated,
    Field(discriminator="type"),
]
"""Every server → operator frame (besides the agent's, and ``error``)."""
