"""The policy's history: every stored version with who applied it, when and why, and
the selected version's changes from the one before; ``b`` rolls back to it (a new
version with its settings: history is never rewritten)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import DataTable, Static

from handoff_server.client import new_client_msg_id
from handoff_server.protocol_operator import (
    OPolicyHistory,
    OPolicyRollback,
    PolicyVersionInfo,
    SPolicy,
    SPolicyHistory,
)
from handoff_tui.messages import OperatorRefused, OperatorReply
from handoff_tui.model.policy_text import change_text
from handoff_tui.text import fill
from handoff_tui.widgets.confirm import ConfirmModal
from handoff_tui.widgets.operator.pane import OperatorPane
from handoff_tui.widgets.operator.tables import cell, num, utc

__all__ = ["HISTORY_PAGE_VERSIONS", "HistoryPane", "diff_lines"]

HISTORY_PAGE_VERSIONS = 500
"""Versions asked for per ``policy_history`` request (the most a request may ask); the
server cuts each page to its page size in bytes and says ``more``."""


def diff_lines(version: PolicyVersionInfo) -> list[Content]:
    """The changes of ``version`` as coloured lines: added green, removed red, changed
    amber; a rollback says which version it restored."""
    lines = []
    if version.rolled_back_to is not None:
        lines.append(fill("[b]↺ rolled back to version $v[/]", v=str(version.rolled_back_to)))
    for change in version.changes:
        style = (
            "$success"
            if change.before is None
            else "$error"
            if change.after is None
            else "$warning"
        )
        lines.append(fill(f"[{style}]$c[/]", c=change_text(change)))
    if not version.changes:
        lines.append(fill("[dim]no changes[/]"))
    return lines


class HistoryTable(DataTable[object]):
    """The versions, newest first; ``b`` rolls back to the highlighted one."""

    BINDINGS = [Binding("b", "screen.rollback", "Roll back to it", id="history.rollback")]


class HistoryPane(OperatorPane, Vertical):
    """Versions and the highlighted version's diff."""

    FOCUS = "#history-table"

    def compose(self) -> ComposeResult:
        table = HistoryTable(cursor_type="row", zebra_stripes=True, id="history-table")
        table.add_columns("Version", "When (UTC)", "Who", "Changes", "Comment")
        yield table
        yield Static(id="history-title", classes="section")
        with VerticalScroll(id="history-diff"):
            yield Static(id="history-lines")

    def loaded(self) -> bool:
        return self.op.history is not None

    def load(self) -> None:
        """Ask for the stored versions: the newest page, then each older page while the
        server says ``more``."""
        self._ask_page(None)

    def _ask_page(self, before: int | None) -> None:
        request_id = self.desk.ask(
            self, OPolicyHistory, type="policy_history", limit=HISTORY_PAGE_VERSIONS, before=before
        )
        self.op.history_asked(request_id, first=before is None)

    def redraw(self) -> None:
        """Show the versions and the highlighted one's changes."""
        table = self.query_one(HistoryTable)
        versions = self.op.history or []
        row = table.cursor_row
        table.clear()
        in_force = self.op.policy.version if self.op.policy else None
        for v in versions:
            mark = " ●" if v.version == in_force else ""
            table.add_row(
                cell(f"{v.version}{mark}", "bold" if mark else ""),
                cell(utc(v.created_at)),
                cell(v.author),
                num(len(v.changes)),
                cell(v.comment or ""),
                key=str(v.version),
            )
        if versions:
            table.move_cursor(row=min(row, len(versions) - 1))
        self._show_diff()

    def selected(self) -> PolicyVersionInfo | None:
        """The highlighted version."""
        versions = self.op.history or []
        row = self.query_one(HistoryTable).cursor_row
        return versions[row] if 0 <= row < len(versions) else None

    @on(DataTable.RowHighlighted)
    def _show_diff(self) -> None:
        version = self.selected()
        title = self.query_one("#history-title", Static)
        lines = self.query_one("#history-lines", Static)
        if version is None:
            loading = "history" in self.op.loading
            title.update(fill("[dim]$t[/]", t="loading…" if loading else "no stored versions"))
            lines.update("")
            return
        title.update(
            fill(
                "[b]Version $v[/] by $who at $at — changes from the version before:",
                v=str(version.version),
                who=version.author,
                at=utc(version.created_at),
            )
        )
        lines.update(Content("\n").join(diff_lines(version)))

    def rollback(self) -> None:
        """Ask to confirm, then roll back to the highlighted version."""
        version = self.selected()
        policy = self.op.policy
        if version is None or policy is None:
            return
        if version.version == policy.version:
            self.desk.tell(f"Version {version.version} is already in force.", severity="warning")
            return
        title = f"Roll back to version {version.version}? (a new version with its settings)"
        lines = [fill("Version $v by $who", v=str(version.version), who=version.author)]
        if self.op.draft.dirty:
            lines.append(fill("[b $warning]Your unsaved policy edits will be dropped.[/]"))

        def confirmed(comment: str | None) -> None:
            if comment is not None:
                self.desk.ask(
                    self,
                    OPolicyRollback,
                    type="policy_rollback",
                    client_msg_id=new_client_msg_id(),
                    version=version.version,
                    base_version=policy.version,
                )

        self.app.push_screen(ConfirmModal(title, lines, "roll back", comment=False), confirmed)

    @on(OperatorReply)
    def _answered(self, message: OperatorReply) -> None:
        if isinstance(message.frame, SPolicyHistory):
            before = self.op.history_page(message.frame, message.request_id)
            if before is not None:
                self._ask_page(before)
        elif isinstance(message.frame, SPolicy):
            self.op.draft.start_from(message.frame)
            self.desk.tell(f"Rolled back: version {message.frame.version} is in force.")
            # The new version comes first in the list (the screen asks for it again, as
            # for any new version): show its changes.
            self.query_one(HistoryTable).move_cursor(row=0)
        self.redraw()

    @on(OperatorRefused)
    def _refused(self, message: OperatorRefused) -> None:
        self.op.loading.discard("history")
        self.op.history_wait = None
        self.desk.tell(f"{message.detail} ({message.code})", title="History", severity="error")
        self.redraw()
