"""Live progress of ``handoff simulate``: drawn on a terminal (a real pseudo-terminal
here), never when the output goes to a pipe or with ``--json``."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import struct
import sys
import termios
from pathlib import Path

from tests.helpers import run_handoff

ROUTINE = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "routine-questions.toml"
PROGRESS = "in flight"
"""Words only the live progress prints (the report says 'finished, N unfinished')."""


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def _in_a_terminal(*args: str) -> tuple[int, str]:
    """Run ``handoff ARGS`` with stdin, stdout and stderr on one pseudo-terminal of
    120 × 40; returns the exit status and everything it drew."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["TERM"] = "xterm-256color"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handoff_cli", *args,
        stdin=slave, stdout=slave, stderr=slave, env=env,
    )  # fmt: skip
    os.close(slave)
    reading = asyncio.get_running_loop().run_in_executor(None, _read_all, master)
    code = await asyncio.wait_for(proc.wait(), 120)
    out = await asyncio.wait_for(reading, 30)
    os.close(master)
    return code, out.decode(errors="replace")


async def test_progress_is_drawn_on_a_terminal(server):
    args = ["simulate", "--server", server.url, "--scenario", str(ROUTINE), "--think-time", "1"]
    code, drawn = await _in_a_terminal(*args)
    assert code == 0, drawn
    assert PROGRESS in drawn and "simulating" in drawn and "AI replies" in drawn
    assert "14 checked, 0 failed" in drawn  # the report follows, styled


async def test_no_progress_in_a_pipe_or_with_json(server):
    args = ["simulate", "--server", server.url, "--scenario", str(ROUTINE)]
    piped = await run_handoff(*args)
    assert piped.returncode == 0
    assert piped.stderr == "" and PROGRESS not in piped.stdout
    code, drawn = await _in_a_terminal(*args, "--json")
    assert code == 0 and PROGRESS not in drawn and drawn.lstrip().startswith("{")
