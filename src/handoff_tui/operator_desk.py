"""The operator's half of the app (:class:`OperatorDesk`, a base of
:class:`handoff_tui.app.AgentApp`): sign-in as an operator, the operator requests and
the routing of their answers.

When the server signs the token in as an operator (``authenticated``), the app asks for
the policy in force and subscribes to its changes (``policy_get``); ``handoff operator``
then opens the operator screens at once, ``handoff agent`` from the ``o`` key and the
command palette. Every answer is applied to the model
(:class:`handoff_tui.model.OperatorModel`) here, then goes to the widget that asked
(:class:`handoff_tui.services.operator.OperatorRequests`). A ``policy`` pushed after an
apply elsewhere is said in a notification, and kept apart from unsaved edits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from pydantic import BaseModel
from textual import on
from textual.app import App, SystemCommand
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import Screen

from handoff_server.protocol import AOpen, HandoffPacket
from handoff_server.protocol_operator import (
    OPolicyGet,
    SAnalytics,
    SKnowledgeGaps,
    SPolicy,
    SRiskCoverage,
    SWhatIf,
)
from handoff_tui.messages import OperatorAnswer, OperatorRefused, OperatorReply
from handoff_tui.model import AgentModel
from handoff_tui.screens.operator import OPERATOR_TABS, OperatorScreen
from handoff_tui.services.operator import Asker, OperatorRequests
from handoff_tui.text import visible

__all__ = ["OperatorDesk"]


class OperatorDesk(App[None]):
    """What the app does for operators. Subclasses set ``model``, ``requests`` and
    ``operator_mode`` in ``__init__``."""

    model: AgentModel
    requests: OperatorRequests
    operator_mode: bool
    peeks: dict[str, list[Callable[[HandoffPacket | None], Any]]]
    """Conversations read once (:meth:`peek_conversation`) → who waits for them."""
    """True for ``handoff operator``: open the operator screens at sign-in (and stop
    when the token is only an agent's)."""

    def tell(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
    ) -> None:
        """Show a notification. ``message`` and ``title`` are data (visitor names, server
        error details): shown as plain text with control characters made visible."""
        self.notify(
            visible(message),
            title=visible(title, one_line=True),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def ask(self, asker: Asker, frame_type: type[BaseModel], **fields: Any) -> str:
        """Send an operator request; its answer goes to ``asker`` (see
        :meth:`OperatorRequests.ask`). Returns the request id."""
        return self.requests.ask(asker, frame_type, **fields)

    def operator_commands(self) -> Iterable[SystemCommand]:
        """Palette entries for each operator screen (operators only)."""
        if not self.model.is_operator:
            return
        for tab, title in OPERATOR_TABS.items():
            yield SystemCommand(
                f"Operator: {title}",
                f"Open the operator's {title.lower()} screen",
                partial(self.action_operator, tab),
            )

    def action_operator(self, tab: str = "policy") -> None:
        """Show the operator screens (on ``tab``: policy, history, what_if, risk,
        analytics, gaps)."""
        if not self.model.is_operator:
            self.tell("The operator screens need an operator token.", severity="warning")
            return
        if isinstance(self.screen, OperatorScreen):
            self.screen.show_tab(tab)
        else:
            self.push_screen(OperatorScreen(tab))

    def operator_signed_in(self) -> None:
        """After ``authenticated``: an operator gets the policy (and its changes); with
        ``handoff operator`` the screens open, and an agent's token stops the app."""
        if not self.model.is_operator:
            if self.operator_mode:
                self.model.link.refusal = (
                    "the token is an agent's: the operator screens need an operator token"
                )
                self.model.link.refusal_code = "forbidden"
                self.exit(return_code=1)
            return
        self.ask(self, OPolicyGet, type="policy_get", subscribe=True)
        if self.operator_mode and not any(isinstance(s, OperatorScreen) for s in self.screen_stack):
            self.push_screen(OperatorScreen("policy"))

    def operator_link_lost(self, detail: str) -> None:
        """The link went down: requests in flight will never be answered."""
        self.requests.fail_all(detail)
        self.model.operator.loading.clear()
        peeks, self.peeks = self.peeks, {}
        for callbacks in peeks.values():
            for callback in callbacks:
                callback(None)

    def peek_conversation(self, cid: str, callback: Callable[[HandoffPacket | None], Any]) -> None:
        """Read conversation ``cid`` once without opening it (``open`` without
        ``subscribe``); ``callback`` gets its packet, or ``None`` when it cannot be read."""
        if not self.requests.connected():
            callback(None)
            return
        self.peeks.setdefault(cid, []).append(callback)
        self.requests.send(AOpen(type="open", conversation_id=cid, last_seq=0, subscribe=False))

    def peeked(self, cid: str, packet: HandoffPacket | None) -> bool:
        """The answer (``None``: a refusal) to a peek at ``cid``; False when none waits."""
        callbacks = self.peeks.pop(cid, [])
        for callback in callbacks:
            callback(packet)
        return bool(callbacks)

    @on(OperatorAnswer)
    def _operator_answer(self, message: OperatorAnswer) -> None:
        frame = message.frame
        op = self.model.operator
        if isinstance(frame, SPolicy):
            self._policy_arrived(frame, mine=message.request_id is not None)
        elif isinstance(frame, SWhatIf):
            op.what_if = frame
            op.loading.discard("what_if")
        elif isinstance(frame, SRiskCoverage):
            op.risk = frame
            op.loading.discard("risk")
        elif isinstance(frame, SAnalytics):
            op.analytics = frame
            op.loading.discard("analytics")
        elif isinstance(frame, SKnowledgeGaps):
            op.gaps = frame
            op.loading.discard("gaps")
        if message.request_id is not None:
            self.requests.answered(message.request_id, frame)
        self._redraw_operator()

    def _policy_arrived(self, frame: SPolicy, mine: bool) -> None:
        threshold = frame.policy.get("threshold")
        if isinstance(threshold, int | float):
            self.model.limits.threshold = float(threshold)
        outcome = self.model.operator.policy_arrived(frame)
        if mine or outcome == "same":
            return
        who = f"version {frame.version} by {frame.author}"
        if outcome == "kept_edits":
            self.tell(
                f"A new policy is in force ({who}). Your edits are kept, not applied: "
                "ctrl+r loads the new version (dropping them).",
                title="Policy changed elsewhere",
                severity="warning",
                timeout=10,
            )
        else:
            self.tell(f"Policy {who} is in force.", title="Policy changed", timeout=5)

    def _redraw_operator(self) -> None:
        # An answer can arrive while the app is closing, with no screen left.
        screen = self.screen_stack[-1] if self.screen_stack else None
        if isinstance(screen, OperatorScreen) and screen.ready:
            self.draw_unless_closing(screen, screen.redraw_panes)

    def draw_unless_closing(self, screen: Screen[Any], draw: Callable[[], None]) -> None:
        """Run ``draw`` (a redraw of ``screen``). A widget it cannot find is no error
        once the app is shutting down (Textual stops it running first, then removes the
        screens' widgets one by one) or the screen's widgets are gone: an answer or a
        queued redraw handled at teardown has nothing left to draw on (NoMatches on
        ``ConnectionBanner``, and on ``#title-bar`` with other widgets still there, in
        CI). Raised otherwise."""
        try:
            draw()
        except NoMatches:
            closing = self._exit or not self.is_running
            if not closing and screen.is_attached and screen.children:
                raise

    @on(OperatorReply)
    def _policy_loaded(self, message: OperatorReply) -> None:
        # The app asks only for the policy at sign-in; the model has it already.
        pass

    @on(OperatorRefused)
    def _policy_refused(self, message: OperatorRefused) -> None:
        if message.code != "not_connected":
            self.tell(
                f"{message.detail} ({message.code})", title="Policy unavailable", severity="error"
            )
