"""The policy's ordered lists: the rules and the intent categories. Each row shows its
item in words and, under it, the server's reasons for that item; keys add, edit, move
and delete (the editors are in :mod:`.editors`)."""

from __future__ import annotations

import copy
from typing import Any

from textual import on
from textual.binding import Binding
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from handoff_tui.model.operator import Loc
from handoff_tui.model.policy_text import rule_text, value_text
from handoff_tui.text import fill
from handoff_tui.widgets.operator.editors import IntentEditor, RuleEditor
from handoff_tui.widgets.operator.fields import PolicyField

__all__ = ["IntentList", "ItemList", "RuleList"]


class ItemList(OptionList):
    """An ordered list of policy items at ``loc``: ``a`` add (after the highlighted one),
    ``enter`` edit, ``x`` delete, ``shift+↑``/``shift+↓`` move. Every change posts
    :class:`PolicyField.Edited` with the whole new list."""

    BINDINGS = [
        Binding("a", "add", "Add", id="list.add"),
        Binding("x,delete", "delete", "Delete", id="list.delete"),
        Binding("shift+up", "move(-1)", "Move up", id="list.up"),
        Binding("shift+down", "move(1)", "Move down", id="list.down"),
    ]
    NOUN = "item"

    def __init__(self, loc: Loc, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loc = loc
        self.items: list[dict[str, Any]] = []
        self._wanted: int | None = None
        """The row to highlight once the list shown is the one an edit made (the item
        just added or moved)."""
        self._made: list[dict[str, Any]] | None = None

    def describe(self, n: int, item: dict[str, Any]) -> Content:
        """The row for ``item`` (number ``n``, 1-based)."""
        raise NotImplementedError

    def editor(self, item: dict[str, Any] | None) -> ModalScreen[dict[str, Any] | None]:
        """The modal that edits ``item`` (``None``: a new one)."""
        raise NotImplementedError

    def show(self, items: Any, problems: list[tuple[Loc, str]]) -> None:
        """Show ``items`` with the ``problems`` found inside this list (locations from
        the top of the policy object)."""
        self.items = [i if isinstance(i, dict) else {} for i in items or []]
        if self._made is not None and self.items != self._made:
            # A redraw from before the edit reached the draft: keep the edit's list.
            self.items = self._made
        depth = len(self.loc)
        by_item: dict[int, list[str]] = {}
        for loc, reason in problems:
            at = loc[depth] if len(loc) > depth else None
            n = at if isinstance(at, int) else -1
            where = ".".join(str(p) for p in loc[depth + 1 :])
            by_item.setdefault(n, []).append(f"{where}: {reason}" if where else reason)
        highlighted = self.highlighted if self._wanted is None else self._wanted
        if self._made is None or self.items == self._made:
            self._wanted = self._made = None
        self.clear_options()
        options = []
        for n, item in enumerate(self.items):
            row = self.describe(n + 1, item)
            for reason in by_item.get(n, []):
                row += fill("\n   [b $error]✗ $why[/]", why=reason)
            options.append(Option(row))
        if not options:
            options.append(Option(fill(f"[dim]no {self.NOUN}s: press a to add one[/]")))
        for reason in by_item.get(-1, []):
            options.append(Option(fill("[b $error]✗ $why[/]", why=reason), disabled=True))
        self.add_options(options)
        if highlighted is not None and self.items:
            self.highlighted = min(highlighted, len(self.items) - 1)

    def _changed(self, items: list[dict[str, Any]], highlight: int | None = None) -> None:
        self.items = items
        self._made = items
        self._wanted = highlight
        self.post_message(PolicyField.Edited(self.loc, copy.deepcopy(items)))

    def _current(self) -> int | None:
        # Keys can come faster than redraws: the row an edit just moved to counts.
        n = self._wanted if self._wanted is not None else self.highlighted
        return n if n is not None and n < len(self.items) else None

    def action_add(self) -> None:
        """Add an item after the highlighted one."""
        current = self._current()
        at = (current if current is not None else len(self.items) - 1) + 1

        def added(item: dict[str, Any] | None) -> None:
            if item is not None:
                self._changed([*self.items[:at], item, *self.items[at:]], at)

        self.app.push_screen(self.editor(None), added)

    @on(OptionList.OptionSelected)
    def _edit(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        n = self._current()
        if n is None:
            self.action_add()
            return

        def edited(item: dict[str, Any] | None) -> None:
            if item is not None:
                self._changed([*self.items[:n], item, *self.items[n + 1 :]], n)

        self.app.push_screen(self.editor(self.items[n]), edited)

    def action_delete(self) -> None:
        """Delete the highlighted item."""
        n = self._current()
        if n is not None:
            self._changed(self.items[:n] + self.items[n + 1 :], max(0, n - 1))

    def action_move(self, step: int) -> None:
        """Move the highlighted item up (-1) or down (1)."""
        n = self._current()
        if n is None or not 0 <= n + step < len(self.items):
            return
        items = list(self.items)
        items[n], items[n + step] = items[n + step], items[n]
        self._changed(items, n + step)


class RuleList(ItemList):
    """The rules, in the order they are tried (the first whose condition holds decides)."""

    NOUN = "rule"

    def describe(self, n: int, item: dict[str, Any]) -> Content:
        return fill(
            "[b]$n. $name[/] [dim]$words[/]",
            n=str(n),
            name=str(item.get("name", "?")),
            words=rule_text(item),
        )

    def editor(self, item: dict[str, Any] | None) -> ModalScreen[dict[str, Any] | None]:
        return RuleEditor(item)


class IntentList(ItemList):
    """The operator's intent categories with their example phrases."""

    NOUN = "intent"

    def describe(self, n: int, item: dict[str, Any]) -> Content:
        examples = [str(e) for e in item.get("examples", [])]
        how = "escalates" if item.get("escalate", True) else "routes only"
        team = f" to {item['team']}" if item.get("team") else ""
        head = fill(
            "[b]$name[/] [dim]$how$team · priority $p · ≥ $min · $k examples[/]",
            name=str(item.get("name", "?")),
            how=how,
            team=team,
            p=value_text(item.get("priority", 0)),
            min=value_text(item.get("min_probability", 0.5)),
            k=str(len(examples)),
        )
        shown = "; ".join(examples[:3]) + (" …" if len(examples) > 3 else "")
        return head + fill("\n   [i]$ex[/]", ex=shown)

    def editor(self, item: dict[str, Any] | None) -> ModalScreen[dict[str, Any] | None]:
        return IntentEditor(item)
