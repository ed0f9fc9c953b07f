"""Bars across the top: the connection banner, the open-conversations bar (with the
agent's presence on its right) and the offer bar."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from handoff_server.protocol import AgentStatus, SOffer
from handoff_tui.formatting import trigger_label
from handoff_tui.model.agent import LinkStatus
from handoff_tui.text import fill

__all__ = ["ConnectionBanner", "OfferBar", "OpenBar", "presence_content"]


class ConnectionBanner(Static):
    """Says the server is unreachable or still starting and when the next attempt is;
    hidden when connected."""

    def show_link(self, link: LinkStatus) -> None:
        """Redraw for the link to the server as the model holds it (see :meth:`show_state`)."""
        self.show_state(
            link.state,
            link.server_url,
            link.attempt,
            link.retry_in,
            link.detail,
            ever_connected=link.ever_connected,
        )

    def show_state(
        self,
        state: str,
        url: str,
        attempt: int,
        retry_in: float,
        detail: str,
        ever_connected: bool = True,
    ) -> None:
        """Redraw for a connection ``state`` (``connected`` hides the banner).

        ``ever_connected`` False (no connection has opened yet): a failed attempt says the
        server cannot be reached and why (``detail``), and where to check the address,
        instead of calling it a lost connection."""
        if state == "connected":
            self.display = False
            return
        self.display = True
        self.set_class(state == "unauthorized", "-fatal")
        self.update(_link_text(state, url, attempt, retry_in, detail, ever_connected))


_LINK_TEXT = {
    "unauthorized": "✗ The server at $url refused the token: $detail. Quit with ctrl+q and check "
    "--token / HANDOFF_TOKEN.",
    "connecting": "… Connecting to $url",
    "starting": "… The server at $url is starting ($detail): waiting for it to be ready"
    " (attempt $n, next try in $s s).",
    "unreachable": "⚠ Cannot reach $url ($detail): is 'handoff serve' running there? Check "
    "--server / HANDOFF_SERVER_URL. Trying again (attempt $n, next try in $s s).",
    "reconnecting": "⚠ Connection to $url lost — reconnecting (attempt $n, next try in $s s). "
    "Your unsent replies are kept and resent.",
}
"""The banner's sentence per link state (``unreachable``: no connection has opened yet)."""

_DETAIL_DEFAULT = {"unauthorized": "401", "starting": "not ready", "unreachable": "no answer"}


def _link_text(
    state: str, url: str, attempt: int, retry_in: float, detail: str, ever_connected: bool
) -> Content:
    """The banner for ``state`` (see :meth:`ConnectionBanner.show_state`); untrusted
    ``url`` and ``detail`` are values, never markup."""
    if state == "reconnecting" and not ever_connected:
        state = "unreachable"
    template = _LINK_TEXT.get(state, _LINK_TEXT["reconnecting"])
    return fill(
        template,
        url=url,
        detail=detail or _DETAIL_DEFAULT.get(state, ""),
        n=str(attempt),
        s=f"{retry_in:.1f}",
    )


def presence_content(
    me: AgentStatus, team_online: list[tuple[str | None, int]], *, short: bool = False
) -> Content:
    """The agent's own presence, load against capacity and how many of their teams are
    online: ``● online · 1/3 · billing: 2 online`` (``short``: without the teams)."""
    online = me.status == "online"
    line = fill(
        "[b $success]● online[/]" if online else "[b $warning]◌ $status[/]", status=me.status
    )
    line += fill(" · $load/$cap", load=str(me.load), cap=str(me.capacity))
    if short or not team_online:
        return line
    counts = [f"{team}: {n}" if team is not None else f"{n}" for team, n in team_online]
    return line + fill(" · $counts online", counts=" · ".join(counts))


class OpenBar(Static):
    """The queue and each open conversation, with unread counts; the current one marked;
    the agent's presence on the right once the server has said who is here."""

    def show_tabs(
        self,
        tabs: list[tuple[str, int, bool]],
        queue_size: int,
        on_queue: bool,
        presence: tuple[Content, Content] | None = None,
    ) -> None:
        """``tabs``: (visitor name, unread count, is current) per open conversation;
        ``presence``: the long and the short form of :func:`presence_content`, the long
        one shown when it fits."""
        parts = [
            fill("[reverse b] Queue $n [/]" if on_queue else "[b] Queue $n [/]", n=str(queue_size))
        ]
        for n, (name, unread, current) in enumerate(tabs, start=1):
            badge = f" ●{unread}" if unread else ""
            markup = (
                "[reverse b] $k $name$badge [/]" if current else " $k $name[b $warning]$badge[/] "
            )
            parts.append(fill(markup, k=str(n), name=name, badge=badge))
        self._tabs = Content(" ").join(parts)
        self._presence = presence
        self.update(self._tabs)

    def render(self) -> Content:
        """The tabs, and the presence right-aligned in the width there is now (measured
        when drawn, so a resize never wraps it)."""
        tabs: Content = getattr(self, "_tabs", Content(""))
        presence: tuple[Content, Content] | None = getattr(self, "_presence", None)
        if presence is None:
            return tabs
        room = self.content_region.width - tabs.cell_length - 2
        right = next((p for p in presence if p.cell_length <= room), None)
        if right is None:
            return tabs
        return tabs + Content(" " * (room - right.cell_length + 2)) + right


class OfferBar(Static):
    """The oldest conversation offered to the agent, its time left and the keys; hidden
    when nothing is offered."""

    def show_offer(self, offer: SOffer | None, seconds_left: int, count: int) -> None:
        """Show ``offer`` (``None`` hides the bar) with ``seconds_left`` to accept it;
        ``count``: open offers in all."""
        self.display = offer is not None
        if offer is None:
            return
        item = offer.item
        more = f" (+{count - 1} more)" if count > 1 else ""
        self.update(
            fill(
                "⚑ Offered to you: [b]$who[/] — $why · $team · [b]$left s[/] left$more"
                "   [b]y[/] accept · [b]n[/] decline",
                who=item.visitor.name or item.visitor.email or "a visitor",
                why=trigger_label(item.trigger) or "escalated",
                team=f"team {item.team}" if item.team else "no team",
                left=str(seconds_left),
                more=more,
            )
        )
