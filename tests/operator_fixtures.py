"""Fixture data for the operator screens' snapshot tests: the operator, the policy in
force (the default policy, version 4), its history, a what-if, a risk–coverage curve,
a fortnight of analytics and three knowledge gaps — all at the fixed clock of
:mod:`tests.tui_fixtures`."""

from __future__ import annotations

from datetime import timedelta

from pydantic import ValidationError

from handoff_server.escalation import Policy
from handoff_server.protocol import AgentInfo
from handoff_server.protocol_operator import (
    AnalyticsDay,
    DurationStats,
    GapGroup,
    PolicyChange,
    PolicyProblem,
    PolicyVersionInfo,
    RiskPoint,
    SAnalytics,
    SKnowledgeGaps,
    SPolicy,
    SPolicyHistory,
    SRiskCoverage,
    SWhatIf,
    TeamStats,
    WhatIfExample,
    WhatIfSide,
)
from tests.tui_fixtures import NOW, ago

__all__ = [
    "OLIVIA",
    "analytics",
    "gaps",
    "history",
    "policy",
    "risk",
    "validate",
    "what_if",
]

OLIVIA = AgentInfo(id="ag_olivia", name="Olivia Ops", role="operator")


def policy(version: int = 4, threshold: float = 0.70) -> SPolicy:
    """The default policy with ``threshold``, stored as ``version`` by Olivia 2 days ago."""
    body = Policy(threshold=threshold).to_data()
    return SPolicy(
        version=version,
        author="Olivia Ops",
        created_at=ago(2 * 86400),
        comment="fewer escalations on billing",
        policy=body,
    )


