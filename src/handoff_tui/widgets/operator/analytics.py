"""Analytics: containment and escalation by day, escalations by trigger, wait and
handling times (median and 90th percentile), overall and per team, for a period back
from the app's clock (the same numbers as ``handoff report``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Select, Sparkline, Static

from handoff_server.protocol_operator import OAnalytics, SAnalytics
from handoff_tui.messages import OperatorRefused, OperatorReply
from handoff_tui.model.queue import format_wait
from handoff_tui.text import fill
from handoff_tui.widgets.operator.pane import OperatorPane
from handoff_tui.widgets.operator.tables import cell, num, pct, seconds, utc
from handoff_tui.widgets.operator.what_if import PERIODS, trigger_word

__all__ = ["AnalyticsPane"]


def _table(widget_id: str, *columns: str) -> DataTable[object]:
    table = DataTable[object](cursor_type="none", id=widget_id, classes="report-table")
    table.add_columns(*columns)
    return table


def _median_p90(median: float | None, p90: float | None) -> str:
    if median is None:
        return "—"
    return f"{format_wait(median)} (p90 {format_wait(p90 or median)})"


class AnalyticsPane(OperatorPane, VerticalScroll):
    """The report for the chosen period (see the module docstring)."""

    FOCUS = "#a-period"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._period_asked = ""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="pane-bar"):
            options = [(name, name) for name in PERIODS]
            yield Select(
                options, value="last 30 days", allow_blank=False, compact=True, id="a-period"
            )
            yield Static(id="a-period-label")
        yield Static(id="a-summary")
        yield Static(id="a-spark-label")
        yield Sparkline([], id="a-spark")
        with Horizontal(id="a-tables"):
            # Triggers and teams first: on a narrow screen the tables stack, days last.
            with Vertical(id="a-side"):
                yield _table("a-triggers", "Trigger", "Escalations", "Share")
                yield _table("a-teams", "Team", "Escal.", "Wait", "p90", "Handling", "p90")
            yield _table("a-days", "Day", "Conv.", "Cont.", "Esc.", "Rate")

    def loaded(self) -> bool:
        return self.op.analytics is not None

    def load(self) -> None:
        """Ask for the report of the chosen period."""
        now = getattr(self.app, "now", None) or datetime.now(UTC)
        self._period_asked = str(self.query_one("#a-period", Select).value)
        delta = PERIODS[self._period_asked]
        self.op.loading.add("analytics")
        self.desk.ask(
            self, OAnalytics, type="analytics", since=None if delta is None else now - delta
        )
        self.redraw()

    @on(Select.Changed, "#a-period")
    def _period(self, event: Select.Changed) -> None:
        # Select says "changed" when first shown too: only a new period is asked for.
        if self.op.policy is not None and str(event.value) != self._period_asked:
            self.load()

    def redraw(self) -> None:
        """Show the last report (or that it is on its way)."""
        report = self.op.analytics
        summary = self.query_one("#a-summary", Static)
        if report is None:
            loading = "analytics" in self.op.loading
            summary.update(fill("[dim]$t[/]", t="loading…" if loading else "no report yet"))
            return
        self.query_one("#a-period-label", Static).update(
            fill("[dim]from $s to $u (UTC)[/]", s=utc(report.since), u=utc(report.until))
        )
        summary.update(
            fill(
                "[b]$n[/] conversations · containment [b]$c[/] · escalation [b]$e[/]\n"
                "wait $w · handling $h",
                n=f"{report.conversations:,}",
                c=pct(report.containment_rate).plain,
                e=pct(report.escalation_rate).plain,
                w=_median_p90(report.wait.median, report.wait.p90),
                h=_median_p90(report.handling.median, report.handling.p90),
            )
        )
        rates = [d.containment_rate for d in report.days if d.containment_rate is not None]
        self.query_one("#a-spark-label", Static).update(
            fill(
                "[b]Containment by day[/] [dim]($first … $last, low $lo, high $hi)[/]",
                first=str(report.days[0].date) if report.days else "—",
                last=str(report.days[-1].date) if report.days else "—",
                lo=f"{min(rates) * 100:.0f}%" if rates else "—",
                hi=f"{max(rates) * 100:.0f}%" if rates else "—",
            )
        )
        self.query_one("#a-spark", Sparkline).data = rates
        self._tables(report)

    def _tables(self, report: SAnalytics) -> None:
        days = self.query_one("#a-days", DataTable)
        days.clear()
        for d in reversed(report.days):
            days.add_row(
                cell(d.date), num(d.conversations), num(d.contained), num(d.escalated),
                pct(d.containment_rate),
            )  # fmt: skip
        triggers = self.query_one("#a-triggers", DataTable)
        triggers.clear()
        total = sum(report.by_trigger.values()) or 1
        for trigger, n in sorted(report.by_trigger.items(), key=lambda kv: -kv[1]):
            triggers.add_row(cell(trigger_word(trigger)), num(n), pct(n / total))
        teams = self.query_one("#a-teams", DataTable)
        teams.clear()
        rows: list[Any] = sorted(report.teams.items(), key=lambda kv: -kv[1].escalated)
        for name, stats in rows:
            teams.add_row(
                cell(name), num(stats.escalated), seconds(stats.wait.median),
                seconds(stats.wait.p90), seconds(stats.handling.median),
                seconds(stats.handling.p90),
            )  # fmt: skip

    @on(OperatorReply)
    def _answered(self, message: OperatorReply) -> None:
        self.redraw()

    @on(OperatorRefused)
    def _refused(self, message: OperatorRefused) -> None:
        self.op.loading.discard("analytics")
        self.desk.tell(f"{message.detail} ({message.code})", title="Analytics", severity="error")
        self.redraw()
