"""Risk–coverage: how many visitors the AI would answer (coverage) against how often it
would be wrong (risk), at each confidence threshold, from the conversations agents
judged and the latest ``handoff eval``; the threshold in force marked, and what moving
it trades, in words (the server's ``trade`` sentence).

Drawn with textual-plotext (plotext's terminal plots inside a Textual widget).
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from handoff_server.protocol_operator import ORiskCoverage, RiskPoint, SRiskCoverage
from handoff_tui.messages import OperatorRefused, OperatorReply
from handoff_tui.text import fill
from handoff_tui.widgets.operator.pane import OperatorPane

__all__ = ["RiskPane", "point_at"]


def point_at(points: list[RiskPoint], threshold: float) -> RiskPoint | None:
    """The point of the curve nearest ``threshold`` (``None`` for no points)."""
    if not points:
        return None
    return min(points, key=lambda p: abs(p.threshold - threshold))


class RiskPane(OperatorPane, Vertical, can_focus=True):
    """The plot, the trade sentence and where the numbers come from. Focusable itself
    (nothing in it is): focus left in another tab would switch back to that tab."""

    def focus_main(self) -> None:
        """Focus the pane."""
        self.focus()

    def compose(self) -> ComposeResult:
        yield Static(id="risk-trade")
        yield PlotextPlot(id="risk-plot")
        yield Static(id="risk-source")

    def loaded(self) -> bool:
        return self.op.risk is not None

    def load(self) -> None:
        """Ask for the curve."""
        self.op.loading.add("risk")
        self.desk.ask(self, ORiskCoverage, type="risk_coverage")
        self.redraw()

    def redraw(self) -> None:
        """Draw the last curve (or that it is on its way)."""
        risk = self.op.risk
        trade = self.query_one("#risk-trade", Static)
        if risk is None:
            loading = "risk" in self.op.loading
            trade.update(fill("[dim]$t[/]", t="loading…" if loading else "no curve yet"))
            return
        here = point_at(risk.points, risk.threshold)
        plot = self.query_one(PlotextPlot)
        plot.display = bool(risk.points) and risk.resolved_samples + risk.eval_samples > 0
        head = fill("[b]Threshold $t[/]", t=f"{risk.threshold:.2f}")
        if not plot.display:
            head += fill(
                ": nothing to measure it on yet. Agents' verdicts on resolved conversations "
                "and [b]handoff eval --save[/] give the curve."
            )
        elif here is not None:
            head += fill(
                ": the AI answers [b]$c[/] of visitors, wrong on [b]$r[/] of them$u",
                c=f"{here.coverage * 100:.0f}%",
                r=f"{here.risk * 100:.1f}%",
                u=f" (at most {here.upper * 100:.1f}%)" if here.upper is not None else "",
            )
        trade.update(head + fill("\n$trade", trade=risk.trade, one_line=False))
        self.query_one("#risk-source", Static).update(
            fill(
                "[dim]From $n judged conversations and $e eval questions · r reloads[/]",
                n=f"{risk.resolved_samples:,}",
                e=f"{risk.eval_samples:,}",
            )
        )
        if plot.display:
            self._plot(risk, here)

    def _plot(self, risk: SRiskCoverage, here: RiskPoint | None) -> None:
        widget = self.query_one(PlotextPlot)
        plt: Any = widget.plt
        plt.clear_data()
        plt.clear_figure()
        points = sorted(risk.points, key=lambda p: p.coverage)
        xs = [p.coverage * 100 for p in points]
        plt.plot(xs, [p.risk * 100 for p in points], marker="braille", label="wrong answers")
        if any(p.upper is not None for p in points):
            upper = [(p.upper if p.upper is not None else p.risk) * 100 for p in points]
            plt.plot(xs, upper, marker="braille", color="gray", label="upper bound")
        if here is not None:
            plt.vline(here.coverage * 100, "orange")
            plt.scatter([here.coverage * 100], [here.risk * 100], marker="●", color="orange")
            plt.text(f" {risk.threshold:.2f}", here.coverage * 100, here.risk * 100, color="orange")
        plt.xlabel("answered by the AI (% of visitors)")
        plt.ylabel("wrong (%)")
        plt.xlim(0, 100)
        top = max((p.upper if p.upper is not None else p.risk) for p in points) * 100
        plt.ylim(0, top * 1.1 if top > 0 else 1)
        widget.refresh()

    @on(OperatorReply)
    def _answered(self, message: OperatorReply) -> None:
        self.redraw()

    @on(OperatorRefused)
    def _refused(self, message: OperatorRefused) -> None:
        self.op.loading.discard("risk")
        self.desk.tell(
            f"{message.detail} ({message.code})", title="Risk–coverage", severity="error"
        )
        self.redraw()
