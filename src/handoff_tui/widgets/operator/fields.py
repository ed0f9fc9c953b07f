"""The policy editor's fields: one setting each, at its ``loc`` in the policy object.

A field shows a value from the draft (:meth:`PolicyField.show`), posts
:class:`PolicyField.Edited` with the parsed value when the operator changes it, and shows
the server's reasons next to itself (:meth:`PolicyField.show_problems`). Values are
parsed leniently and sent as typed: the server's validation says what is wrong
("Input should be less than or equal to 1"), with its location, so the reason appears
next to the field that has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Static, TextArea

from handoff_tui.model.operator import Loc
from handoff_tui.text import fill, plain

__all__ = [
    "LinesField",
    "MappingField",
    "NumberField",
    "PolicyField",
    "TextField",
    "ToggleField",
    "WordsField",
    "number_value",
]


def number_value(text: str) -> Any:
    """``text`` as an int or float when it is one, else the text itself (the server's
    validation then says it is not a number)."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


_UNSEEN = object()
"""A field's last value before anything was shown in it."""


class PolicyField(Vertical):
    """A labelled setting with its problems underneath. Subclasses give the editing
    widget (:meth:`editor`), how to read it (:meth:`read`) and write it (:meth:`write`)."""

    @dataclass
    class Edited(Message):
        """The operator changed the setting at ``loc`` to ``value``."""

        loc: Loc
        value: Any

    def __init__(self, loc: Loc, label: str, hint: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("id", "field-" + "-".join(str(p) for p in loc))
        super().__init__(**kwargs)
        self.loc = loc
        self.label = label
        self.hint = hint
        self._last: Any = _UNSEEN
        """The value last shown or posted: a change event that does not differ from it
        (the echo of :meth:`show`) is not an edit."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Static(plain(self.label, one_line=True), classes="field-label")
            yield self.editor()
            if self.hint and not isinstance(self, ToggleField):
                yield Static(plain(self.hint, one_line=True), classes="field-hint")
        yield Static(classes="field-problem")

    def editor(self) -> Widget:
        """The widget that edits the value."""
        raise NotImplementedError

    def read(self) -> Any:
        """The value the editing widget holds."""
        raise NotImplementedError

    def write(self, value: Any) -> None:
        """Put ``value`` in the editing widget."""
        raise NotImplementedError

    def show(self, value: Any) -> None:
        """Show ``value`` unless the widget already holds it (so what the operator is
        typing, ``0.60`` for 0.6, is never rewritten under the cursor), or holds keys
        typed since the field last told the editor: their change is on its way to the
        draft, and ``value`` is older. (A redraw running between a key and its change
        event wrote the draft's older value over it: "0.8" typed at 10 keys a second
        became "0." and the threshold 0, found by a new-user trial.)"""
        if self._last is not _UNSEEN and self.read() != self._last:
            return
        if self.read() != value:
            self.write(value)
        self._last = self.read()

    def show_problems(self, reasons: list[str]) -> None:
        """Show the server's ``reasons`` (empty: none) under the field."""
        problem = self.query_one(".field-problem", Static)
        problem.display = bool(reasons)
        self.set_class(bool(reasons), "-invalid")
        problem.update(fill("[b $error]✗ $why[/]", why="; ".join(reasons)))

    def changed(self) -> None:
        """Tell the policy editor the value changed (not when it is what was shown)."""
        value = self.read()
        if value != self._last:
            self._last = value
            self.post_message(self.Edited(self.loc, value))


class NumberField(PolicyField):
    """A number (threshold, count, probability)."""

    def editor(self) -> Widget:
        return Input(compact=True, classes="field-input -number")

    def read(self) -> Any:
        return number_value(self.query_one(Input).value)

    def write(self, value: Any) -> None:
        self.query_one(Input).value = "" if value is None else f"{value}"

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        self.changed()


class TextField(PolicyField):
    """One line of text (a time zone, a time of day)."""

    def editor(self) -> Widget:
        return Input(compact=True, classes="field-input")

    def read(self) -> Any:
        return self.query_one(Input).value.strip()

    def write(self, value: Any) -> None:
        self.query_one(Input).value = "" if value is None else str(value)

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        event.stop()
        self.changed()


class WordsField(TextField):
    """Words separated by spaces or commas (weekdays, holiday dates)."""

    def read(self) -> Any:
        return [w for w in self.query_one(Input).value.replace(",", " ").split() if w]

    def write(self, value: Any) -> None:
        words = value if isinstance(value, list) else []
        self.query_one(Input).value = " ".join(str(w) for w in words)


class ToggleField(PolicyField):
    """On or off."""

    def editor(self) -> Widget:
        return Checkbox(self.hint or "on", compact=True, classes="field-toggle")

    def read(self) -> Any:
        return self.query_one(Checkbox).value

    def write(self, value: Any) -> None:
        self.query_one(Checkbox).value = bool(value)

    @on(Checkbox.Changed)
    def _toggled(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.changed()


class LinesField(PolicyField):
    """A list of phrases, one a line (blank lines dropped)."""

    def editor(self) -> Widget:
        return TextArea(compact=True, soft_wrap=False, classes="field-lines")

    def read(self) -> Any:
        return [line.strip() for line in self.query_one(TextArea).text.splitlines() if line.strip()]

    def write(self, value: Any) -> None:
        lines = value if isinstance(value, list) else []
        self.query_one(TextArea).text = "\n".join(str(v) for v in lines)

    @on(TextArea.Changed)
    def _typed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.changed()


class MappingField(LinesField):
    """A table of ``key = value`` lines (keyword phrase → team). A line without ``=``
    maps its text to an empty value, which the server refuses with a reason."""

    def read(self) -> Any:
        out: dict[str, str] = {}
        for line in self.query_one(TextArea).text.splitlines():
            key, _, value = line.partition("=")
            if key.strip():
                out[key.strip()] = value.strip()
        return out

    def write(self, value: Any) -> None:
        table = value if isinstance(value, dict) else {}
        self.query_one(TextArea).text = "\n".join(f"{k} = {v}" for k, v in table.items())
