"""Scenario files: named visitors, their turns, and what each turn and conversation should
bring. Read with :func:`load_scenario`; the format is in ``docs/simulate.md``::

    name = "keyword escalation"

    [agents]                          # optional simulated agents (--agents overrides count)
    count = 1
    claim_delay = 0.5

    [[visitors]]
    name = "Ada"
    page_url = "https://brambleport.example/account"
    fields = { plan = "Business" }
    expect = { escalated_by = "keyword", team = "billing", no_ai_after_handoff = true }

    [[visitors.turns]]
    say = "I want to cancel my account"
    think_time = [0.5, 1.5]           # seconds before the turn: a number or [low, high]
    expect = { escalated_by = "keyword" }

Every problem is reported at once, each with its place in the file
(:class:`~handoff_server.errors.ScenarioError`, code ``bad_scenario``); unknown keys are
refused, so a misspelt expectation never passes silently.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from handoff_server.errors import ScenarioError
from handoff_server.escalation import TriggerKind
from handoff_server.protocol import AiVerdict, Resolution, ShortText, TeamName, VisitorInfo
from handoff_server.userfiles import CONFIG_FILE_BYTES, read_user_text

__all__ = [
    "FALLBACK_OPTIONS",
    "AgentSpec",
    "ConversationExpect",
    "Scenario",
    "ThinkTime",
    "Turn",
    "TurnExpect",
    "VisitorSpec",
    "WaitFor",
    "load_scenario",
    "parse_scenario",
]

TRIGGER_KINDS: frozenset[str] = frozenset(get_args(TriggerKind))
"""Trigger names an ``escalated_by`` may give (as agents see them on a handoff)."""

FALLBACK_OPTIONS = ("wait", "callback", "offline_message", "ai_continues")
"""What a visitor may be offered when nobody can come (issue 11's routing)."""

Seconds = Annotated[float, Field(ge=0.0, le=3600.0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]

ThinkTime = Seconds | tuple[Seconds, Seconds]
"""Seconds before a turn: a fixed number, or ``[low, high]`` drawn uniformly."""

WaitFor = Literal["claimed", "agent_message", "resolved", "handed_back"]
"""An event a turn waits for after sending (or instead of sending): an agent took the
conversation, wrote, resolved it, or handed it back to the AI."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _trigger(value: str | None) -> str | None:
    if value is not None and value not in TRIGGER_KINDS:
        raise ValueError(f"unknown trigger {value!r}; one of: {', '.join(sorted(TRIGGER_KINDS))}")
    return value


def _fallback(value: bool | str | None) -> bool | str | None:
    if isinstance(value, str) and value not in FALLBACK_OPTIONS:
        raise ValueError(
            f"unknown fallback {value!r}; true, or one of: {', '.join(FALLBACK_OPTIONS)}"
        )
    return value


class _RoutingExpect(_Model):
    """Expectations a turn and a whole conversation share."""

    escalated: bool | None = None
    """The conversation was (true) or was not (false) handed to people."""
    escalated_by: str | None = None
    """It was handed off by this trigger (``keyword``, ``low_confidence``, ...)."""
    team: TeamName | None = None
    """It was routed to this team (read on the agents' side: needs an agent token)."""
    wait_estimate: bool | None = None
    """The visitor was told a wait estimate while queued."""
    fallback: bool | str | None = None
    """The visitor was offered a fallback (``true``), or this one (``"callback"``, ...)."""

    @field_validator("escalated_by")
    @classmethod
    def _known_trigger(cls, value: str | None) -> str | None:
        return _trigger(value)

    @field_validator("fallback")
    @classmethod
    def _known_fallback(cls, value: bool | str | None) -> bool | str | None:
        return _fallback(value)


class TurnExpect(_RoutingExpect):
    """What one turn should bring (each key optional; all given must hold)."""

    answered: bool | None = None
    """The AI answered this turn (true) or did not (false)."""
    answered_from: str | None = Field(default=None, min_length=1, max_length=200)
    """The AI's answer came from this KB entry (its id, e.g. ``dns-nameservers``)."""
    min_confidence: Probability | None = None
    """The AI's confidence on this turn was at least this (0–1)."""


class ConversationExpect(_RoutingExpect):
    """What the whole conversation should bring."""

    no_ai_after_handoff: bool = False
    """No AI message between a handoff and the next handback (or reopening)."""
    resolved: bool | None = None
    """An agent resolved it."""
    handed_back: bool | None = None
    """An agent handed it back to the AI."""


class Turn(_Model):
    """One visitor turn: write ``say``, or press "talk to a person" (``request_human``,
    ``say`` then its optional reason), and/or wait for an agent's event (``wait_for``)."""

    say: str | None = Field(default=None, min_length=1, max_length=100_000)
    request_human: bool = False
    reconnect: bool = False
    """Drop the connection before this turn; the visitor resumes the conversation."""
    think_time: ThinkTime | None = None
    """Seconds before the turn (default: the scenario's ``think_time``)."""
    wait_for: WaitFor | None = None
    timeout: Annotated[float, Field(gt=0.0, le=3600.0)] | None = None
    """Seconds to wait for this turn's outcome (default: ``--timeout``)."""
    expect: TurnExpect = Field(default_factory=TurnExpect)

    @model_validator(mode="after")
    def _does_something(self) -> Turn:
        if self.say is None and not self.request_human and self.wait_for is None:
            raise ValueError("a turn needs say, request_human = true or wait_for")
        return self


class VisitorSpec(_Model):
    """A named visitor: who they are (as ``start`` tells the server), their turns, and
    what their conversation should bring."""

    name: ShortText = Field(min_length=1)
    email: ShortText | None = None
    page_url: Annotated[str, Field(max_length=2000)] | None = None
    fields: dict[Annotated[str, Field(max_length=100)], ShortText] = Field(
        default_factory=dict, max_length=50
    )
    count: int = Field(default=1, ge=1, le=100_000)
    """Copies per pass; under ``--rate``/``--concurrency`` their share of arrivals."""
    linger: Seconds = 0.0
    """Seconds to stay connected after the last turn."""
    turns: list[Turn] = Field(min_length=1, max_length=1000)
    expect: ConversationExpect = Field(default_factory=ConversationExpect)

    def info(self) -> VisitorInfo:
        """The visitor as sent in ``start``."""
        return VisitorInfo(
            name=self.name, email=self.email, fields=dict(self.fields), page_url=self.page_url
        )


class AgentSpec(_Model):
    """Simulated agents: how many, how many conversations each holds at once, how fast
    they claim, what they write and how they finish."""

    count: int = Field(default=0, ge=0, le=1000)
    capacity: int = Field(default=3, ge=1, le=100)
    claim_delay: Seconds = 1.0
    """Seconds from seeing a conversation queued to claiming it."""
    reply: str = Field(
        default="Hi, I'm a person from the support team. Let me look into this for you.",
        min_length=1,
        max_length=4000,
    )
    reply_from_kb: bool = False
    """Write the AI's unsent answer (its KB answer) when the handoff has one."""
    reply_delay: Seconds = 1.0
    """Seconds from the claim to the reply (reading and typing)."""
    wrap_up: Seconds = 1.0
    """Seconds from the reply to resolving (or handing back)."""
    handback_share: Probability = 0.0
    """Share of conversations handed back to the AI instead of resolved."""
    assignment: Literal["pull", "push"] = "pull"
    """How they get work: ``pull`` claims queued conversations (and accepts any offer the
    server pushes first); ``push`` only accepts the server's offers (a server with
    ``[assignment] mode = "push"``), as agents on a push desk do."""
    resolution: Resolution = "answered"
    """How the agents say a conversation they resolve ended."""
    ai_verdict: AiVerdict | Literal["auto"] = "auto"
    """Their verdict on the AI's answer: a fixed one, or ``auto``: ``not_attempted`` when the handoff carried no AI answer, ``right`` when the
    agent sent the AI's answer as its reply, none otherwise."""


class Scenario(_Model):
    """A whole scenario file."""

    name: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=4000)
    think_time: ThinkTime = 1.0
    """Default seconds before each turn."""
    agents: AgentSpec = Field(default_factory=AgentSpec)
    visitors: list[VisitorSpec] = Field(min_length=1, max_length=10_000)

    def needs_agent_side(self) -> list[str]:
        """Where the scenario expects what only agents see (a team): their places."""
        places = []
        for i, v in enumerate(self.visitors):
            if v.expect.team is not None:
                places.append(f"visitors.{i}.expect.team")
            places += [
                f"visitors.{i}.turns.{j}.expect.team"
                for j, t in enumerate(v.turns)
                if t.expect.team is not None
            ]
        return places


def _problems(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"] if not str(x).startswith("function-"))
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{loc or '(root)'}: {msg}")
    return lines


def parse_scenario(data: Any, source: str = "scenario") -> Scenario:
    """Validate scenario data (a dict from TOML). Raises
    :class:`~handoff_server.errors.ScenarioError` listing every problem."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: not a scenario", ["(root): a table is needed"])
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: invalid scenario:", _problems(exc)) from None


def load_scenario(path: Path) -> Scenario:
    """Read and validate a TOML scenario file. Raises
    :class:`~handoff_server.errors.ScenarioError` (code ``bad_scenario``) for a file that
    cannot be read, is not TOML, or does not validate (every problem listed)."""
    try:
        text = read_user_text(path, CONFIG_FILE_BYTES)
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the scenario", [str(exc)]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML", [str(exc)]) from None
    return parse_scenario(data, str(path))
