"""The app's screens: the queue and one screen per open conversation."""

from handoff_tui.screens.conversation import ConversationScreen
from handoff_tui.screens.queue import QueueScreen

__all__ = ["ConversationScreen", "QueueScreen"]
