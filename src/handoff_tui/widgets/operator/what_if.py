"""What-if: the edited (not applied) policy replayed over a period's stored AI turns,
side by side with the policy in force — containment, escalations by trigger, the
conversations whose outcome changes each way, and examples of each; enter on an example
opens its transcript."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Select, Static

from handoff_server.protocol_operator import OWhatIf, SWhatIf, WhatIfSide
from handoff_tui.messages import OperatorRefused, OperatorReply
from handoff_tui.model.policy_text import TRIGGER_WORDS
from handoff_tui.text import fill
from handoff_tui.widgets.operator.pane import OperatorPane
from handoff_tui.widgets.operator.tables import cell, num, pct

__all__ = ["PERIODS", "WhatIfPane", "comparison_rows", "trigger_word"]

PERIODS: dict[str, timedelta | None] = {
    "last 24 hours": timedelta(days=1),
    "last 7 days": timedelta(days=7),
    "last 30 days": timedelta(days=30),
    "last 90 days": timedelta(days=90),
    "all stored": None,
}
"""The periods an operator can replay, back from the app's clock."""


def _delta(before: float, after: float, points: bool = False) -> Text:
    diff = after - before
    if abs(diff) < 1e-9:
        return Text("=", style="dim", justify="right")
    shown = f"{diff * 100:+.1f} pt" if points else f"{diff:+,.0f}"
    return Text(shown.replace("-", "−"), justify="right")


def trigger_word(trigger: str) -> str:
    """A few words for a trigger name (``low_confidence`` → ``low confidence``)."""
    return TRIGGER_WORDS.get(trigger, trigger.replace("_", " "))


def comparison_rows(current: WhatIfSide, proposed: WhatIfSide) -> list[tuple[Any, ...]]:
    """(measure, in force, edited, change) rows: conversations, containment rate,
    contained, escalated, then escalations by trigger (every trigger either side has)."""
    rows: list[tuple[Any, ...]] = [
        (cell("containment rate", "bold"), pct(current.containment_rate),
         pct(proposed.containment_rate, "bold"),
         _delta(current.containment_rate, proposed.containment_rate, points=True)),
        (cell("contained"), num(current.contained), num(proposed.contained),
         _delta(current.contained, proposed.contained)),
        (cell("escalated"), num(current.escalated), num(proposed.escalated),
         _delta(current.escalated, proposed.escalated)),
    ]  # fmt: skip
    triggers = sorted(set(current.by_trigger) | set(proposed.by_trigger))
    triggers.sort(key=lambda t: -max(current.by_trigger.get(t, 0), proposed.by_trigger.get(t, 0)))
    for trigger in triggers:
        before = current.by_trigger.get(trigger, 0)
        after = proposed.by_trigger.get(trigger, 0)
        rows.append(
            (cell(f"↳ {trigger_word(trigger)}"), num(before), num(after), _delta(before, after))
        )
    return rows


class ExampleTable(DataTable[object]):
    """Conversations that change outcome; enter opens the highlighted one's transcript."""

    BINDINGS = [Binding("enter", "screen.open_example", "Transcript", id="whatif.open")]


class WhatIfPane(OperatorPane, Vertical):
    """The what-if comparison (see the module docstring). ``r`` runs it again."""

    FOCUS = "#whatif-examples"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._request: str | None = None
        self._period_asked = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="whatif-bar"):
            options = [(name, name) for name in PERIODS]
            yield Select(options, value="last 7 days", allow_blank=False, compact=True, id="period")
            yield Static(id="whatif-period")
        yield Static(id="whatif-status")
        comparison = DataTable[object](cursor_type="none", id="whatif-table")
        comparison.add_columns("", "In force", "Edited", "Change")
        yield comparison
        yield Static(id="whatif-changes")
        examples = ExampleTable(cursor_type="row", id="whatif-examples")
        examples.add_columns("Change", "In force", "Edited", "Visitor said (the turn that decides)")
        yield examples

    def loaded(self) -> bool:
        return self.op.what_if is not None

    def load(self) -> None:
        """Replay the edited policy over the chosen period."""
        if self.op.policy is None:
            return
        now = getattr(self.app, "now", None) or datetime.now(UTC)
        self._period_asked = str(self.query_one("#period", Select).value)
        delta = PERIODS[self._period_asked]
        self.op.loading.add("what_if")
        self._request = self.desk.ask(
            self,
            OWhatIf,
            type="what_if",
            policy=self.op.draft.body,
            since=None if delta is None else now - delta,
            until=None,
        )
        self.redraw()

    @on(Select.Changed, "#period")
    def _period(self, event: Select.Changed) -> None:
        # Select says "changed" when first shown too: only a new period is asked for.
        if self.op.policy is not None and str(event.value) != self._period_asked:
            self.load()

    def redraw(self) -> None:
        """Show the last answer (or that it is on its way)."""
        result = self.op.what_if
        status = self.query_one("#whatif-status", Static)
        if "what_if" in self.op.loading:
            status.update(fill("[$warning]replaying…[/]"))
        elif result is None:
            status.update(fill("[dim]r replays the edited policy over this period[/]"))
        if result is None:
            return
        if "what_if" not in self.op.loading:
            version = result.current.policy_version
            self.query_one("#whatif-period", Static).update(
                fill("[dim]r replays again · ctrl+t from the policy tab[/]")
            )
            status.update(
                fill(
                    "Replayed [b]$t[/] AI turns of [b]$c[/] conversations: the edited policy "
                    "against version $v in force",
                    t=f"{result.turns:,}",
                    c=f"{result.conversations:,}",
                    v=str(version) if version is not None else "in force",
                )
            )
        table = self.query_one("#whatif-table", DataTable)
        table.clear()
        for row in comparison_rows(result.current, result.proposed):
            table.add_row(*row)
        self._show_changes(result)

    def _show_changes(self, result: SWhatIf) -> None:
        self.query_one("#whatif-changes", Static).update(
            fill(
                "[b $success]$a[/] escalated → contained · [b $error]$b[/] contained → escalated"
                " · [b]$c[/] other trigger · enter on an example opens its transcript",
                a=f"{result.escalated_to_contained:,}",
                b=f"{result.contained_to_escalated:,}",
                c=f"{result.trigger_changed:,}",
            )
        )
        examples = self.query_one(ExampleTable)
        examples.clear()
        for n, ex in enumerate(result.examples):
            to_contained = ex.after == "contained"
            kind = "→ contained" if to_contained else "→ escalated"
            if ex.before != "contained" and ex.after != "contained":
                kind = "other trigger"
            style = "green" if to_contained else "red" if ex.before == "contained" else "yellow"
            examples.add_row(
                cell(kind, style),
                cell(trigger_word(ex.before)),
                cell(trigger_word(ex.after)),
                cell(ex.text),
                key=f"{n}",
            )

    def selected_conversation(self) -> str | None:
        """The conversation of the highlighted example."""
        result = self.op.what_if
        row = self.query_one(ExampleTable).cursor_row
        if result is None or not 0 <= row < len(result.examples):
            return None
        return result.examples[row].conversation_id

    @on(OperatorReply)
    def _answered(self, message: OperatorReply) -> None:
        if isinstance(message.frame, SWhatIf):
            self.redraw()

    @on(OperatorRefused)
    def _refused(self, message: OperatorRefused) -> None:
        self.op.loading.discard("what_if")
        self.desk.tell(f"{message.detail} ({message.code})", title="What-if", severity="error")
        self.redraw()
