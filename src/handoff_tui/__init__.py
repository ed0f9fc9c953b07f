"""The agent terminal UI (Textual): the live queue and conversations, over protocol v1.

Build it with :func:`make_app`; it talks to the server only through
``handoff_server.protocol`` and ``handoff_server.client``.
"""

from handoff_tui.app import AgentApp, make_app
from handoff_tui.clock import FixedClock, SystemClock
from handoff_tui.settings import TUISettings

__all__ = ["AgentApp", "FixedClock", "SystemClock", "TUISettings", "make_app"]
