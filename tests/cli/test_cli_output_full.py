"""A command whose standard output cannot be written (``handoff queue > /dev/full``: a
full disk) printed an ``OSError`` traceback. Every command says
``error[io_error]: cannot write to standard output: ...`` on stderr and exits 2 instead.

The CLI runs as a real process (against a real server where it needs one) with its
standard output on Linux's ``/dev/full``, where every write fails with ``ENOSPC``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from handoff_server.app import RunningServer
from handoff_server.kb import demo_kb_path
from tests.conftest import create_token
from tests.helpers import events, run_handoff, say, start_visitor

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")


async def _to_dev_full(*args: str) -> tuple[int, str]:
    """Run ``handoff ARGS`` with standard output on ``/dev/full``: exit status, stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    with open("/dev/full", "w") as full:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "handoff_cli", *args,
            stdout=full, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, err.decode(errors="replace")


async def test_every_kind_of_command_reports_a_full_output(
    server: RunningServer, tmp_path: Path
) -> None:
    token = await create_token(server, "Sam")
    conn, welcome = await start_visitor(server.url, name="Ada")
    assert events(await say(conn, "I want to talk to a person"), "escalated")
    await conn.close()
    where = ["--server", server.url, "--token", token]
    commands = [
        ["queue", *where],
        ["queue", "--json", *where],
        ["transcript", welcome.conversation_id, *where],
        ["visit", "--server", server.url, "--json", "-m", "hello there"],
        ["policy", "show", "--data-dir", str(tmp_path / "data")],
        ["kb", "check", str(demo_kb_path())],
        ["--help"],
    ]
    for args in commands:
        code, err = await _to_dev_full(*args)
        assert code == 2, (args, err)
        assert (
            err == "error[io_error]: cannot write to standard output: No space left on device\n"
        ), (
            args,
            err,
        )


async def test_a_token_that_cannot_be_shown_is_not_created(tmp_path: Path) -> None:
    """``handoff token create > /dev/full`` stored the token and lost its secret, shown
    only once: an active token nobody knows. Now it is deleted again: the command says
    so as ``io_error`` and ``token list`` shows no token."""
    data = str(tmp_path / "data")
    code, err = await _to_dev_full("token", "create", "--name", "Sam", "--data-dir", data)
    assert code == 2, err
    listed = await run_handoff("token", "list", "--json", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    assert err == (
        "error[io_error]: cannot write to standard output: No space left on device;"
        " no token was created\n"
    ), err
