"""The same flows from a shell: `handoff serve`, `handoff token create`, `handoff visit
--json`, `handoff queue --json`, `handoff transcript --json`, as separate processes."""

from __future__ import annotations

import json
import os
import signal
import socketserver
import subprocess
import sys
import threading

import pytest

from tests.helpers import start_serve


def handoff(*args: str, check: bool = True, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    proc = subprocess.run(
        [sys.executable, "-m", "handoff_cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        input=stdin,
    )
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data = tmp_path_factory.mktemp("served")
    proc, url = start_serve(data)
    yield url, data
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0  # graceful shutdown exits 0


def lines(proc: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_visit_answered(served):
    url, _ = served
    out = lines(
        handoff(
            "visit",
            "--server",
            url,
            "--json",
            "--name",
            "Ada",
            "--email",
            "ada@example.com",
            "--page-url",
            "https://brambleport.example/help",
            "-m",
            "How do I reset my password?",
        )
    )
    assert out[0]["type"] == "welcome" and out[0]["conversation_id"]
    ai = [o for o in out if o.get("kind") == "ai_message"]
    assert len(ai) == 1 and ai[0]["confidence"] >= 0.7 and ai[0]["sources"]


def test_visit_escalations_reach_queue_and_transcript(served):
    url, data = served
    token = (
        handoff("token", "create", "--name", "Sam", "--role", "agent", "--data-dir", str(data))
        .stdout.strip()
        .splitlines()[-1]
    )
    assert token.startswith("hnd_")
    oos = lines(
        handoff(
            "visit",
            "--server",
            url,
            "--json",
            "--name",
            "Bo",
            "-m",
            "which football team won the league last year",
        )
    )
    human = lines(
        handoff(
            "visit", "--server", url, "--json", "--name", "Cy", "-m", "I want to talk to a person"
        )
    )
    esc = [o for o in oos if o.get("kind") == "escalated"]
    # The visitor learns the trigger's kind only; agents see the confidence (below).
    assert esc and esc[0]["trigger"] == {"kind": "low_confidence"}
    assert [o for o in human if o.get("kind") == "escalated"][0]["trigger"][
        "kind"
    ] == "human_request"
    assert not [o for o in oos if o.get("kind") == "ai_message"]

    rows = json.loads(handoff("queue", "--json", "--server", url, "--token", token).stdout)
    by_id = {r["conversation_id"]: r for r in rows}
    bo = by_id[oos[0]["conversation_id"]]
    assert bo["trigger"]["kind"] == "low_confidence" and bo["last_confidence"] < 0.7
    assert any(e["kind"] == "visitor_message" for e in bo["transcript"])
    assert by_id[human[0]["conversation_id"]]["trigger"]["kind"] == "human_request"

    packet = json.loads(
        handoff(
            "transcript", oos[0]["conversation_id"], "--json", "--server", url, "--token", token
        ).stdout
    )
    assert packet["visitor"]["name"] == "Bo"
    assert packet["trigger"]["kind"] == "low_confidence"


def test_cli_errors_are_clear(served):
    url, _ = served
    bad = handoff("queue", "--json", "--server", url, "--token", "hnd_nope", check=False)
    assert bad.returncode != 0 and "error[unauthorized]" in bad.stderr
    down = handoff("visit", "--server", "ws://127.0.0.1:9", "-m", "hi", check=False)
    assert down.returncode != 0 and "error[connect_failed]" in down.stderr
    for text in ("   ", "\u0301\u0301", "\u2800\u0301", "\ue000", "\U0001d159"):
        empty = handoff("visit", "--server", url, "-m", text, check=False)
        assert empty.returncode != 0 and "error[empty_message]" in empty.stderr, text
    role = handoff("token", "create", "--name", "X", "--role", "boss", check=False)
    assert role.returncode != 0


def test_interactive_visit_reads_lines_until_end_of_input(served):
    url, _ = served
    out = handoff(
        "visit", "--server", url, stdin="How do I reset my password?\nwhat is the capital of peru\n"
    )
    assert "\nAI: 1. Go to" in out.stdout
    assert "I'm handing this conversation to a person." in out.stdout


@pytest.fixture
def not_a_websocket_server():
    """A TCP server on 127.0.0.1 that reads the request and closes without an answer
    (another service on the port, a server going down mid-handshake); its ws:// URL."""

    class Hangup(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(1024)

    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Hangup)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"ws://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize(
    "args",
    [
        ["queue", "--token", "hnd_x"],
        ["transcript", "c_x", "--token", "hnd_x"],
        ["visit", "-m", "hi", "--retry-for", "1"],
    ],
    ids=lambda a: a[0],
)
def test_a_server_that_does_not_answer_the_handshake_is_connect_failed(
    not_a_websocket_server, args
):
    """A connection closed before any HTTP answer raised websockets' ``InvalidMessage``,
    which no command caught: a Python traceback, exit 1. It is a failed connection."""
    proc = handoff(*args, "--server", not_a_websocket_server, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error[connect_failed]"), proc.stderr
    assert "Traceback" not in proc.stderr
