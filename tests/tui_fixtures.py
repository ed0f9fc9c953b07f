"""Fixture data for the agent TUI's snapshot tests: a fixed clock and a small support day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from handoff_server.protocol import (
    AgentInfo,
    AgentStatus,
    CallbackInfo,
    CandidateInfo,
    Event,
    FallbackChoice,
    FallbackState,
    HandoffPacket,
    QueueItem,
    TriggerEvaluationInfo,
    TriggerInfo,
    VisitorInfo,
    WaitInfo,
    parse_event,
)
from handoff_tui import FixedClock, TUISettings, make_app
from handoff_tui.app import AgentApp
from tests.fake import FakeClient, FakeServer

NOW = datetime(2026, 3, 2, 14, 30, 0, tzinfo=UTC)
SAM = AgentInfo(id="ag_sam", name="Sam Rivera", role="agent")
KIM = AgentInfo(id="ag_kim", name="Kim Okafor", role="agent")
THRESHOLD = 0.70


def ago(seconds: float) -> datetime:
    """``seconds`` before :data:`NOW`."""
    return NOW - timedelta(seconds=seconds)


LOW_CONF_TRIGGER = TriggerInfo(
    kind="low_confidence",
    detail="confidence 0.41 < threshold 0.70",
    confidence=0.41,
    threshold=THRESHOLD,
    policy_version=3,
    evaluations=[
        {"trigger": "low_confidence", "fired": True, "value": 0.41, "threshold": THRESHOLD},
        {"trigger": "keyword", "fired": False},
    ],
)
KEYWORD_TRIGGER = TriggerInfo(
    kind="keyword",
    detail="matched keyword 'cancel my account'",
    confidence=0.88,
    threshold=THRESHOLD,
    policy_version=3,
    evaluations=[
        {"trigger": "low_confidence", "fired": False, "value": 0.88, "threshold": THRESHOLD},
        {"trigger": "keyword", "fired": True, "value": "cancel my account"},
        {"trigger": "sentiment", "fired": True, "value": -0.62, "threshold": -0.5},
    ],
)
HUMAN_TRIGGER = TriggerInfo(
    kind="human_request", detail="visitor asked for a person", confidence=None, threshold=THRESHOLD
)


def _ev(cid: str, seq: int, kind: str, actor: str, at: datetime, **data) -> Event:
    return parse_event(
        {"conversation_id": cid, "seq": seq, "kind": kind, "at": at, "actor": actor, "data": data}
    )


def low_confidence_packet() -> HandoffPacket:
    """Ada asks about a DNS problem the KB only half covers; the AI is unsure (0.41)."""
    cid = "c_ada"
    visitor = VisitorInfo(
        name="Ada Lovelace",
        email="ada@example.org",
        fields={"plan": "Business", "domain": "analytical.engine"},
        page_url="https://hostco.example/help/dns",
    )
    cands = [
        {"entry_id": "dns-propagation", "title": "How long DNS changes take", "score": 0.41},
        {"entry_id": "dns-records", "title": "Adding DNS records", "score": 0.33},
        {"entry_id": "domain-transfer", "title": "Transferring a domain", "score": 0.12},
    ]
    t0 = ago(420)
    # fmt: off
    events = [
        _ev(cid, 1, "conversation_started", "system", t0, visitor=visitor.model_dump()),
        _ev(cid, 2, "visitor_message", "visitor", t0, text="How do I point my domain at your servers?"),
        _ev(cid, 3, "ai_message", "ai", t0 + timedelta(seconds=2),
            text="Set your domain's nameservers to ns1.hostco.example and ns2.hostco.example at your registrar.",
            confidence=0.86, threshold=THRESHOLD, sources=["nameservers"]),
        _ev(cid, 4, "visitor_message", "visitor", ago(200),
            text="I did that two days ago and the MX records still point at the old host, mail bounces"),
        _ev(cid, 5, "escalated", "system", ago(198), trigger=LOW_CONF_TRIGGER.model_dump(),
            priority=1, team="dns", text="I'm passing you to a colleague who can check your DNS.",
            draft={"text": "DNS changes can take up to 48 hours to propagate. After that, check the MX records under Domains → DNS.",
                   "candidates": cands}),
    ]
    # fmt: on
    return HandoffPacket(
        conversation_id=cid,
        status="queued",
        visitor=visitor,
        started_at=t0,
        queued_at=ago(198),
        trigger=LOW_CONF_TRIGGER,
        analysis="Visitor moved nameservers 2 days ago; MX records still resolve to the old "
        "host so mail bounces. Likely stale MX at the old DNS zone, not propagation.",
        candidates=[CandidateInfo(**c) for c in cands],
        confidence_history=[0.86, 0.41],
        threshold=THRESHOLD,
        priority=1,
        team="dns",
        transcript=events,
        last_seq=len(events),
    )


def keyword_packet() -> HandoffPacket:
    """Grace wants to cancel; the keyword trigger fires even though the AI was confident."""
    cid = "c_grace"
    visitor = VisitorInfo(
        name="Grace Hopper",
        email="grace@navy.example",
        fields={"plan": "Starter"},
        page_url="https://hostco.example/billing",
    )
    t0 = ago(95)
    # fmt: off
    events = [
        _ev(cid, 1, "conversation_started", "system", t0, visitor=visitor.model_dump()),
        _ev(cid, 2, "visitor_message", "visitor", t0,
            text="This is the third outage this month. Cancel my account and refund March."),
        _ev(cid, 3, "escalated", "system", t0 + timedelta(seconds=1),
            trigger=KEYWORD_TRIGGER.model_dump(), priority=2, team="billing",
            text="I'm getting a member of our billing team for you.",
            draft={"text": "You can cancel any time under Billing → Plan → Cancel. Refunds for outages are covered by our SLA credit policy.",
                   "candidates": [{"entry_id": "cancel-plan", "title": "Cancelling your plan", "score": 0.88}]}),
    ]
    # fmt: on
    return HandoffPacket(
        conversation_id=cid,
        status="queued",
        visitor=visitor,
        started_at=t0,
        queued_at=ago(94),
        trigger=KEYWORD_TRIGGER,
        analysis="Angry about repeated outages; wants to cancel and get "
        "a refund for March. Retention offer and SLA credit apply.",
        candidates=[
            CandidateInfo(entry_id="cancel-plan", title="Cancelling your plan", score=0.88),
            CandidateInfo(entry_id="sla-credits", title="SLA credits for downtime", score=0.64),
        ],
        confidence_history=[0.88],
        threshold=THRESHOLD,
        priority=2,
        team="billing",
        transcript=events,
        last_seq=len(events),
    )


def queue_items() -> list[QueueItem]:
    """A busy afternoon: eight conversations, queued and assigned, several triggers."""
    # fmt: off
    rows = [
        ("c_ada", "Ada Lovelace", "How do I point my domain at your servers?", LOW_CONF_TRIGGER, 0.41, 1, "dns", None, 198),
        ("c_grace", "Grace Hopper", "This is the third outage this month. Cancel my account and refund March.", KEYWORD_TRIGGER, 0.88, 2, "billing", None, 94),
        ("c_alan", "Alan Turing", "I want to talk to a human", HUMAN_TRIGGER, None, 0, None, None, 31),
        ("c_linus", "Linus T.", "Server returns 502 after the kernel update", LOW_CONF_TRIGGER.model_copy(update={"confidence": 0.22}), 0.22, 3, "senior", None, 1250),
        ("c_margaret", "Margaret Hamilton", "Can I restore yesterday's backup of one database only?", LOW_CONF_TRIGGER.model_copy(update={"confidence": 0.58}), 0.58, 0, "support", SAM, 640),
        ("c_barbara", "Barbara Liskov", "SSL certificate shows as expired on www", LOW_CONF_TRIGGER.model_copy(update={"confidence": 0.66}), 0.66, 0, "support", KIM, 410),
        ("c_ken", "ken@unix.example", "Migrate 40 mailboxes from Exchange", HUMAN_TRIGGER, 0.73, 1, "migrations", None, 3720),
        ("c_dennis", "Dennis R.", "Invoice shows wrong VAT number", KEYWORD_TRIGGER.model_copy(update={"evaluations": [TriggerEvaluationInfo(trigger="keyword", fired=True, value="refund")]}), 0.79, 0, "billing", SAM, 75),
    ]
    # fmt: on
    items = []
    for cid, name, q, trig, conf, pri, team, agent, wait in rows:
        email = name if "@" in name else None
        items.append(
            QueueItem(
                conversation_id=cid,
                status="assigned" if agent else "queued",
                visitor=VisitorInfo(name=None if email else name, email=email),
                first_question=q,
                trigger=trig,
                last_confidence=conf,
                priority=pri,
                team=team,
                assigned_agent=agent,
                queued_at=ago(wait),
                updated_at=ago(wait),
                last_seq=5,
            )
        )
    return items


def build_app(
    *,
    queue: list[QueueItem] | None = None,
    packets: list[HandoffPacket] | None = None,
    hold_acks: bool = False,
    reconnect_initial: float = 0.5,
    staff: list[AgentStatus] | None = None,
) -> tuple[AgentApp, FakeServer]:
    """The agent app on a :class:`FakeServer` holding ``queue`` and ``packets``, at
    :data:`NOW`; with ``staff`` the server answers ``presence`` with that roster."""
    server = FakeServer(SAM, queue, packets, now=NOW, hold_acks=hold_acks, staff=staff)
    settings = TUISettings(
        server_url="ws://fake.invalid:8765",
        token="t",
        reconnect_initial_seconds=reconnect_initial,
        reconnect_max_seconds=max(10.0, reconnect_initial),
    )
    app = make_app(settings, FakeClient(server), FixedClock(NOW))
    return app, server


def roster() -> list[AgentStatus]:
    """The desk this afternoon: Sam (billing, holding Margaret's and Dennis's
    conversations, 2/3), Kim (billing and support, 1/3), Lee (security, away), Olga (an
    operator of every team, offline)."""

    def status(agent: AgentInfo, presence: str, teams: list[str], load: int, cap: int):
        return AgentStatus(
            id=agent.id,
            name=agent.name,
            role=agent.role,
            status=presence,
            connected=presence != "offline",
            teams=teams,
            capacity=cap,
            load=load,
        )

    lee = AgentInfo(id="ag_lee", name="Lee Chen", role="agent")
    olga = AgentInfo(id="ag_olga", name="Olga Petrova", role="operator")
    return [
        status(SAM, "online", ["billing"], 2, 3),
        status(KIM, "online", ["billing", "support"], 1, 3),
        status(lee, "away", ["security"], 0, 2),
        status(olga, "offline", [], 0, 3),
    ]


def packet_in_status(
    cid: str, name: str, status: str, holder: AgentInfo | None = None
) -> HandoffPacket:
    """Ada's low-confidence conversation under another id and visitor ``name``, taken on to
    ``status``: ``ai`` (the AI answered, never escalated), ``queued``, ``assigned`` (claimed
    by ``holder`` 60 s after escalation), ``resolved`` (claimed then resolved by
    ``holder``) or ``reopened`` (resolved, then the visitor wrote again: with the AI)."""
    base = low_confidence_packet()
    visitor = base.visitor.model_copy(update={"name": name})
    events = [e.model_copy(update={"conversation_id": cid}) for e in base.transcript]
    if status == "ai":
        events = events[:3]
    agent = (holder or SAM).model_dump()
    claimed_at = events[-1].at + timedelta(seconds=60)
    later = {
        "assigned": [("claimed", "agent", {"agent": agent})],
        "resolved": [
            ("claimed", "agent", {"agent": agent}),
            ("resolved", "agent", {"agent": agent}),
        ],
        "reopened": [
            ("claimed", "agent", {"agent": agent}),
            ("resolved", "agent", {"agent": agent}),
            ("reopened", "system", {"text": "The visitor wrote again."}),
            ("visitor_message", "visitor", {"text": "One more question, sorry"}),
        ],
    }.get(status, [])
    for n, (kind, actor, data) in enumerate(later):
        events.append(
            _ev(cid, len(events) + 1, kind, actor, claimed_at + timedelta(seconds=n), **data)
        )
    final = {"reopened": "ai"}.get(status, status)
    return base.model_copy(
        update={
            "conversation_id": cid,
            "visitor": visitor,
            "status": final,
            "transcript": events,
            "last_seq": len(events),
            "trigger": None if status == "ai" else base.trigger,
            "queued_at": None if final == "ai" else base.queued_at,
            "assigned_agent": (holder or SAM) if final == "assigned" else None,
        }
    )


def ai_row(cid: str = "c_ai", name: str = "Hedy Lamarr") -> QueueItem:
    """A queue row for a conversation the AI is handling alone (status ``ai``): a KB
    question answered at confidence 0.91, last message at :data:`NOW`."""
    base = queue_items()[0]
    return base.model_copy(
        update={
            "conversation_id": cid,
            "status": "ai",
            "trigger": None,
            "queued_at": None,
            "priority": 0,
            "team": None,
            "assigned_agent": None,
            "visitor": base.visitor.model_copy(update={"name": name}),
            "first_question": "how do I add a user to my account",
            "last_confidence": 0.91,
            "updated_at": NOW,
        }
    )


async def wait_for(pilot, predicate, what: str, timeout: float = 10.0) -> None:
    """Let the app run until ``predicate()`` holds; fail naming ``what`` after ``timeout``
    seconds. Tests wait for a condition, never for a fixed time (CI machines are loaded)."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _waiting(minutes: int | None, top: int | None = None, ahead: int = 0) -> WaitInfo:
    return WaitInfo(minutes=minutes, max_minutes=top, ahead=ahead, text="told", at=NOW)


