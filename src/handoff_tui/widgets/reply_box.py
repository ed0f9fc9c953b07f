"""The reply box: a multi-line editor plus a line saying who is typing and what is in flight."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Static, TextArea

from handoff_tui.text import fill, visible

__all__ = ["ReplyBox", "ReplyEditor"]


class ReplyEditor(TextArea):
    """The reply text area. Pasted text has its control characters made visible."""

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
        yield ReplyEditor(id="reply-text", soft_wrap=True, show_line_numbers=False,
                          tab_behavior="focus", placeholder="Write a reply… (ctrl+s sends)")

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

    def show_status(self, typing: str | None, sending: int, failed: int, can_reply: bool) -> None:
        """``typing``: who else is typing; ``sending``/``failed``: frames in flight/refused."""
        parts: list[Content] = []
        if typing:
            parts.append(fill("[i $accent]$who is typing…[/]", who=typing))
        if sending:
            parts.append(Content.from_markup("[$warning]sending $n…[/]", n=str(sending)))
        if failed:
            parts.append(Content.from_markup("[b $error]$n failed (see transcript)[/]", n=str(failed)))
        if not can_reply:
            parts.append(Content.from_markup("[dim]press c to claim it, then reply[/]"))
        self.query_one("#reply-status", Static).update(Content("  ·  ").join(parts))

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.post_message(self.Edited(event.text_area.text))
