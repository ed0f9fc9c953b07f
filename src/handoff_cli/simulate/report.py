"""The report of a run: one JSON-ready dict (what ``--json`` prints) built from the
records, and its text form.

Definitions (every fraction 0–1, every time in seconds):

- ``conversations``: ``finished`` played every turn, ``unfinished`` stopped early (an
  error, a reply that never came); ``abandoned``: handed off, the visitor gave up
  waiting (``--patience``) for an agent to finish; ``queued``: handed off and still
  waiting in the queue (no agent held it) when the visitor left.
- ``containment``: conversations never handed to a person, over conversations started.
- ``latency_seconds.ai_reply``: a visitor's message sent → the AI's answer received;
  ``handoff``: message sent → the ``escalated`` event received; ``agent_pickup``: the
  ``escalated`` event → the ``claimed`` event (both as the visitor received them). Each
  as ``n``, ``p50``, ``p95``, ``p99``, ``max`` (numpy's linear quantiles).
- ``escalations.by_team``: as the agents' side saw each handoff (``unseen`` without an
  agent token).
- ``questions`` (a question set only): the measures of ``handoff eval`` over the
  conversations, by the same code (:func:`~handoff_server.analytics.compute_metrics`):
  a question is answered when the AI replied instead of handing off, right when the
  reply's sources name the label's KB entry; conversations with an error are left out.
  ``answered_without_source`` counts replies that named no KB entry: the server's
  courtesy replies to a thanks, a hello or "am I talking to a bot?", which ``handoff
  eval`` (the retrieval engine alone) never gives, so they are wrong here where eval
  may count the same question right.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from handoff_cli.simulate.engine import RunResult
from handoff_cli.simulate.expectations import Failure, check_conversation
from handoff_cli.simulate.record import ConversationRecord
from handoff_cli.simulate.server_metrics import metrics_change
from handoff_server.analytics import compute_metrics
from handoff_server.kb.loader import OOS_LABEL, label_to_id

__all__ = ["build_report", "quantiles"]


def quantiles(values: list[float]) -> dict[str, Any]:
    """``{n, p50, p95, p99, max}`` of ``values`` in seconds (``None`` when empty)."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    q = np.quantile(np.asarray(values, dtype=float), [0.5, 0.95, 0.99])
    return {
        "n": len(values),
        "p50": round(float(q[0]), 4),
        "p95": round(float(q[1]), 4),
        "p99": round(float(q[2]), 4),
        "max": round(max(values), 4),
    }


def _latencies(records: list[ConversationRecord]) -> dict[str, Any]:
    ai, handoff, pickup = [], [], []
    for record in records:
        for turn in record.turns:
            if turn.latency is None:
                continue
            if turn.outcome == "answered":
                ai.append(turn.latency)
            elif turn.outcome == "escalated":
                handoff.append(turn.latency)
        for escalated, claimed in zip(record.escalated_at, record.claimed_at, strict=False):
            if claimed >= escalated:
                pickup.append(claimed - escalated)
    return {
        "ai_reply": quantiles(ai),
        "handoff": quantiles(handoff),
        "agent_pickup": quantiles(pickup),
    }


def _conversations(records: list[ConversationRecord]) -> dict[str, int]:
    kinds = [set(r.kinds()) for r in records]
    return {
        "started": len(records),
        "finished": sum(r.finished for r in records),
        "unfinished": sum(not r.finished for r in records),
        "abandoned": sum(r.abandoned for r in records),
        "queued": sum(r.queued for r in records),
        "contained": sum(not r.escalated for r in records),
        "escalated": sum(r.escalated for r in records),
        "claimed": sum("claimed" in k for k in kinds),
        "resolved": sum("resolved" in k for k in kinds),
        "handed_back": sum("handed_back" in k for k in kinds),
        "with_errors": sum(bool(r.errors) for r in records),
    }


