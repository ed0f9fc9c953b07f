"""What one simulated conversation saw, as it happened: its turns, the frames the visitor
received, what the agents' side saw of it (team, trigger), and its errors.

Times are seconds since the conversation's first connection (``time.monotonic``
differences). Filled by the visitor driver and the simulated desk; read by the
expectations and the report. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from handoff_cli.simulate.scenario import ConversationExpect, Turn
from handoff_server.protocol import ErrorCode, VisitorInfo

__all__ = ["ConversationRecord", "Escalation", "Script", "TurnRecord", "TurnOutcome"]

TurnOutcome = Literal["answered", "escalated", "acked", "waited", "error", "timeout", "pending"]
"""How a turn ended: the AI answered; the turn handed the conversation to people; a
person holds the conversation, so the server only acknowledged the message; the turn
only waited for an agent's event; the server refused it; nothing came in time."""


@dataclass(frozen=True)
class Script:
    """One conversation to simulate: the visitor, the turns, what the whole conversation
    should bring; ``label`` is the question's label in a question set (``None`` in a
    scenario)."""

    name: str
    visitor: VisitorInfo
    turns: tuple[Turn, ...]
    expect: ConversationExpect
    linger: float = 0.0
    label: str | None = None


@dataclass
class Escalation:
    """One handoff as the agents' side saw it: the ``trigger`` kind, the AI's
    ``confidence`` on that turn (0–1, or ``None``), the ``team`` and queue ``priority``."""

    at: float
    trigger: str | None
    confidence: float | None
    team: str | None
    priority: int


@dataclass
class TurnRecord:
    """One turn: what was sent, when, how it ended and what came with the outcome.

    ``window`` is the index range of :attr:`ConversationRecord.frames` that belongs to
    the turn (from its sending to the next turn's); ``latency`` is seconds from sending
    to the outcome."""

    index: int
    text: str | None
    sent_at: float | None = None
    outcome: TurnOutcome = "pending"
    latency: float | None = None
    confidence: float | None = None
    sources: list[str] = field(default_factory=list)
    trigger: str | None = None
    escalation_index: int | None = None
    """Which handoff of the conversation this turn caused (0 = the first)."""
    error: str | None = None
    window: tuple[int, int] = (0, 0)


@dataclass
class ConversationRecord:
    """Everything one conversation saw. ``frames`` holds ``(at, type, kind, payload)`` of
    each frame the visitor received: ``kind`` is an event's kind (else ``None``),
    ``payload`` a frame other than an event as JSON data (a wait estimate, a fallback
    offer; else ``None``). ``transcript`` is the same as JSON-ready lines for people (see
    :meth:`line`)."""

    script: Script
    t0: float = 0.0
    """``time.monotonic()`` when the conversation began: times here are relative to it."""
    conversation_id: str | None = None
    turns: list[TurnRecord] = field(default_factory=list)
    frames: list[tuple[float, str, str | None, dict[str, Any] | None]] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    escalated_at: list[float] = field(default_factory=list)
    """When the visitor was told of each handoff."""
    triggers: list[str | None] = field(default_factory=list)
    """The trigger of each handoff, as the visitor was told it."""
    claimed_at: list[float] = field(default_factory=list)
    agent_side: list[Escalation] = field(default_factory=list)
    """Each handoff as the agents' side saw it (only with an agent token)."""
    errors: list[tuple[str, str]] = field(default_factory=list)
    """``(code, detail)`` of every error: the server's refusals and the simulator's own
    (``timeout``, ``connection_closed``, ...)."""
    finished: bool = False
    """Every turn was played (an error or a timeout stops a conversation early)."""
    unfinished_reason: str | None = None
    abandoned: bool = False
    """Handed off, the visitor gave up waiting for an agent to finish (``patience``)."""
    queued: bool = False
    """When the visitor left, the conversation was handed off and no agent held it: it
    was still waiting in the queue."""

    def line(self, at: float, who: str, kind: str, text: str = "", **extra: Any) -> None:
        """Add a transcript line: ``at`` seconds, ``who`` (visitor, ai, agent, system,
        server, agents' side, simulator), ``kind``, ``text`` and any details."""
        entry: dict[str, Any] = {"at": round(at, 3), "who": who, "kind": kind}
        if text:
            entry["text"] = text
        entry.update({k: v for k, v in extra.items() if v is not None})
        self.transcript.append(entry)

    def error(self, at: float, code: str, detail: str) -> None:
        """Record an error (and its transcript line)."""
        self.errors.append((code, detail))
        self.line(
            at, "server" if code in _SERVER_CODES else "simulator", "error", detail, code=code
        )

    def kinds(self, start: int = 0, end: int | None = None) -> list[str]:
        """The event kinds (else frame types) received in ``frames[start:end]``."""
        return [kind or typ for _, typ, kind, _ in self.frames[start:end]]

    def payloads(self, frame_type: str, start: int = 0, end: int | None = None) -> list[Any]:
        """The JSON data of each ``frame_type`` frame received in ``frames[start:end]``."""
        return [p for _, typ, _, p in self.frames[start:end] if typ == frame_type]

    @property
    def escalated(self) -> bool:
        """Whether the conversation was handed to people at least once."""
        return bool(self.escalated_at)


_SERVER_CODES: frozenset[str] = frozenset(get_args(ErrorCode))
"""Codes the server sends in ``error`` frames (the rest are the simulator's own)."""
