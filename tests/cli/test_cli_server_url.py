"""Server URLs as a newcomer types them: ``host:port`` (ws:// assumed), ``http://``,
and a clear ``invalid_option`` naming the option for one that cannot be a server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.helpers import start_serve


def handoff(
    *args: str, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "handoff_cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data = tmp_path_factory.mktemp("served")
    proc, url = start_serve(data)
    yield url, data
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def _answered(proc: subprocess.CompletedProcess[str]) -> bool:
    assert proc.returncode == 0, proc.stderr + proc.stdout
    frames = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return frames[0]["type"] == "welcome" and any(f.get("kind") == "ai_message" for f in frames)


def test_visit_and_queue_accept_host_port_without_scheme(served, tmp_path):
    url, data = served
    host_port = url.removeprefix("ws://")
    question = ("-m", "How do I reset my password?", "--json")
    assert _answered(handoff("visit", "--server", host_port, *question))
    assert _answered(handoff("visit", *question, env_extra={"HANDOFF_SERVER_URL": host_port}))
    assert _answered(handoff("visit", "--server", f"http://{host_port}/", *question))
    config = tmp_path / "client.toml"
    config.write_text(f'[client]\nserver_url = "{host_port}"\n')
    assert _answered(handoff("visit", "--config", str(config), *question))

    token = handoff("token", "create", "--name", "Sam", "--data-dir", str(data))
    token_value = token.stdout.strip().splitlines()[-1]
    queue = handoff("queue", "--json", "--server", host_port, "--token", token_value)
    assert queue.returncode == 0, queue.stderr
    assert isinstance(json.loads(queue.stdout), list)


@pytest.mark.parametrize("command", [("visit", "-m", "hi"), ("agent", "--token", "hnd_x")])
def test_a_url_that_cannot_be_a_server_is_an_invalid_option(command):
    bad = handoff(*command, "--server", "ftp://127.0.0.1:8765")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error[invalid_option]: --server: 'ftp://127.0.0.1:8765'")
    assert "ws, wss, http or https" in bad.stderr
    env = handoff(*command, env_extra={"HANDOFF_SERVER_URL": "localhost:notaport"})
    assert env.returncode == 2 and "error[invalid_option]: --server:" in env.stderr


def test_a_bad_server_url_in_the_config_names_the_key(tmp_path):
    config = tmp_path / "client.toml"
    config.write_text('[client]\nserver_url = "ftp://example.invalid"\n')
    bad = handoff("visit", "--config", str(config), "-m", "hi")
    assert bad.returncode == 2 and "error[bad_config]" in bad.stderr
    assert "server_url" in bad.stderr
