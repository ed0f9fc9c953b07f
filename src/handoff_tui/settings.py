"""Settings of the agent TUI: where the server is and how to behave on a lost connection."""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["TUISettings"]

DEFAULT_SERVER_URL = "ws://127.0.0.1:8765"


@dataclass(frozen=True)
class TUISettings:
    """Everything the agent app needs to know before it starts."""

    server_url: str = DEFAULT_SERVER_URL
    """Server base URL, ``ws://host:port`` (``http(s)://`` and ``host:port`` are accepted
    too: the client normalizes them, :mod:`handoff_server.server_url`)."""
    token: str | None = None
    """Agent or operator bearer token (``handoff token create``)."""
    reconnect_initial_seconds: float = 0.5
    """Wait before the first reconnect attempt; doubles after each failure."""
    reconnect_max_seconds: float = 10.0
    """Longest wait between reconnect attempts."""
    tick_seconds: float = 1.0
    """How often waiting times are re-read from the clock and redrawn."""
    typing_idle_seconds: float = 3.0
    """After this long without a keystroke the agent's typing indicator is switched off."""

    @classmethod
    def from_env(cls, server_url: str | None = None, token: str | None = None) -> TUISettings:
        """Settings from explicit values, else ``HANDOFF_SERVER_URL`` / ``HANDOFF_TOKEN``,
        else ``ws://HOST:PORT`` from the server config (``handoff_server.config``).
        The URL is used as given: the client normalizes it when it connects
        (``host:port`` means ``ws://host:port``; the CLI's ``--server`` checks it first)."""
        url = server_url or os.environ.get("HANDOFF_SERVER_URL")
        if not url:
            from handoff_server.config import load_settings

            server = load_settings().server
            url = f"ws://{server.host}:{server.port}"
        return cls(server_url=url, token=token or os.environ.get("HANDOFF_TOKEN"))

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before reconnect ``attempt`` (1-based): exponential, capped."""
        return min(self.reconnect_max_seconds, self.reconnect_initial_seconds * 2 ** (attempt - 1))