def _escalations(records: list[ConversationRecord]) -> dict[str, Any]:
    by_trigger: Counter[str] = Counter()
    by_team: Counter[str] = Counter()
    for record in records:
        by_trigger.update(t or "unknown" for t in record.triggers)
        seen = [e.team or "(none)" for e in record.agent_side]
        by_team.update(seen + ["unseen"] * max(0, len(record.triggers) - len(seen)))
    return {
        "total": sum(by_trigger.values()),
        "by_trigger": dict(by_trigger.most_common()),
        "by_team": dict(by_team.most_common()),
    }


def _questions(records: list[ConversationRecord]) -> dict[str, Any] | None:
    """``handoff eval``'s measures over a question set's conversations."""
    rows = [r for r in records if r.script.label is not None and r.turns]
    usable = [r for r in rows if not r.errors and r.turns[0].outcome in ("answered", "escalated")]
    if not rows:
        return None
    answered = np.array([r.turns[0].outcome == "answered" for r in usable], dtype=bool)
    oos = np.array([r.script.label == OOS_LABEL for r in usable], dtype=bool)
    right = np.array(
        [
            a and not o and label_to_id(r.script.label or "") in r.turns[0].sources
            for r, a, o in zip(usable, answered, oos, strict=True)
        ],
        dtype=bool,
    )
    m = compute_metrics(answered.astype(float), right, oos, 0.5)
    sourceless = sum(r.turns[0].outcome == "answered" and not r.turns[0].sources for r in usable)
    return {
        "n": m.n,
        "n_oos": m.n_oos,
        "answered": int(answered.sum()),
        "escalated": int((~answered).sum()),
        "containment": m.containment,
        "oos_recall": m.oos_recall,
        "coverage": m.coverage,
        "wrong_answer_rate": m.wrong_answer_rate,
        "answered_without_source": sourceless,
        "left_out_with_errors": len(rows) - len(usable),
    }


def _expectations(result: RunResult) -> tuple[dict[str, Any], list[Failure]]:
    checked, failures = 0, []
    for record in result.records:
        n, failed = check_conversation(record, result.seen)
        checked += n
        failures += failed
    verdicts = Counter(f.verdict for f in failures)
    summary = {"checked": checked, "failed": len(failures), "by_verdict": dict(verdicts)}
    return summary, failures


def _errors(result: RunResult) -> dict[str, Any]:
    codes: Counter[str] = Counter(code for r in result.records for code, _ in r.errors)
    return {"total": sum(codes.values()), "by_code": dict(codes.most_common())}


def build_report(result: RunResult, workload: dict[str, Any]) -> dict[str, Any]:
    """The report of ``result`` as one JSON-ready dict; ``workload`` describes what was
    asked for (source file, arrivals, agents) and is included as given."""
    records = result.records
    conversations = _conversations(records)
    expectations, failures = _expectations(result)
    agents = result.agents
    return {
        "server": result.plan.server_url,
        "started_at": result.started_at.isoformat(),
        "seconds": round(result.seconds, 3),
        "workload": {**workload, "skipped_arrivals": result.skipped},
        "conversations": conversations,
        "containment": conversations["contained"] / len(records) if records else None,
        "escalations": _escalations(records),
        "latency_seconds": _latencies(records),
        "errors": _errors(result),
        "agents": None
        if agents is None
        else {
            "count": result.plan.agents.count,
            "claims": agents.claims,
            "claims_lost": agents.claims_lost,
            "offers": agents.offers,
            "replies": agents.replies,
            "resolved": agents.resolved,
            "handed_back": agents.handed_back,
            "errors": dict(agents.errors),
        },
        "questions": _questions(records),
        "expectations": {**expectations, "failures": [f.as_dict() for f in failures]},
        "server_metrics": {
            "before": result.metrics_before,
            "after": result.metrics_after,
            "change": metrics_change(result.metrics_before, result.metrics_after),
        },
    }
