"""What every screen of the agent app shares: the model it reads, what it may ask of the
app, the connection banner and the open-conversations bar.

Screens never import the app (no import cycle): they see it through :class:`AgentActions`,
which :class:`handoff_tui.app.AgentApp` implements.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Protocol, cast

from pydantic import BaseModel
from textual.notifications import SeverityLevel
from textual.screen import Screen

from handoff_server.protocol import AiVerdict, HandoffPacket, Resolution
from handoff_tui.model import AgentModel, QueueView
from handoff_tui.widgets.banner import ConnectionBanner, OfferBar, OpenBar, presence_content

__all__ = ["AgentActions", "AgentScreen"]


class AgentActions(Protocol):
    """What a screen may ask of the app."""

    model: AgentModel
    now: datetime | None
    """The clock's time (UTC), refreshed every tick."""

    def tell(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
    ) -> None:
        """Notify ``message`` (data: shown as plain text)."""
        ...

    def send_text(self, cid: str, kind: Literal["reply", "note"], text: str) -> bool:
        """Send a reply or note; False when refused before sending (too long)."""
        ...

    def send_action(self, cid: str, kind: str, text: str | None = None, **fields: object) -> bool:
        """Claim, resolve, release or hand back ``cid``, mark its call back done or answer
        its offline message (``text``; ``fields``: the frame's others); False when not
        sent."""
        ...

    def transfer(
        self, cid: str, to_agent: str | None, to_team: str | None, note: str | None
    ) -> None:
        """Transfer ``cid`` to an agent (id) or a team, with a note for colleagues."""
        ...

    def resolve(
        self, cid: str, resolution: Resolution | None, ai_verdict: AiVerdict | None
    ) -> None:
        """Resolve ``cid`` with a resolution code and the AI verdict."""
        ...

    def agent_typing(self, cid: str) -> None:
        """The agent typed in ``cid``'s reply box."""
        ...

    def open_conversation(self, cid: str) -> None:
        """Show conversation ``cid``."""
        ...

    def show_queue(self) -> None:
        """Go back to the queue screen."""
        ...

    def set_queue_view(self, mode: QueueView) -> None:
        """Switch the queue screen to ``mode``."""
        ...

    def ask(self, asker: Any, frame_type: type[BaseModel], **fields: Any) -> str:
        """Send an operator request whose answer goes to ``asker``; its request id."""
        ...

    def peek_conversation(self, cid: str, callback: Callable[[HandoffPacket | None], Any]) -> None:
        """Read conversation ``cid`` once; ``callback`` gets its packet (``None``: refused)."""
        ...


class AgentScreen(Screen[None]):
    """A screen that draws from the app's :class:`AgentModel`. Subclasses implement
    :meth:`redraw`; the app calls it (once per batch of messages) when ``ready``."""

    ready = False
    """True once composed and mounted: redraws before that have nothing to draw on."""

    @property
    def agent_app(self) -> AgentActions:
        """The app, as far as screens may use it."""
        return cast(AgentActions, self.app)

    @property
    def model(self) -> AgentModel:
        """What the app knows."""
        return self.agent_app.model

    def redraw(self) -> None:
        """Redraw everything from the model."""
        raise NotImplementedError

    def on_screen_resume(self) -> None:
        # A newly pushed screen can be resumed before it is composed; on_mount draws it then.
        if self.ready:
            self.redraw()

    def draw_bars(self, current: str | None) -> None:
        """Draw the connection banner, the open-conversations bar with the agent's
        presence, and the offer bar (``current``: the conversation shown, ``None`` on the
        queue)."""
        model = self.model
        self.query_one(ConnectionBanner).show_link(model.link)
        counts = model.queue.counts()
        waiting = counts["queued"] + counts["assigned"]
        staff, my_id = model.staff, model.queue.me.id if model.queue.me else None
        me = staff.me(my_id)
        presence = None
        if me is not None:
            teams = staff.team_online(my_id)
            presence = (presence_content(me, teams), presence_content(me, teams, short=True))
        self.query_one(OpenBar).show_tabs(model.tabs(current), waiting, current is None, presence)
        offer = staff.first_offer()
        left = staff.seconds_left(offer, self.agent_app.now) if offer else 0
        self.query_one(OfferBar).show_offer(offer, left, len(staff.offers))
