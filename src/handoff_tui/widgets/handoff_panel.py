"""The handoff panel: why the conversation came to a human and what is known about it."""

from __future__ import annotations

from datetime import datetime

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from handoff_server.protocol import TriggerInfo
from handoff_tui.formatting import confidence_style, fired_value, trigger_label
from handoff_tui.state import ConversationState, format_wait
from handoff_tui.text import fill

__all__ = ["HandoffPanel"]

M = fill
_BARS = "▁▂▃▄▅▆▇█"


def _section(title: str, lines: list[Content]) -> Content:
    head = M("[b $accent]$title[/]", title=title)
    return Content("\n").join([head, *lines]) if lines else head


def _kv(key: str, value: str) -> Content:
    return M("[dim]$key:[/] $value", key=key, value=value)


def panel_content(conv: ConversationState, now: datetime | None) -> Content:
    """Everything the panel shows for ``conv`` at time ``now`` (UTC)."""
    packet = conv.packet
    sections: list[Content] = []
    esc = conv.escalation()
    trigger = packet.trigger if packet and packet.trigger else None
    if trigger is None and esc and isinstance(esc.data.get("trigger"), dict):
        trigger = TriggerInfo.model_validate(esc.data["trigger"])

    lines: list[Content] = []
    if trigger:
        lines.append(M("[b $error]$label[/]", label=trigger_label(trigger)))
        # The coloured confidence line below says the same as a low-confidence detail.
        if trigger.detail and not (trigger.kind == "low_confidence" and trigger.confidence is not None):
            lines.append(M("$d", d=trigger.detail))
        if trigger.confidence is not None:
            style = confidence_style(trigger.confidence, trigger.threshold)
            threshold = "—" if trigger.threshold is None else f"{trigger.threshold:.2f}"
            lines.append(M(f"confidence [b {style}]$c[/] vs threshold [b]$t[/]",
                           c=f"{trigger.confidence:.2f}", t=threshold))
        value = fired_value(trigger)
        if value is not None and trigger.kind == "keyword":
            lines.append(_kv("matched", str(value)))
        if trigger.rule:
            lines.append(_kv("rule", trigger.rule))
        fired = [str(e.get("trigger")) for e in trigger.evaluations if e.get("fired")]
        if len(fired) > 1:
            lines.append(_kv("also fired", ", ".join(f for f in fired if f != trigger.kind)))
    else:
        lines.append(M("[dim]not escalated[/]"))
    sections.append(_section("Trigger", lines))

    lines = [_kv("status", conv.status)]
    if conv.assigned_agent:
        lines.append(_kv("assigned to", conv.assigned_agent.name))
    if packet:
        if packet.queued_at and now and conv.status in ("queued", "assigned"):
            lines.append(_kv("waiting", format_wait((now - packet.queued_at).total_seconds())))
        if packet.priority:
            lines.append(_kv("priority", str(packet.priority)))
        if packet.team:
            lines.append(_kv("team", packet.team))
        lines.append(_kv("started", packet.started_at.strftime("%Y-%m-%d %H:%M:%S UTC")))
    sections.append(_section("Handoff", lines))

    if packet:
        v = packet.visitor
        lines = [_kv("name", v.name or "—"), _kv("email", v.email or "—")]
        lines += [_kv(k, str(val)) for k, val in sorted(v.fields.items())]
        lines.append(_kv("start page", v.page_url or "—"))
        sections.append(_section("Visitor", lines))

    analysis = packet.analysis if packet and packet.analysis else ""
    if not analysis:
        for e in reversed(conv.transcript):
            if e.kind == "ai_message" and e.data.get("analysis"):
                analysis = str(e.data["analysis"])
                break
    sections.append(_section("AI analysis", [M("$a", one_line=False, a=analysis or "—")]))

    lines = []
    for c in conv.candidates()[:6]:
        score = float(c.get("score") or 0.0)
        bar = "█" * round(score * 10) + "░" * (10 - round(score * 10))
        lines.append(M("[$accent]$bar[/] $s $title [dim]($id)[/]", bar=bar, s=f"{score:.2f}",
                       title=str(c.get("title", "")), id=str(c.get("entry_id", ""))))
    sections.append(_section("KB candidates (model scores)", lines or [M("[dim]none[/]")]))

    history = conv.confidence_history()
    if history:
        threshold = next((t for _, t in reversed(history) if t is not None), None)
        if threshold is None and packet:
            threshold = packet.threshold
        spark = Content("").join(
            M(f"[{confidence_style(c, t or threshold)}]$b[/]",
              b=_BARS[min(7, int(c * 8))]) for c, t in history
        )
        values = Content(" ").join(
            M(f"[{confidence_style(c, t or threshold)}]$v[/]", v=f"{c:.2f}") for c, t in history
        )
        tail = f"  (threshold {threshold:.2f})" if threshold is not None else ""
        lines = [spark + M("$t", t=tail), values]
    else:
        lines = [M("[dim]no AI answers[/]")]
    sections.append(_section("Confidence over the conversation", lines))
    return Content("\n\n").join(sections)


class HandoffPanel(VerticalScroll, can_focus=False):
    """Scrollable panel showing :func:`panel_content`."""

    def compose(self):
        yield Static(id="panel-body")

    def show(self, conv: ConversationState, now: datetime | None) -> None:
        """Redraw for ``conv`` at ``now``."""
        self.query_one("#panel-body", Static).update(panel_content(conv, now))
