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
    # A usage mistake, like an unknown option: the line after the error names --help.
    hint = f"Try 'python -m handoff_cli {command[0]} --help' for help."
    assert bad.stderr.splitlines()[1:] == [hint], bad.stderr
    assert env.stderr.splitlines()[1:] == [hint], env.stderr


def test_every_kind_of_option_mistake_ends_with_the_same_help_line(tmp_path):
    """An unknown option (click's), a value a command refuses (``fail``) and one refused
    deeper down (a ``HandoffError`` the command lets through) all end with the line
    naming the command's ``--help``; a mistake that is not about usage does not."""
    data = str(tmp_path / "d")
    cases = [
        (("token", "create", "--name", "X", "--nosuch"), "token create"),
        (("token", "create", "--name", "X", "--team", "[x", "--data-dir", data), "token create"),
        (("simulate", "--rate", "1", "--concurrency", "2"), "simulate"),
        (("eval", "--questions", "q.csv", "--plot", str(tmp_path / "x.jpg")), "eval"),
    ]
    for args, command in cases:
        done = handoff(*args)
        lines = done.stderr.splitlines()
        assert done.returncode == 2 and lines[0].startswith("error[invalid_option]: "), lines
        assert lines[1:] == [f"Try 'python -m handoff_cli {command} --help' for help."], lines
    not_usage = handoff("report", "--data-dir", data)
    assert not_usage.returncode == 2 and "error[bad_data_dir]" in not_usage.stderr
    assert "--help" not in not_usage.stderr


def test_a_bad_server_url_in_the_config_names_the_key(tmp_path):
    config = tmp_path / "client.toml"
    config.write_text('[client]\nserver_url = "ftp://example.invalid"\n')
    bad = handoff("visit", "--config", str(config), "-m", "hi")
    assert bad.returncode == 2 and "error[bad_config]" in bad.stderr
    assert "server_url" in bad.stderr