def _offered(chosen: str | None = None, **task: Any) -> FallbackState:
    choices = [
        FallbackChoice(option=o, label=o)
        for o in ("wait", "callback", "offline_message", "ai_continues")
    ]
    return FallbackState(reason="no_agents", choices=choices, chosen=chosen, at=NOW, **task)


def fallback_queue_items() -> list[QueueItem]:
    """The queue after a night with nobody online, then two agents: estimates as told
    (no agent yet, under a minute, about 10 minutes, 45 to 60 minutes, the AI going on),
    a call back and an offline message waiting as tasks, and one assigned row."""
    base = {i.conversation_id: i for i in queue_items()}
    call = CallbackInfo(phone="+4930901820", note="after 3pm please")
    rows = [
        base["c_alan"].model_copy(update={"wait": _waiting(None)}),
        base["c_ada"].model_copy(update={"wait": _waiting(0)}),
        base["c_grace"].model_copy(update={"wait": _waiting(10, ahead=1)}),
        base["c_ken"].model_copy(update={"wait": _waiting(45, 60, ahead=6)}),
        base["c_linus"].model_copy(
            update={"wait": _waiting(5, ahead=2), "fallback": _offered("ai_continues")}
        ),
        base["c_margaret"],
        QueueItem(
            conversation_id="c_hedy",
            status="queued",
            visitor=VisitorInfo(name="Hedy Lamarr", email="hedy@example.org"),
            first_question="My site is down since the migration",
            trigger=HUMAN_TRIGGER,
            queued_at=ago(5400),
            updated_at=ago(5100),
            fallback=_offered("callback", callback=call),
        ),
        QueueItem(
            conversation_id="c_tim",
            status="queued",
            visitor=VisitorInfo(name="Tim Berners-Lee", email="tim@w3.example"),
            first_question="Can you move my DNS zone to your nameservers?",
            trigger=LOW_CONF_TRIGGER,
            last_confidence=0.41,
            queued_at=ago(9000),
            updated_at=ago(8900),
            fallback=_offered("offline_message", email="tim@w3.example", message="Move my DNS"),
        ),
    ]
    return rows


