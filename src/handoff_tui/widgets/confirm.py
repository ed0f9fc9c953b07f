"""A modal that asks before a change takes effect: the operator's (apply a policy, roll
back) and the agent's (release a conversation, hand it back, mark a call back done).
What it changes, an optional comment, enter to go ahead, escape to cancel."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from handoff_tui.text import fill

__all__ = ["ConfirmModal"]


class ConfirmModal(ModalScreen[str | None]):
    """Shows ``title`` and ``lines``; returns the comment typed (``""`` for none, or
    without ``comment``) on enter, ``None`` on escape. Without ``comment`` any other key
    cancels too (and does nothing else): a key typed on by habit must not go ahead, nor
    act on the screen behind. ``title`` is markup when a ``str`` (our own words only;
    text from outside goes in a ``Content``, see :func:`~handoff_tui.text.fill`).
    ``small``: the agent's narrow box rather than the operator's wide one. Its own footer
    shows its keys, not those of the screen behind (which do nothing while it is open)."""

    BINDINGS = [
        Binding("enter", "confirm", "Go ahead", id="confirm.go", priority=True),
        Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
    ]

    def __init__(
        self,
        title: str | Content,
        lines: list[Content],
        action: str,
        *,
        comment: bool = True,
        small: bool = False,
    ) -> None:
        super().__init__()
        self.comment = comment
        self.title_text = title
        self.lines = lines
        self.action_word = action
        self.small = small

    def compose(self) -> ComposeResult:
        classes = "editor confirm -small" if self.small else "editor confirm"
        with Vertical(classes=classes) as box:
            box.border_title = self.title_text
            with VerticalScroll(classes="confirm-lines", can_focus=self.comment):
                for line in self.lines or [fill("[dim]no changes[/]")]:
                    yield Static(line)
            if self.comment:
                yield Input(placeholder="comment (optional)", compact=True, max_length=500)
                keys = fill("[b]enter[/] $what · [b]esc[/] cancel", what=self.action_word)
            else:
                keys = fill("[b]enter[/] $what · [b]esc[/] or any other key: cancel",
                            what=self.action_word)  # fmt: skip
            yield Static(keys, classes="editor-keys")
        yield Footer()

    def on_mount(self) -> None:
        if self.comment:
            self.query_one(Input).focus()

    def on_key(self, event: events.Key) -> None:
        # Enter is a priority binding, handled before this; every other key cancels.
        if not self.comment:
            event.stop()
            event.prevent_default()
            self.dismiss(None)

    def action_confirm(self) -> None:
        """Go ahead, with the comment."""
        self.dismiss(self.query_one(Input).value.strip() if self.comment else "")

    def action_cancel(self) -> None:
        """Do nothing."""
        self.dismiss(None)
