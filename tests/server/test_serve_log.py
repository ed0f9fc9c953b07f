"""``handoff serve``'s log at its default level (INFO): the server's own lines, not the
websockets library's line per connection, and one line when it stops."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.helpers import say, start_visitor


def _serve(data_dir: Path) -> tuple[subprocess.Popen[str], str, list[str]]:
    """``handoff serve`` at the default log level; returns it, its URL and its output
    lines (stdout and the log), read by a thread to the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "handoff_cli", "serve", "--port", "0",
         "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    lines: list[str] = []
    url: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"listening on (ws://\S+)", line)
            if m:
                url.append(m.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    ready.wait(180)
    assert url, "".join(lines)
    return proc, url[0], lines


async def test_connections_stay_out_of_the_info_log_and_stopping_is_logged(tmp_path: Path):
    """Every connection logged ``INFO websockets.server: connection open`` and
    ``connection closed`` (72 lines in a few minutes), and SIGTERM's end had no line of
    its own. Now three visitors leave no websockets line; the server's own lines stay,
    and the last one says it stopped."""
    proc, url, lines = _serve(tmp_path / "data")
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
