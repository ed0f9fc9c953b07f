"""``handoff operator``: an agent's token is refused at sign-in with ``forbidden`` and a
hint to create an operator token (on a real server, in a pseudo-terminal)."""

from __future__ import annotations

import subprocess
import sys

from tests.cli.test_cli_agent import _run_in_terminal
from tests.helpers import start_serve


def test_operator_with_an_agents_token_exits_forbidden(tmp_path) -> None:
    data = tmp_path / "data"
    server, url = start_serve(data)
    try:
        made = subprocess.run(
            [sys.executable, "-m", "handoff_cli", "token", "create", "--name", "Sam",
             "--role", "agent", "--data-dir", str(data)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        token = made.stdout.strip().splitlines()[-1]
        code, output = _run_in_terminal(
            [sys.executable, "-m", "handoff_cli", "operator", "--server", url, "--token", token],
            timeout=60,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert code == 2, output[-2000:]
    assert (
        "error[forbidden]: the token is an agent's: the operator screens need an operator "
        "token: check --token / HANDOFF_TOKEN ('handoff token create --role operator')"
    ) in output.replace("\r\n", "\n").replace("\n", ""), output[-2000:]
