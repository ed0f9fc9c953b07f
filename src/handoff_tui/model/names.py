"""What the agent app calls people: one helper, used by every screen and notification."""

from __future__ import annotations

from handoff_server.protocol import VisitorInfo

__all__ = ["UNNAMED_VISITOR", "visitor_label"]

UNNAMED_VISITOR = "visitor"
"""The name of a visitor who gave neither a name nor an email: the word the docs use for
the person on the other side (docs/tui.md; "anonymous" is nowhere in the UI docs), and what
``handoff queue`` prints for them (src/handoff_cli/client_commands.py)."""


def visitor_label(visitor: VisitorInfo | None) -> str:
    """The visitor's name, else their email, else :data:`UNNAMED_VISITOR`: the same words
    in the queue row, the conversation's title and tab, the transcript and notifications.

    The text is the visitor's own (data): callers show it as plain text, never markup."""
    if visitor is None:
        return UNNAMED_VISITOR
    return visitor.name or visitor.email or UNNAMED_VISITOR
