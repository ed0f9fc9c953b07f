"""``handoff serve``'s log at its default level (INFO): the server's own lines, not the
websockets library's line per connection, and one line when it stops."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.helpers import say, serve_logging, start_visitor


async def test_connections_stay_out_of_the_info_log_and_stopping_is_logged(tmp_path: Path):
    """Every connection logged ``INFO websockets.server: connection open`` and
    ``connection closed`` (72 lines in a few minutes), and SIGTERM's end had no line of
    its own. Now three visitors leave no websockets line; the server's own lines stay,
    and the last one says it stopped."""
    proc, url, lines = serve_logging(tmp_path / "data")
    try:
        for name in ("Ada", "Ken", "Lin"):
            visitor, _ = await start_visitor(url, name=name)
            await say(visitor, "how do I reset my password")
            await visitor.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    log = [line.rstrip("\n") for line in lines]
    assert not [line for line in log if "websockets" in line], log
    assert any("INFO handoff_server.app: index ready" in line for line in log), log
    assert log[-1].endswith("INFO handoff_server.app: stopped"), log