def validate(body: dict) -> list[PolicyProblem]:
    """The problems the server's own policy model finds in ``body`` (with ``loc``)."""
    try:
        Policy.model_validate(body)
    except ValidationError as exc:
        return [
            PolicyProblem(loc=list(e["loc"]), message=e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]
    return []


def history() -> SPolicyHistory:
    """Four versions: the first, a threshold change, a keyword added (an untrusted-looking
    phrase with markup in it), and a rollback-free team change."""
    versions = [
        PolicyVersionInfo(
            version=4, author="Olivia Ops", created_at=ago(2 * 86400),
            comment="fewer escalations on billing",
            changes=[
                PolicyChange(path="keyword.teams.cancel account", before="billing", after="retention"),
                PolicyChange(path="rules[0].priority", before=2, after=3),
            ],
        ),
        PolicyVersionInfo(
            version=3, author="Sam Rivera", created_at=ago(9 * 86400), comment=None,
            changes=[
                PolicyChange(path="keyword.phrases[3]", before=None, after="[red]refund[/red] now"),
                PolicyChange(path="sentiment.threshold", before=-0.5, after=-0.4),
            ],
        ),
        PolicyVersionInfo(
            version=2, author="Olivia Ops", created_at=ago(20 * 86400), comment="pilot week",
            changes=[PolicyChange(path="threshold", before=0.7, after=0.75)],
        ),
        PolicyVersionInfo(
            version=1, author="handoff policy import", created_at=ago(30 * 86400),
            comment="first", changes=[PolicyChange(path="threshold", before=None, after=0.7)],
        ),
    ]  # fmt: skip
    return SPolicyHistory(versions=versions)


def what_if() -> SWhatIf:
    """Lowering the threshold to 0.60 over a week: 18 conversations no longer escalate
    on low confidence, 2 now escalate on a rule."""
    current = WhatIfSide(
        policy_version=4, conversations=310, contained=220, escalated=90,
        containment_rate=220 / 310,
        by_trigger={"low_confidence": 40, "keyword": 20, "human_request": 18,
                    "sentiment": 8, "intent": 4},
    )  # fmt: skip
    proposed = WhatIfSide(
        policy_version=None, conversations=310, contained=236, escalated=74,
        containment_rate=236 / 310,
        by_trigger={"low_confidence": 22, "keyword": 20, "human_request": 18,
                    "sentiment": 8, "intent": 6},
    )  # fmt: skip
    examples = [
        WhatIfExample(conversation_id="c_ada", seq=2, text="How do I point my domain at your servers?",
                      before="low_confidence", after="contained"),
        WhatIfExample(conversation_id="c_grace", seq=2, text="Where do I see my invoices? [b]now[/b]",
                      before="low_confidence", after="contained"),
        WhatIfExample(conversation_id="c_linus", seq=4, text="Server returns 502 after the kernel update",
                      before="contained", after="intent"),
        WhatIfExample(conversation_id="c_ken", seq=3, text="Migrate 40 mailboxes from Exchange",
                      before="low_confidence", after="unresolved_exchanges"),
    ]  # fmt: skip
    return SWhatIf(
        turns=1240, conversations=310, current=current, proposed=proposed,
        escalated_to_contained=18, contained_to_escalated=2, trigger_changed=1,
        examples=examples,
    )  # fmt: skip


def risk(threshold: float = 0.70) -> SRiskCoverage:
    """A curve from 0.30 to 0.95: coverage falls and risk falls as the threshold rises."""
    points = []
    for n in range(14):
        t = 0.30 + 0.05 * n
        coverage = max(0.15, 1.0 - 0.9 * (t - 0.25) ** 1.4)
        risk_ = 0.12 * (1.0 - t) ** 1.6
        points.append(
            RiskPoint(threshold=round(t, 2), coverage=coverage, risk=risk_, upper=risk_ * 1.35)
        )
    return SRiskCoverage(
        threshold=threshold,
        points=points,
        resolved_samples=412,
        eval_samples=120,
        trade="0.65: 6% more answered, about 1 more wrong answer in 100; "
        "0.75: 7% fewer answered, about 1 fewer wrong answer in 100.",
    )


def analytics() -> SAnalytics:
    """Fourteen days of a support desk, three teams."""
    days = []
    for n in range(14):
        day = (NOW - timedelta(days=13 - n)).date()
        conversations = 40 + (n * 7) % 13
        escalated = 8 + (n * 5) % 7
        days.append(
            AnalyticsDay(
                date=day, conversations=conversations, contained=conversations - escalated,
                escalated=escalated, containment_rate=(conversations - escalated) / conversations,
                escalation_rate=escalated / conversations,
            )
        )  # fmt: skip
    teams = {
        "billing": TeamStats(escalated=61, wait=DurationStats(count=61, median=95, p90=410),
                             handling=DurationStats(count=58, median=540, p90=1620)),
        "dns": TeamStats(escalated=44, wait=DurationStats(count=44, median=130, p90=720),
                         handling=DurationStats(count=41, median=900, p90=2400)),
        "[b]vip[/b]": TeamStats(escalated=7, wait=DurationStats(count=7, median=30, p90=65),
                                handling=DurationStats(count=7, median=300, p90=480)),
    }  # fmt: skip
    conversations = sum(d.conversations for d in days)
    escalated = sum(d.escalated for d in days)
    return SAnalytics(
        since=NOW - timedelta(days=30), until=None, conversations=conversations,
        containment_rate=(conversations - escalated) / conversations,
        escalation_rate=escalated / conversations, days=days,
        by_trigger={"low_confidence": 70, "keyword": 25, "human_request": 22, "sentiment": 9},
        wait=DurationStats(count=112, median=110, p90=600),
        handling=DurationStats(count=106, median=660, p90=2100), teams=teams,
    )  # fmt: skip


def gaps() -> SKnowledgeGaps:
    """Three topics the KB fails, newest and largest first."""
    groups = [
        GapGroup(
            id="g1", size=23, newest=ago(3600),
            examples=["Can I get a refund for the outage in March?",
                      "refund for downtime?", "Do you credit us when the site is down?"],
            wrong_entry_id="cancel-plan", wrong_entry_title="Cancelling your plan",
            conversation_ids=["c_grace", "c_dennis"],
        ),
        GapGroup(
            id="g2", size=11, newest=ago(5 * 3600),
            examples=["How do I set up DKIM for Mailchimp?", "dkim record for mailchimp"],
            wrong_entry_id="dns-records", wrong_entry_title="Adding DNS records",
            conversation_ids=["c_ada"],
        ),
        GapGroup(
            id="g3", size=4, newest=ago(26 * 3600),
            examples=["[bold]Is there an API\x1b[2J for backups?"],
            wrong_entry_id=None, conversation_ids=["c_linus"],
        ),
    ]  # fmt: skip
    return SKnowledgeGaps(groups=groups)


def build_operator_app(*, queue=None, packets=None):
    """``handoff operator`` on a :class:`FakeServer` signed in as Olivia (an operator),
    answering the operator frames with this module's fixtures, at the fixed clock."""
    from handoff_tui import FixedClock, TUISettings, make_app
    from tests.fake import FakeClient, FakeDesk, FakeServer

    server = FakeServer(OLIVIA, queue, packets, now=NOW)
    server.desk = FakeDesk(
        policy(),
        validate,
        policy_history=history(),
        what_if=what_if(),
        risk_coverage=risk(),
        analytics=analytics(),
        knowledge_gaps=gaps(),
    )
    settings = TUISettings(server_url="ws://fake.invalid:8765", token="t")
    app = make_app(settings, FakeClient(server), FixedClock(NOW), operator=True)
    return app, server
