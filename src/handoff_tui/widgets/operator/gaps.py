"""Knowledge gaps: escalated and low-confidence visitor questions grouped by topic,
newest and largest first, each with its size, examples and the KB entry the AI wrongly
reached for; ``n`` writes a KB entry from the highlighted group (prefilled with its
questions and an agent's answer from one of its conversations)."""

from __future__ import annotations

from datetime import UTC, datetime

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import DataTable, Static

from handoff_server.protocol_operator import GapGroup, OKnowledgeGaps
from handoff_tui.messages import OperatorRefused, OperatorReply
from handoff_tui.text import fill
from handoff_tui.widgets.operator.pane import OperatorPane
from handoff_tui.widgets.operator.tables import cell, num, utc

__all__ = ["GapTable", "GapsPane"]


class GapTable(DataTable[object]):
    """The groups; ``n`` creates a KB entry from the highlighted one."""

    BINDINGS = [Binding("n", "screen.kb_entry_from_gap", "New KB entry", id="gaps.new")]


class GapsPane(OperatorPane, Vertical):
    """The groups and the highlighted group's questions."""

    FOCUS = "#gaps-table"

    def compose(self) -> ComposeResult:
        table = GapTable(cursor_type="row", zebra_stripes=True, id="gaps-table")
        table.add_columns("Size", "Newest (UTC)", "Example question", "AI reached for")
        yield Static(id="gaps-summary")
        yield table
        with VerticalScroll(id="gaps-detail"):
            yield Static(id="gaps-lines")

    def loaded(self) -> bool:
        return self.op.gaps is not None

    def load(self) -> None:
        """Ask for the groups."""
        self.op.loading.add("gaps")
        self.desk.ask(self, OKnowledgeGaps, type="knowledge_gaps")
        self.redraw()

    def redraw(self) -> None:
        """Show the groups (or that they are on their way)."""
        gaps = self.op.gaps
        summary = self.query_one("#gaps-summary", Static)
        table = self.query_one(GapTable)
        if gaps is None:
            loading = "gaps" in self.op.loading
            summary.update(fill("[dim]$t[/]", t="loading…" if loading else "no groups yet"))
            return
        questions = sum(g.size for g in gaps.groups)
        summary.update(
            fill(
                "[b]$g[/] topics the KB fails, [b]$q[/] questions · n writes a KB entry from the "
                "highlighted one",
                g=str(len(gaps.groups)),
                q=f"{questions:,}",
            )
        )
        row = table.cursor_row
        table.clear()
        for group in gaps.groups:
            wrong = group.wrong_entry_title or group.wrong_entry_id or "—"
            table.add_row(
                num(group.size), cell(utc(group.newest)),
                cell(group.examples[0] if group.examples else ""), cell(wrong),
                key=group.id,
            )  # fmt: skip
        if gaps.groups:
            table.move_cursor(row=min(row, len(gaps.groups) - 1))
        self._detail()

    def selected(self) -> GapGroup | None:
        """The highlighted group."""
        groups = self.op.gaps.groups if self.op.gaps else []
        row = self.query_one(GapTable).cursor_row
        return groups[row] if 0 <= row < len(groups) else None

    @on(DataTable.RowHighlighted)
    def _detail(self) -> None:
        group = self.selected()
        lines = self.query_one("#gaps-lines", Static)
        if group is None:
            lines.update("")
            return
        wrong = group.wrong_entry_title or group.wrong_entry_id
        out = [
            fill(
                "[b]$n questions[/], newest $at · from $c conversations$wrong",
                n=str(group.size),
                at=_ago(group.newest, getattr(self.app, "now", None)),
                c=str(len(group.conversation_ids)),
                wrong=f" · the AI reached for “{wrong}”" if wrong else "",
            )
        ]
        out += [fill("  • $q", q=q) for q in group.examples]
        lines.update(Content("\n").join(out))

    @on(OperatorReply)
    def _answered(self, message: OperatorReply) -> None:
        self.redraw()

    @on(OperatorRefused)
    def _refused(self, message: OperatorRefused) -> None:
        self.op.loading.discard("gaps")
        self.desk.tell(
            f"{message.detail} ({message.code})", title="Knowledge gaps", severity="error"
        )
        self.redraw()


def _ago(at: datetime, now: datetime | None) -> str:
    now = now or datetime.now(UTC)
    hours = (now - at).total_seconds() / 3600
    if hours < 1:
        return "within the hour"
    if hours < 48:
        return f"{hours:.0f} h ago"
    return f"{hours / 24:.0f} days ago"
