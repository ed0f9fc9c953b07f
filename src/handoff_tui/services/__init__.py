"""The app's I/O: how it reaches the server (:mod:`.client`) and the link loop that keeps
it connected and turns frames into messages (:mod:`.link`). Nothing here draws."""

from handoff_tui.services.client import AgentClient, AgentConnection, ServerClient
from handoff_tui.services.link import Link, action_frame

__all__ = ["AgentClient", "AgentConnection", "Link", "ServerClient", "action_frame"]
