"""A modal that asks before a change takes effect (apply a policy, roll back): what it
changes, an optional comment, enter to go ahead, escape to cancel."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from handoff_tui.text import fill

__all__ = ["ConfirmModal"]


class ConfirmModal(ModalScreen[str | None]):
    """Shows ``title`` and ``lines``; returns the comment typed (``""`` for none, or
    without ``comment``) on enter, ``None`` on escape."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
        Binding("enter", "confirm", "Go ahead", id="confirm.go", priority=True),
    ]

    def __init__(
        self, title: str, lines: list[Content], action: str, *, comment: bool = True
    ) -> None:
        super().__init__()
        self.comment = comment
        self.title_text = title
        self.lines = lines
        self.action_word = action

    def compose(self) -> ComposeResult:
        with Vertical(classes="editor confirm") as box:
            box.border_title = self.title_text
            with VerticalScroll(classes="confirm-lines"):
                for line in self.lines or [fill("[dim]no changes[/]")]:
                    yield Static(line)
            if self.comment:
                yield Input(placeholder="comment (optional)", compact=True, max_length=500)
            yield Static(
                fill("[b]enter[/] $what · [b]esc[/] cancel", what=self.action_word),
                classes="editor-keys",
            )

    def on_mount(self) -> None:
        if self.comment:
            self.query_one(Input).focus()

    def action_confirm(self) -> None:
        """Go ahead, with the comment."""
        self.dismiss(self.query_one(Input).value.strip() if self.comment else "")

    def action_cancel(self) -> None:
        """Do nothing."""
        self.dismiss(None)
