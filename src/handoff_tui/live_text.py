"""The AI's answer while it is written (``ai_partial`` frames), in the agent app.

:class:`LiveText` is a base class of :class:`handoff_tui.app.AgentApp` (kept apart so
each class stays readable): it applies
:class:`~handoff_tui.messages.AiPartialReceived` to the model (the conversation's
provisional text, cleared when the frame with ``done`` arrives, before the stored
``ai_message`` or ``escalated`` event) and asks for a redraw; the conversation screen
draws it as a provisional line under the transcript.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handoff_tui.messages import AiPartialReceived
from handoff_tui.model import AgentModel

__all__ = ["LiveText"]


class LiveText:
    """Partial AI text, for the agent app."""

    if TYPE_CHECKING:
        # Provided by the app.
        model: AgentModel

        def schedule_redraw(self) -> None: ...

    def on_ai_partial_received(self, message: AiPartialReceived) -> None:
        """Keep (or clear, when ``done``) the conversation's partial text; redraw."""
        text = None if message.done else message.text
        if self.model.ai_partial(message.conversation_id, text):
            self.schedule_redraw()
