"""`handoff agent` and `handoff demo` refuse bad options before starting anything; a
refused token ends the agent UI with an error."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from typer.testing import CliRunner

from handoff_cli.main import app
from tests.helpers import start_serve

runner = CliRunner(env={"COLUMNS": "200"})


def test_agent_without_a_token_says_how_to_get_one():
    result = runner.invoke(app, ["agent", "--server", "ws://127.0.0.1:9"])
    assert result.exit_code != 0
    assert "no_token" in result.output and "handoff token create" in result.output


def test_demo_refuses_a_questions_file_without_a_text_column(tmp_path):
    bad = tmp_path / "q.csv"
    bad.write_text("foo,bar\n1,2\n")
    result = runner.invoke(app, ["demo", "--questions", str(bad)])
    assert result.exit_code != 0
    assert "bad_questions" in result.output and "'text'" in result.output


def test_demo_refuses_a_missing_kb(tmp_path):
    result = runner.invoke(app, ["demo", "--kb", str(tmp_path / "nope")])
    assert result.exit_code == 2  # a usage error: nothing was started
    assert "does not exist" in " ".join(result.output.split())


def _run_in_terminal(args: list[str], timeout: float) -> tuple[int | None, str]:
    """Run ``args`` on a pseudo-terminal (the agent UI needs one); returns its exit code
    (``None`` if it was still running after ``timeout`` seconds and was killed) and all it
    wrote."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env={**env, "TERM": "xterm"})
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                output += os.read(master, 65536)
            except OSError:  # the terminal closed: the process has exited
                break
        elif proc.poll() is not None:
            break
    try:
        code: int | None = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        code = None
        proc.kill()
        proc.wait()
    os.close(master)
    return code, output.decode("utf-8", "replace")


def test_agent_exits_non_zero_when_the_server_refuses_the_token(tmp_path):
    """A refused token (HTTP 401) ends ``handoff agent`` at once with a non-zero code and
    a clear error, instead of a banner that waits for ctrl+q."""
    server, url = start_serve(tmp_path / "data")
    try:
        code, output = _run_in_terminal(
            [sys.executable, "-m", "handoff_cli", "agent", "--server", url, "--token", "hnd_wrong"],
            timeout=30,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert code == 2, output[-2000:]
    assert (f"error[unauthorized]: the server at {url} refused the token (HTTP 401): check "
            "--token / HANDOFF_TOKEN ('handoff token create')") in output

