"""What every operator pane shares: the model it draws from and the app it asks."""

from __future__ import annotations

from typing import Any, Protocol, cast

from pydantic import BaseModel
from textual.notifications import SeverityLevel
from textual.widget import Widget

from handoff_tui.model import AgentModel
from handoff_tui.model.operator import OperatorModel

__all__ = ["OperatorActions", "OperatorPane"]


class OperatorActions(Protocol):
    """What an operator pane may ask of the app."""

    model: AgentModel

    def ask(self, asker: Any, frame_type: type[BaseModel], **fields: Any) -> str:
        """Send an operator request whose answer goes to ``asker``; its request id."""
        ...

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

    def open_conversation(self, cid: str) -> None:
        """Show conversation ``cid`` (its transcript)."""
        ...


class OperatorPane(Widget):
    """A pane of the operator screen. :meth:`redraw` draws it from the model;
    :meth:`load` asks the server for what it shows (the first time it is shown, and
    when the operator refreshes)."""

    @property
    def desk(self) -> OperatorActions:
        """The app, as far as the panes may use it."""
        return cast(OperatorActions, self.app)

    @property
    def op(self) -> OperatorModel:
        """The operator's model."""
        return self.desk.model.operator

    FOCUS = ""
    """Selector of the widget to focus when the pane is shown (empty: the first one)."""

    def redraw(self) -> None:
        """Draw from the model."""
        raise NotImplementedError

    def focus_main(self) -> None:
        """Focus the pane's main widget (its table, or its first field)."""
        if self.FOCUS:
            self.query_one(self.FOCUS).focus()
            return
        for widget in self.query("*"):
            if widget.focusable:
                widget.focus()
                return
        # Focus left in another tab's pane would make the tabs switch back to it.
        self.screen.set_focus(None)

    def load(self) -> None:
        """Ask the server for what this pane shows (nothing by default)."""

    def loaded(self) -> bool:
        """True when the model already holds what this pane shows."""
        return True
