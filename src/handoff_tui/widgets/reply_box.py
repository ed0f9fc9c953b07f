"""The reply box: a multi-line editor plus a line saying who is typing and what is in flight."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Static, TextArea

from handoff_tui.text import fill, visible

__all__ = ["ReplyBox", "ReplyEditor"]


class ReplyEditor(TextArea):
    """The reply text area, with the writing-mode keys: ctrl+s sends, ctrl+n sends as an
    internal note, ctrl+e sends the answer to an offline message by email, ctrl+g inserts
    the AI's KB draft, ctrl+a selects all (the usual editor
    habit; ``home`` still goes to the start of the line). Pasted text has its control
    characters made visible."""

    BINDINGS = [
        Binding("ctrl+s", "screen.send('reply')", "Send", id="conv.send"),
        Binding("ctrl+n", "screen.send('note')", "Send as note", id="conv.note"),
        Binding("ctrl+g", "screen.insert_draft", "KB draft", id="conv.draft"),
        Binding("ctrl+e", "screen.answer_offline", "Send by email", id="conv.answer_offline"),
        Binding("ctrl+a", "select_all", "Select all", show=False, id="reply.select_all"),
    ]

    def on_paste(self, event: events.Paste) -> None:
        # A paste is data like any other text: escape sequences must not reach the terminal.
        event.prevent_default()
        event.stop()
        if not self.read_only:
            result = self.replace(visible(event.text), *self.selection)
            self.move_cursor(result.end_location)


class ReplyBox(Vertical):
    """Typing area with a status line above it."""

    @dataclass
    class Edited(Message):
        """The agent changed the text (drives the typing indicator and the saved draft)."""

        text: str

    def compose(self) -> ComposeResult:
        yield Static(id="reply-status")
        yield ReplyEditor(
            id="reply-text",
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            placeholder="Write a reply… (ctrl+s sends)",
        )

    @property
    def editor(self) -> ReplyEditor:
        """The text area."""
        return self.query_one("#reply-text", ReplyEditor)

    @property
    def text(self) -> str:
        """Current text."""
        return self.editor.text

    def set_text(self, text: str) -> None:
        """Replace the text (as plain text, control characters made visible) and put the
        cursor at its end."""
        self.editor.load_text(visible(text))
        self.editor.move_cursor(self.editor.document.end)

    def show_status(self, typing: str | None, sending: int, failed: int, hint: str | None) -> None:
        """``typing``: who else is typing; ``sending``/``failed``: frames in flight/refused;
        ``hint``: what the agent can do in this conversation's status (our own words)."""
        parts: list[Content] = []
        if typing:
            parts.append(fill("[i $accent]$who is typing…[/]", who=typing))
        if sending:
            parts.append(Content.from_markup("[$warning]sending $n…[/]", n=str(sending)))
        if failed:
            parts.append(
                Content.from_markup("[b $error]$n failed (see transcript)[/]", n=str(failed))
            )
        if hint:
            parts.append(fill("[dim]$hint[/]", hint=hint))
        self.query_one("#reply-status", Static).update(Content("  ·  ").join(parts))

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.post_message(self.Edited(event.text_area.text))
