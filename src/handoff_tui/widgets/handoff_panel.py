"""The handoff panel: why the conversation came to a human and what is known about it."""

from __future__ import annotations

from datetime import datetime

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from handoff_server.protocol import CallbackRequested, OfflineMessage
from handoff_tui.formatting import confidence_style, fired_value, trigger_label
from handoff_tui.model import ConversationState, format_wait
from handoff_tui.text import fill

__all__ = ["HandoffPanel"]

M = fill
_BARS = "▁▂▃▄▅▆▇█"


def _section(title: str, lines: list[Content]) -> Content:
    head = M("[b $accent]$title[/]", title=title)
    return Content("\n").join([head, *lines]) if lines else head


def _kv(key: str, value: str) -> Content:
    return M("[dim]$key:[/] $value", key=key, value=value)


def _trigger_section(conv: ConversationState) -> Content:
    trigger = conv.current_trigger()
    if trigger is None:
        told, _ = conv.standing_escalation()
        note = "back with the AI" if told and conv.status == "ai" else "not escalated"
        return _section("Trigger", [M("[dim]$n[/]", n=note)])
    lines = [M("[b $error]$label[/]", label=trigger_label(trigger))]
    # The coloured confidence line below says the same as a low-confidence detail.
    if trigger.detail and not (trigger.kind == "low_confidence" and trigger.confidence is not None):
        lines.append(M("$d", d=trigger.detail))
    if trigger.confidence is not None:
        style = confidence_style(trigger.confidence, trigger.threshold)
        threshold = "—" if trigger.threshold is None else f"{trigger.threshold:.2f}"
        lines.append(
            M(
                f"confidence [b {style}]$c[/] vs threshold [b]$t[/]",
                c=f"{trigger.confidence:.2f}",
                t=threshold,
            )
        )
    value = fired_value(trigger)
    if value is not None and trigger.kind == "keyword":
        lines.append(_kv("matched", str(value)))
    if trigger.rule:
        lines.append(_kv("rule", trigger.rule))
    fired = [e.trigger for e in trigger.evaluations if e.fired]
    if len(fired) > 1:
        lines.append(_kv("also fired", ", ".join(f for f in fired if f != trigger.kind)))
    return _section("Trigger", lines)


def _wait_lines(conv: ConversationState, now: datetime | None) -> list[Content]:
    # The visitor waits for a person from escalation until a claim: the count runs only
    # while queued and stops at the claim.
    queued_at = conv.queued_at()
    claimed_at = conv.claimed_at()
    if conv.status == "queued" and queued_at and now:
        return [_kv("waiting", format_wait((now - queued_at).total_seconds()))]
    if conv.status == "assigned" and queued_at and claimed_at:
        waited = format_wait((claimed_at - queued_at).total_seconds())
        return [_kv("waited", f"{waited} (claimed {claimed_at:%H:%M:%S} UTC)")]
    return []


def _handoff_section(conv: ConversationState, now: datetime | None) -> Content:
    packet = conv.packet
    lines = [_kv("status", conv.status)]
    if conv.assigned_agent:
        lines.append(_kv("assigned to", conv.assigned_agent.name))
    lines += _wait_lines(conv, now)
    priority, team = conv.routing()
    if priority:
        lines.append(_kv("priority", str(priority)))
    if team:
        lines.append(_kv("team", team))
    if packet:
        lines.append(_kv("started", packet.started_at.strftime("%Y-%m-%d %H:%M:%S UTC")))
    return _section("Handoff", lines)


def _task_section(conv: ConversationState) -> Content | None:
    """The visitor's call back or offline message still to be done, if any."""
    task = conv.task()
    if isinstance(task, CallbackRequested):
        data = task.data
        when = (
            f"{data.preferred_at:%a %d %b %H:%M} UTC"
            if data.preferred_at
            else "as soon as possible"
        )
        lines = [
            _kv("phone", data.phone or "—"),
            _kv("email", data.email or "—"),
            _kv("when", when),
        ]
        if data.note:
            lines.append(_kv("note", data.note))
        lines.append(M("[dim]press x once you have called back[/]"))
        return _section("Call back requested", lines)
    if isinstance(task, OfflineMessage):
        lines = [_kv("answer to", task.data.email), M("$t", one_line=False, t=task.data.text)]
        lines.append(M("[dim]write the answer; ctrl+e sends it by email[/]"))
        return _section("Offline message", lines)
    return None


def _candidates_section(conv: ConversationState) -> Content:
    lines = []
    for c in conv.candidates()[:6]:
        score = float(c.get("score") or 0.0)
        bar = "█" * round(score * 10) + "░" * (10 - round(score * 10))
        lines.append(
            M(
                "[$accent]$bar[/] $s $title [dim]($id)[/]",
                bar=bar,
                s=f"{score:.2f}",
                title=str(c.get("title", "")),
                id=str(c.get("entry_id", "")),
            )
        )
    return _section("KB candidates (model scores)", lines or [M("[dim]none[/]")])


def _confidence_section(conv: ConversationState) -> Content:
    history = conv.confidence_history()
    if not history:
        return _section("Confidence over the conversation", [M("[dim]no AI answers[/]")])
    threshold = next((t for _, t in reversed(history) if t is not None), None)
    if threshold is None and conv.packet:
        threshold = conv.packet.threshold
    spark = Content("").join(
        M(f"[{confidence_style(c, t or threshold)}]$b[/]", b=_BARS[min(7, int(c * 8))])
        for c, t in history
    )
    values = Content(" ").join(
        M(f"[{confidence_style(c, t or threshold)}]$v[/]", v=f"{c:.2f}") for c, t in history
    )
    tail = f"  (threshold {threshold:.2f})" if threshold is not None else ""
    return _section("Confidence over the conversation", [spark + M("$t", t=tail), values])


def panel_content(conv: ConversationState, now: datetime | None) -> Content:
    """Everything the panel shows for ``conv`` at time ``now`` (UTC): the task (a call back
    or an offline message) first when there is one, trigger, handoff (status, assignee,
    waiting time), visitor, AI analysis, KB candidates, confidence."""
    task = _task_section(conv)
    sections = [task] if task is not None else []
    sections += [_trigger_section(conv), _handoff_section(conv, now)]
    if conv.packet:
        v = conv.packet.visitor
        lines = [_kv("name", v.name or "—"), _kv("email", v.email or "—")]
        lines += [_kv(k, str(val)) for k, val in sorted(v.fields.items())]
        lines.append(_kv("start page", v.page_url or "—"))
        sections.append(_section("Visitor", lines))
    sections.append(
        _section("AI analysis", [M("$a", one_line=False, a=conv.question_analysis() or "—")])
    )
    sections += [_candidates_section(conv), _confidence_section(conv)]
    return Content("\n\n").join(sections)


class HandoffPanel(VerticalScroll, can_focus=False):
    """Scrollable panel showing :func:`panel_content`."""

    def compose(self):
        yield Static(id="panel-body")

    def show(self, conv: ConversationState, now: datetime | None) -> None:
        """Redraw for ``conv`` at ``now``."""
        self.query_one("#panel-body", Static).update(panel_content(conv, now))