def task_packet(kind: str) -> HandoffPacket:
    """Hedy's call back (``callback``) or Tim's offline message (``offline_message``): an
    escalation at night with nobody online, then the visitor's request."""
    cid, name, email = (
        ("c_hedy", "Hedy Lamarr", "hedy@example.org")
        if kind == "callback"
        else ("c_tim", "Tim Berners-Lee", "tim@w3.example")
    )
    visitor = VisitorInfo(name=name, email=email, page_url="https://hostco.example/status")
    t0 = ago(5400)
    said = (
        "My site is down since the migration, I need someone to call me"
        if kind == "callback"
        else "Can you move my DNS zone to your nameservers? I'm off to bed, email me"
    )
    if kind == "callback":
        request = (
            "callback_requested",
            {
                "phone": "+4930901820",
                "note": "after 3pm please",
                "notice": "Thanks: a person will get back to you by phone.",
            },
        )
    else:
        request = (
            "offline_message",
            {
                "email": email,
                "text": "Please move the zone for tim.example and tell me when it is done. Thanks!",
                "notice": "Thanks.",
            },
        )
    # fmt: off
    events = [
        _ev(cid, 1, "conversation_started", "system", t0, visitor=visitor.model_dump()),
        _ev(cid, 2, "visitor_message", "visitor", t0, text=said),
        _ev(cid, 3, "escalated", "system", t0 + timedelta(seconds=1),
            trigger=HUMAN_TRIGGER.model_dump(), text="I'm handing this conversation to a person."),
        _ev(cid, 4, request[0], "visitor", t0 + timedelta(seconds=40), **request[1]),
    ]
    # fmt: on
    return HandoffPacket(
        conversation_id=cid,
        status="queued",
        visitor=visitor,
        started_at=t0,
        queued_at=t0 + timedelta(seconds=1),
        trigger=HUMAN_TRIGGER,
        analysis="No question yet: the visitor asked for a person.",
        threshold=THRESHOLD,
        transcript=events,
        last_seq=len(events),
    )
