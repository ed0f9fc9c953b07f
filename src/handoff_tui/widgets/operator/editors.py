"""Modal editors for one rule and one intent category of the policy; each returns the
edited item (a dict as in the policy object) or ``None`` when cancelled.

Keys the editor does not show are kept as they were. Names and phrases are data: shown
as plain text. The server validates the whole policy after the edit and its reasons
appear next to the item in the list.
"""

from __future__ import annotations

import copy
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Select, Static, TextArea

from handoff_tui.model.policy_text import condition_text, inline_toml, parse_inline_toml
from handoff_tui.text import fill
from handoff_tui.widgets.operator.fields import number_value

__all__ = ["IntentEditor", "RuleEditor"]

_ACTIONS = [("escalate", "escalate"), ("offer handoff", "offer_handoff"), ("continue", "continue")]


def _row(label: str, widget: Any) -> Horizontal:
    return Horizontal(Static(label, classes="editor-label"), widget, classes="editor-row")


class _ItemEditor(ModalScreen[dict[str, Any] | None]):
    """What both editors share: a titled box, ctrl+s to keep, escape to cancel."""

    BINDINGS = [
        Binding("ctrl+s", "keep", "Keep", id="editor.keep", priority=True),
        Binding("escape", "cancel", "Cancel", id="editor.cancel"),
    ]
    TITLE_TEXT = ""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__()
        self.item: dict[str, Any] = copy.deepcopy(item) if item else {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="editor") as box:
            box.border_title = self.TITLE_TEXT
            yield from self.fields()
            yield Static(classes="editor-error")
            yield Static(
                fill("[dim]ctrl+s keep · esc cancel · the server checks it as you go[/]"),
                classes="editor-keys",
            )

    def fields(self) -> ComposeResult:
        """The editing rows."""
        raise NotImplementedError

    def value(self, widget_id: str) -> str:
        """The text of input ``widget_id``, stripped."""
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def error(self, text: str) -> None:
        """Say why the item cannot be kept yet."""
        self.query_one(".editor-error", Static).update(fill("[b $error]✗ $t[/]", t=text))

    def build(self) -> dict[str, Any] | None:
        """The edited item, or ``None`` after saying what is wrong."""
        raise NotImplementedError

    def action_keep(self) -> None:
        """Return the edited item."""
        item = self.build()
        if item is not None:
            self.dismiss(item)

    def action_cancel(self) -> None:
        """Return nothing."""
        self.dismiss(None)


class RuleEditor(_ItemEditor):
    """One rule: name, condition (``when``, as a TOML inline table, shown in words as it
    is typed), action, priority and team."""

    TITLE_TEXT = "Rule"

    def fields(self) -> ComposeResult:
        item = self.item
        yield _row("name", Input(str(item.get("name", "")), id="rule-name", compact=True))
        when = inline_toml(item.get("when", {"trigger": "low_confidence"}))
        yield _row("when", Input(when, id="rule-when", compact=True))
        yield Static(classes="editor-words", id="rule-words")
        action = item.get("action", "escalate")
        select: Select[str] = Select(_ACTIONS, value=action, allow_blank=False, compact=True)
        select.id = "rule-action"
        yield _row("action", select)
        priority = str(item.get("priority", 0))
        yield _row("priority", Input(priority, id="rule-priority", compact=True))
        yield _row("team", Input(str(item.get("team") or ""), id="rule-team", compact=True))

    def on_mount(self) -> None:
        self._show_words()
        self.query_one("#rule-name", Input).focus()

    @on(Input.Changed, "#rule-when")
    def _show_words(self) -> None:
        words = self.query_one("#rule-words", Static)
        try:
            words.update(fill("[dim]= $w[/]", w=condition_text(self._when())))
        except ValueError as exc:
            words.update(fill("[$error]$e[/]", e=str(exc)))

    def _when(self) -> Any:
        return parse_inline_toml(self.value("rule-when"))

    def build(self) -> dict[str, Any] | None:
        try:
            when = self._when()
        except ValueError as exc:
            self.error(f"when: {exc}")
            return None
        item = self.item
        item["name"] = self.value("rule-name")
        item["when"] = when
        item["action"] = self.query_one("#rule-action", Select).value
        item["priority"] = number_value(self.value("rule-priority"))
        team = self.value("rule-team")
        if team:
            item["team"] = team
        else:
            item.pop("team", None)
        return item


class IntentEditor(_ItemEditor):
    """One intent category: name, example phrases (one a line), whether it escalates,
    its team, priority and the probability it needs."""

    TITLE_TEXT = "Intent category"

    def fields(self) -> ComposeResult:
        item = self.item
        yield _row("name", Input(str(item.get("name", "")), id="intent-name", compact=True))
        examples = "\n".join(str(e) for e in item.get("examples", []))
        area = TextArea(examples, id="intent-examples", compact=True, soft_wrap=False)
        yield _row("examples", area)
        escalate = Checkbox("escalates", bool(item.get("escalate", True)), compact=True)
        escalate.id = "intent-escalate"
        yield _row("", escalate)
        yield _row("team", Input(str(item.get("team") or ""), id="intent-team", compact=True))
        priority = str(item.get("priority", 0))
        yield _row("priority", Input(priority, id="intent-priority", compact=True))
        floor = str(item.get("min_probability", 0.5))
        yield _row("min probability", Input(floor, id="intent-min", compact=True))

    def on_mount(self) -> None:
        self.query_one("#intent-name", Input).focus()

    def build(self) -> dict[str, Any] | None:
        item = self.item
        text = self.query_one("#intent-examples", TextArea).text
        item["name"] = self.value("intent-name")
        item["examples"] = [line.strip() for line in text.splitlines() if line.strip()]
        item["escalate"] = self.query_one("#intent-escalate", Checkbox).value
        item["priority"] = number_value(self.value("intent-priority"))
        item["min_probability"] = number_value(self.value("intent-min"))
        team = self.value("intent-team")
        if team:
            item["team"] = team
        else:
            item.pop("team", None)
        if not item["examples"]:
            self.error("give at least one example phrase")
            return None
        return item
