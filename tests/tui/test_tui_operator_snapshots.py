"""Snapshot tests of the operator screens at 80×24 and 160×48: fixed clock (2026-03-02
14:30 UTC), fixture data answered by the in-memory server (``tests/operator_fixtures.py``,
the policy validated by the server's own policy model). Each SVG was reviewed as a
picture; the docstring says what it must show."""

from __future__ import annotations

import pytest
from textual.widgets import Input, TabbedContent

from tests.operator_fixtures import build_operator_app
from tests.tui_fixtures import wait_for

SIZES = [(80, 24), (160, 48)]


def _on_tab(tab: str, ready):
    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_for(pilot, lambda: app.model.operator.policy is not None, "the policy")
        await wait_for(pilot, lambda: getattr(app.screen, "ready", False), "the operator screen")
        # The tabs settle on their first tab after the screen's first refresh: a tab
        # chosen before that is switched back, so it is chosen again until it holds.
        tabs = app.screen.query_one(TabbedContent)

        def shown_and_answered() -> bool:
            if tabs.active != tab:
                app.action_operator(tab)
            return tabs.active == tab and ready(app.model.operator)

        await wait_for(pilot, shown_and_answered, f"the {tab} answer")
        await pilot.pause(0.3)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_policy_screen(snap_compare, size) -> None:
    """The policy tab as ``handoff operator`` opens it: title "Operator · Olivia Ops ·
    policy version 4"; the tabs Policy (active) … Knowledge gaps; "In force: version 4 by
    Olivia Ops at 2026-02-28 14:30 UTC", "No edits"; the Confidence section (threshold 0.7,
    low confidence ticked), Keywords (three phrases one a line, "cancel account = billing",
    filler words 2), Sentiment (−0.5); at 160×48 also unresolved exchanges (3), human
    request, the three intent categories with their first examples, and the first rules
    in words ("1. risk keyword when a keyword matched → escalate (priority 2)")."""
    app, _ = build_operator_app()
    assert snap_compare(app, terminal_size=size, run_before=_on_tab("policy", lambda op: True))


def _invalid_edit(pilot_app):
    async def run_before(pilot) -> None:
        app = pilot.app
        await _on_tab("policy", lambda op: True)(pilot)
        app.screen.query_one("#field-threshold Input", Input).value = "1.5"
        app.screen.query_one("#field-keyword-max_gap Input", Input).value = "9"
        await wait_for(
            pilot,
            lambda: app.model.operator.draft.checked and app.model.operator.draft.problems,
            "the validation answer",
        )
        app.screen.query_one("#pane-policy").focus()
        await pilot.pause(0.3)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_policy_screen_with_validation_errors(snap_compare, size) -> None:
    """The operator typed threshold 1.5 and filler words 9: the title bar says "edited,
    not applied"; the status "Edited: 2 change(s), not applied · 2 problem(s)"; under the
    threshold, in red, "✗ Input should be less than or equal to 1" and its label red; under
    filler words "✗ Input should be less than or equal to 5"; the footer offers ^s Apply
    and ^r Drop edits."""
    app, _ = build_operator_app()
    assert snap_compare(app, terminal_size=size, run_before=_invalid_edit(app))


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_history_with_a_diff(snap_compare, size) -> None:
    """History: versions 4 (● in force), 3, 2, 1 with when (UTC), who, number of changes
    and comment; version 4 highlighted and its diff below in amber: "keyword.teams.cancel
    account: 'billing' → 'retention'", "rules[0].priority: 2 → 3"."""
    app, _ = build_operator_app()
    run = _on_tab("history", lambda op: op.history is not None)
    assert snap_compare(app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_history_diff_of_an_added_phrase(snap_compare, size) -> None:
    """History with version 3 highlighted (↓): its diff shows the added phrase in green as
    typed, markup and all ("+ keyword.phrases[3]: '[red]refund[/red] now'": data, never
    styled) and "sentiment.threshold: -0.5 → -0.4" in amber."""
    app, _ = build_operator_app()
    run = _on_tab("history", lambda op: op.history is not None)
    assert snap_compare(app, terminal_size=size, run_before=run, press=["down"])


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_what_if_comparison(snap_compare, size) -> None:
    """What-if over the last 7 days: "Replayed 1,240 AI turns of 310 conversations: the
    edited policy against version 4 in force"; the table In force / Edited / Change:
    containment rate 71.0% → 76.1% (+5.2 pt), contained 220 → 236, escalated 90 → 74, then
    by trigger (↳ low confidence 40 → 22 …, "=" where equal); "18 escalated → contained ·
    2 contained → escalated · 1 other trigger"; four examples with their change coloured,
    the triggers in words and the visitor's text as typed (the "[b]now[/b]" shown, not
    applied)."""
    app, _ = build_operator_app()
    run = _on_tab("what_if", lambda op: op.what_if is not None and "what_if" not in op.loading)
    assert snap_compare(app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_risk_coverage_plot(snap_compare, size) -> None:
    """Risk–coverage: "Threshold 0.70: the AI answers 71% of visitors, wrong on 1.7% of
    them (at most 2.4%)", the server's trade sentence ("0.65: 6% more answered, about 1
    more wrong answer in 100; …"); the plot of wrong answers (%) against answered (%),
    with its upper bound in grey, an orange vertical line and point labelled 0.70 at 71%;
    "From 412 judged conversations and 120 eval questions"."""
    app, _ = build_operator_app()
    run = _on_tab("risk", lambda op: op.risk is not None)
    assert snap_compare(app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_analytics(snap_compare, size) -> None:
    """Analytics for the last 30 days (from 2026-01-31 14:30 to now): 638 conversations,
    containment 75.9%, escalation 24.1%, wait 1m50s (p90 10m00s), handling 11m00s (p90
    35m00s); a sparkline of containment by day (2026-02-17 … 2026-03-02, low 67%, high
    84%); escalations by trigger with their share and per team with wait and handling
    median and p90 (the team "[b]vip[/b]" shown as typed), whole at 80 columns; then the
    days newest first — below them at 80×24, beside them at 160×48."""
    app, _ = build_operator_app()
    run = _on_tab("analytics", lambda op: op.analytics is not None)
    assert snap_compare(app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
def test_knowledge_gaps(snap_compare, size) -> None:
    """Knowledge gaps: "3 topics the KB fails, 38 questions"; rows 23 / 11 / 4 with their
    newest time (UTC), first question and the entry the AI reached for ("Cancelling your
    plan", "Adding DNS records", "—"); the third question shows its markup and an ESC as
    ␛ (data, not obeyed); below, the highlighted group: "23 questions, newest 1 h ago ·
    from 2 conversations · the AI reached for “Cancelling your plan”" and its three
    questions."""
    app, _ = build_operator_app()
    run = _on_tab("gaps", lambda op: op.gaps is not None)
    assert snap_compare(app, terminal_size=size, run_before=run)
