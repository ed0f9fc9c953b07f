"""Bars across the top: the connection banner and the open-conversations bar."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from handoff_tui.text import fill

__all__ = ["ConnectionBanner", "OpenBar"]


class ConnectionBanner(Static):
    """Says the server is unreachable and when the next attempt is; hidden when connected."""

    def show_state(self, state: str, url: str, attempt: int, retry_in: float, detail: str) -> None:
        """Redraw for a connection ``state`` (``connected`` hides the banner)."""
        if state == "connected":
            self.display = False
            return
        self.display = True
        self.set_class(state == "unauthorized", "-fatal")
        if state == "unauthorized":
            self.update(
                fill(
                    "✗ The server at $url refused the token: $detail. Quit with ctrl+q and check "
                    "--token / HANDOFF_TOKEN.",
                    url=url,
                    detail=detail or "401",
                )
            )
        elif state == "connecting":
            self.update(fill("… Connecting to $url", url=url))
        else:
            self.update(
                fill(
                    "⚠ Connection to $url lost — reconnecting (attempt $n, next try in $s s). "
                    "Your unsent replies are kept and resent.",
                    url=url,
                    n=str(attempt),
                    s=f"{retry_in:.1f}",
                )
            )


class OpenBar(Static):
    """The queue and each open conversation, with unread counts; the current one marked."""

    def show_tabs(self, tabs: list[tuple[str, int, bool]], queue_size: int, on_queue: bool) -> None:
        """``tabs``: (visitor name, unread count, is current) per open conversation."""
        parts = [
            fill("[reverse b] Queue $n [/]" if on_queue else "[b] Queue $n [/]", n=str(queue_size))
        ]
        for n, (name, unread, current) in enumerate(tabs, start=1):
            badge = f" ●{unread}" if unread else ""
            markup = (
                "[reverse b] $k $name$badge [/]" if current else " $k $name[b $warning]$badge[/] "
            )
            parts.append(fill(markup, k=str(n), name=name, badge=badge))
        self.update(Content(" ").join(parts))
