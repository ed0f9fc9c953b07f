"""Risk–coverage: the curve from agents' verdicts and saved ``handoff eval`` results, and
what moving the threshold trades, in words (the function, then a real server)."""

from __future__ import annotations

from pathlib import Path

from handoff_server.analytics.coverage import Sample, risk_coverage, trade_words
from handoff_server.kb import load_kb
from handoff_server.protocol_operator import SRiskCoverage
from handoff_server.store import NewEvent
from tests.conftest import create_token
from tests.helpers import agent, events, run_handoff, say, start_visitor
from tests.server.test_operator_policy import ask


def test_the_curve_counts_answers_and_wrong_answers_among_all_questions() -> None:
    samples: list[Sample] = [(0.9, "right"), (0.8, "wrong"), (0.6, "right"), (None, "abstain"),
                             (0.95, "abstain"), (0.3, "wrong")]  # fmt: skip
    points = {p.threshold: p for p in risk_coverage(samples, [0.0, 0.5, 0.85, 1.0])}
    assert (points[0.0].coverage, points[0.0].risk) == (4 / 6, 2 / 6)
    assert (points[0.5].coverage, points[0.5].risk) == (3 / 6, 1 / 6)
    assert (points[0.85].coverage, points[0.85].risk) == (1 / 6, 0.0)
    assert (points[1.0].coverage, points[1.0].risk) == (0.0, 0.0)
    assert all(p.upper is not None and p.upper >= p.risk for p in points.values())
    curve = risk_coverage(samples)
    assert [p.threshold for p in curve] == [i / 100 for i in range(101)]


def test_the_trade_is_said_in_visitors_per_hundred() -> None:
    # 100 questions: 60 answered at 0.70 (2 of them wrong); 6 more at 0.65-0.70 (1 wrong);
    # 5 fewer at 0.75 (1 of them wrong).
    samples: list[Sample] = [(0.9, "right")] * 53 + [(0.9, "wrong")] + [(0.72, "right")] * 4
    samples += [(0.72, "wrong")] + [(0.7, "right")] + [(0.67, "right")] * 5 + [(0.66, "wrong")]
    samples += [(0.2, "wrong")] * 34
    assert len(samples) == 100
    assert trade_words(samples, 0.70) == (
        "0.65: 6% more answered, about 1 more wrong answer in 100; "
        "0.75: 6% fewer answered, about 1 fewer wrong answer in 100"
    )
    assert trade_words([(0.9, "right")], 0.70) == (
        "0.65: as many answered, no change in wrong answers; "
        "0.75: as many answered, no change in wrong answers"
    )
    assert trade_words([], 0.7) == "no judged conversations or eval results yet"


async def test_verdicts_and_saved_eval_results_make_the_curve(
    server_factory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    verdicts = {
        "I want to move my site to you": "right",
        "how much does it cost": "wrong",
        "restore my files": "wrong",
        "I want to talk to a person": "not_attempted",
    }
    confidences = []
    db = srv.store.store
    for text, verdict in verdicts.items():
        conn, welcome = await start_visitor(srv.url)
        assert events(await say(conn, text), "escalated")
        await conn.close()
        cid = welcome.conversation_id
        conv = await srv.store.call(db.get_conversation, cid)
        confidences.append(conv.trigger["confidence"])
        # The verdict an agent gives when resolving (the resolve frame carries it).
        resolved = NewEvent(kind="resolved", data={"agent": {"id": "a1", "name": "Sam",
                            "role": "agent"}, "ai_verdict": verdict})  # fmt: skip
        await srv.store.call(db.append_events, cid, [resolved], {"status": "resolved"})
    assert confidences[-1] is None  # a request for a person: no reading to judge
    op = await agent(srv.url, await create_token(srv, "Olga", "operator"))

    curve = await ask(op, {"type": "risk_coverage"})
    assert isinstance(curve, SRiskCoverage), curve
    assert (curve.resolved_samples, curve.eval_samples, curve.threshold) == (4, 0, 0.7)
    at = {p.threshold: p for p in curve.points}
    right, wrong1, wrong2, _ = confidences
    for t in (0.0, 0.3, 0.45, 0.5, 0.6, 0.7):
        answered = [c for c in (right, wrong1, wrong2) if c >= t]
        wrong = [c for c in (wrong1, wrong2) if c >= t]
        assert (at[t].coverage, at[t].risk) == (len(answered) / 4, len(wrong) / 4)
    assert curve.trade.startswith("0.65: ") and "; 0.75: " in curve.trade

    questions = tmp_path / "q.csv"
    kb = load_kb(None)
    rows = [(e.questions[0], e.id) for e in kb.entries[:8]] + [("write a haiku about cats", "oos")]
    questions.write_text("text,label\n" + "".join(f'"{t}",{lab}\n' for t, lab in rows))
    done = await run_handoff(
        "eval", "--questions", str(questions), "--save", "--json", "--data-dir", str(data),
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    curve = await ask(op, {"type": "risk_coverage"})
    assert (curve.resolved_samples, curve.eval_samples) == (4, 9)
    assert curve.points[0].coverage == 12 / 13  # every question but the unattempted one
    await op.close()


def test_each_point_carries_the_clopper_pearson_upper_bound_on_its_risk() -> None:
    # 100 judged answers, 3 wrong, all at confidence 0.9: at 0.5 the risk is 3/100 and
    # the one-sided 95% exact upper bound is Beta.ppf(0.95, 4, 97) = 0.0757 (scipy).
    samples: list[Sample] = [(0.9, "wrong")] * 3 + [(0.9, "right")] * 97
    (point,) = risk_coverage(samples, [0.5])
    assert point.risk == 0.03
    assert point.upper is not None
    assert abs(point.upper - 0.0757) < 0.0005
    (empty,) = risk_coverage([], [0.5])
    assert empty.upper == 1.0
