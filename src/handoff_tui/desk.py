"""The desk in the agent app: presence, offers, transfers and resolutions.

:class:`DeskActions` is a base class of :class:`handoff_tui.app.AgentApp` (kept apart so
each class stays readable): it handles :class:`~handoff_tui.messages.DeskChanged` (the
roster and offers, applied to ``model.staff``) and
:class:`~handoff_tui.messages.WorkWaiting` (work waiting once an agent is free), and gives the screens the desk's actions:
switch presence, accept or decline the oldest offer, transfer, resolve with a resolution
code and an AI verdict. Like the app, it only sends frames and updates the model; the
screens draw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from textual.notifications import SeverityLevel

from handoff_server.protocol import ADecline, AiVerdict, APresence, Resolution
from handoff_tui.clock import Clock
from handoff_tui.formatting import trigger_label, waiting_summary
from handoff_tui.messages import DeskChanged, WorkWaiting
from handoff_tui.model import AgentModel, visitor_label

__all__ = ["DeskActions"]


class DeskActions:
    """Presence, offers, transfers and resolutions, for the agent app."""

    if TYPE_CHECKING:
        # Provided by the app.
        model: AgentModel
        clock: Clock

        def tell(
            self,
            message: str,
            *,
            title: str = "",
            severity: SeverityLevel = "information",
            timeout: float | None = None,
        ) -> None: ...
        def send_action(
            self, cid: str, kind: str, text: str | None = None, **fields: Any
        ) -> bool: ...
        def _send_in_background(self, frame: BaseModel) -> Any: ...
        def schedule_redraw(self) -> None: ...
        def refresh_bindings(self) -> None: ...
        @property
        def screen_stack(self) -> list[Any]: ...

    def on_desk_changed(self, message: DeskChanged) -> None:
        """Apply a roster or offer frame; tell the agent about a new offer."""
        offer = self.model.desk_changed(message.frame)
        if offer is not None:
            item = offer.item
            who = visitor_label(item.visitor)
            why = trigger_label(item.trigger) or "escalated"
            self.tell(
                f"{who} — {why}. y accepts, n declines ({int(offer.timeout_seconds)} s).",
                title="Offered to you",
                timeout=min(5.0, offer.timeout_seconds),
            )
        self._rebind()  # the presence switch and offer keys depend on it
        self.schedule_redraw()

    def on_work_waiting(self, message: WorkWaiting) -> None:
        """Work waits for agents (one came online or freed a slot): say what, oldest
        first."""
        if message.items:
            summary, title = waiting_summary(message.items, self.clock.now())
            self.tell(summary, title=title, timeout=6)

    def _rebind(self) -> None:
        """Redraw the footer's keys, unless the app is closing (no screen left): a frame
        can arrive while it quits."""
        if self.screen_stack:
            self.refresh_bindings()

    def desk_allows(self, action: str, parameters: tuple[object, ...]) -> bool:
        """Whether ``action`` can run now (True for actions not the desk's): switching
        to the presence not in force, once the server sent the roster; answering an offer
        while one is open. The app's ``check_action`` asks this."""
        staff = self.model.staff
        if action == "toggle_presence":
            return staff.known and bool(parameters) and parameters[0] != staff.wanted
        if action == "answer_offer":
            return bool(staff.offers)
        return True

    def action_toggle_presence(self, status: str) -> None:
        """Key ``p``: go ``away`` or back ``online``."""
        if status != self.model.staff.wanted:
            self.toggle_presence()

    def action_answer_offer(self, accept: bool) -> None:
        """Keys ``y`` / ``n``: accept or decline the oldest offer."""
        self.answer_offer(accept)

    def toggle_presence(self) -> None:
        """Switch between online and away (kept across reconnections)."""
        staff = self.model.staff
        staff.wanted = "away" if staff.wanted == "online" else "online"
        self._send_in_background(APresence(type="presence", status=staff.wanted))
        self.tell(
            "You are online: conversations may be offered to you."
            if staff.wanted == "online"
            else "You are away: nothing is offered to you until you are back (p).",
            timeout=3,
        )
        self._rebind()
        self.schedule_redraw()

    def answer_offer(self, accept: bool) -> None:
        """Accept (a claim) or decline the oldest open offer."""
        offer = self.model.staff.first_offer()
        if offer is None:
            self.tell("No conversation is offered to you.", severity="warning")
            return
        cid = offer.item.conversation_id
        if accept:
            self.send_action(cid, "accept")
        else:
            self._send_in_background(ADecline(type="decline", conversation_id=cid))
        self.model.staff.offers.pop(cid, None)
        self._rebind()
        self.schedule_redraw()

    def transfer(
        self, cid: str, to_agent: str | None, to_team: str | None, note: str | None
    ) -> None:
        """Transfer ``cid`` to an agent (id) or a team, with a ``note`` for colleagues."""
        self.send_action(cid, "transfer", to_agent=to_agent, to_team=to_team, note=note)

    def resolve(
        self, cid: str, resolution: Resolution | None, ai_verdict: AiVerdict | None
    ) -> None:
        """Resolve ``cid`` with a resolution code and the AI verdict (each optional)."""
        self.send_action(cid, "resolve", resolution=resolution, ai_verdict=ai_verdict)
