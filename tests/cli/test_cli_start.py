"""``handoff`` starts without the heavy libraries: registering the commands imports no
scikit-learn, SciPy, NumPy, PyTorch, Textual, nor the server's AI, escalation engine or
conversations; the commands that need them import them when they run.

Each case runs the console script's entry point (``handoff_cli.main:main``) in a fresh
interpreter and reports what ``sys.modules`` holds once the command has finished; a
light command against a real server (``queue``) and a heavy one (``triage``, which must
load scikit-learn) are among them, so the probe is seen to tell the two apart.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import create_token

HEAVY = (
    "sklearn",
    "scipy",
    "numpy",
    "torch",
    "textual",
    "handoff_tui",
    "handoff_server.ai.retrieval",
    "handoff_server.escalation.engine",
    "handoff_server.conversations",
)
"""Modules (with their submodules) a light command must not load."""

_PROBE = """
import json, sys
out, heavy, args = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
sys.argv = ["handoff", *args]
status = 0
try:
    from handoff_cli.main import main
    if args:
        main()
except SystemExit as exc:
    status = exc.code
loaded = sorted({h for h in heavy for m in sys.modules if m == h or m.startswith(h + ".")})
with open(out, "w") as f:
    json.dump({"status": status, "loaded": loaded}, f)
"""
"""Import the CLI, run ``handoff ARGS`` as the console script does (no ARGS: import
only), then write the exit status and the loaded :data:`HEAVY` modules to a file."""


def _probe(tmp_path: Path, *args: str) -> tuple[int, list[str], str]:
    """Run ``handoff ARGS`` in a new interpreter; its exit status, the :data:`HEAVY`
    modules loaded once it finished, and its stdout."""
    out = tmp_path / "probe.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), json.dumps(HEAVY), *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert out.exists(), proc.stderr
    report = json.loads(out.read_text())
    return report["status"], report["loaded"], proc.stdout


@pytest.mark.parametrize("args", [(), ("--version",), ("--help",), ("token", "--help")])
def test_starting_the_cli_loads_no_heavy_library(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Importing the CLI, --version and --help finish without any of :data:`HEAVY`."""
    status, loaded, stdout = _probe(tmp_path, *args)
    assert status in (0, None)
    assert loaded == []
    if args == ("--version",):
        assert stdout.startswith("handoff ")


def test_token_create_and_list_load_no_heavy_library(tmp_path: Path) -> None:
    """A command that works on the store: nothing of :data:`HEAVY` either."""
    data = str(tmp_path / "data")
    status, loaded, _ = _probe(tmp_path, "token", "create", "--name", "Sam", "--data-dir", data)
    assert (status, loaded) == (0, [])
    status, loaded, stdout = _probe(tmp_path, "token", "list", "--data-dir", data)
    assert (status, loaded) == (0, [])
    assert "Sam" in stdout


async def test_queue_against_a_real_server_loads_no_heavy_library(tmp_path, server) -> None:
    """``handoff queue`` talks to a running server over the wire: still nothing heavy."""
    token = await create_token(server, role="operator")
    args = ("queue", "--server", server.url, "--token", token)
    # In a thread: the server runs on this test's event loop, which must keep going.
    status, loaded, stdout = await asyncio.to_thread(_probe, tmp_path, *args)
    assert (status, loaded) == (0, [])
    assert stdout.strip()


def test_triage_loads_the_ai_when_it_runs(tmp_path: Path) -> None:
    """The heavy libraries are loaded by the command that uses them: ``triage`` answers
    with the server's AI and decides with its escalation engine (scikit-learn)."""
    data = str(tmp_path / "data")
    status, loaded, stdout = _probe(
        tmp_path, "triage", "I want a refund", "--json", "--data-dir", data
    )
    assert status in (0, None)
    assert {"sklearn", "handoff_server.escalation.engine", "handoff_server.ai.retrieval"} <= set(
        loaded
    )
    assert "escalate" in json.loads(stdout)


def test_the_simulators_clients_load_no_scikit_learn() -> None:
    """``handoff simulate`` drives visitors and agents over the wire: its client side
    (the agents' rate limit included) loads none of the server's AI or escalation
    engine, so simulating against a remote server starts quickly."""
    code = (
        "import sys, json; import handoff_cli.simulate.agents, handoff_cli.simulate.record;"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'torch', 'textual'})))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
