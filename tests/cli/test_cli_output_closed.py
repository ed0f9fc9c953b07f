"""A command whose standard output's reader goes away (``handoff visit --json ... |
head -1``) stops at once, quietly, with exit status 1 (as Python recommends for
``EPIPE``), instead of waiting for answers it can no longer print or reporting the
closed pipe as a network failure.

The CLI runs as a real process against a real server; its standard output is a real
pipe whose reading end the test closes after the first line, as ``head -1`` does.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from handoff_server.app import RunningServer


async def test_visit_stops_quietly_when_its_reader_goes_away(server: RunningServer) -> None:
    """It printed the welcome, then either waited out its answer timeout for the next
    message (the frame reader had died on the closed pipe, unnoticed) or said
    ``error[connect_failed]: cannot connect ...: Broken pipe``."""
    read_end, write_end = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handoff_cli", "visit", "--server", server.url, "--json",
        "--name", "Pipe", "-m", "hello there", "-m", "how do I renew my domain",
        stdout=write_end, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        first = await asyncio.to_thread(reader.readline)
    assert b'"welcome"' in first
    t0 = time.monotonic()
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert time.monotonic() - t0 < 10
    assert (proc.returncode, stderr.decode()) == (1, "")
