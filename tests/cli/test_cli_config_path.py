"""One configuration path and one error tree, through the real CLI: `handoff agent
--config`, the server's limits on the wire, the serve warning about an unapplied
[policy], and `error[code]: ...` with exit status 2 for every CLI mistake."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from handoff_cli.agent_commands import agent_settings
from handoff_server.client import connect_agent, connect_visitor
from handoff_server.protocol import SAuthenticated, SWelcome, VisitorInfo, VStart
from handoff_tui import make_app
from tests.conftest import create_token
from tests.helpers import run_handoff


def _handoff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handoff_cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")},
    )


def _serve_output(data_dir: Path, config: Path, log_level: str = "WARNING") -> list[str]:
    """Start ``handoff serve --config`` (the real subprocess), return what it printed up to
    and including its ``listening on`` line, then stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "handoff_cli", "serve", "--port", "0", "--log-level", log_level,
         "--data-dir", str(data_dir), "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")},
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("handoff listening on"):
                return lines
        raise AssertionError(f"server did not start: {lines}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _client_config(path: Path, url: str, token: str) -> Path:
    path.write_text(f'[client]\nserver_url = "{url}"\ntoken = "{token}"\n', encoding="utf-8")
    return path


# --------------------------------------------------------------------- handoff agent


async def test_agent_with_a_refused_token_in_the_config_names_that_server(server, tmp_path):
    config = _client_config(tmp_path / "c.toml", server.url, "hnd_not_a_token")
    done = await run_handoff("agent", "--config", str(config))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error[unauthorized]: ")
    assert server.url in done.stderr and "HTTP 401" in done.stderr


async def test_agent_settings_come_from_the_config_and_the_app_connects(server, tmp_path):
    token = await create_token(server)
    config = _client_config(tmp_path / "c.toml", server.url, token)
    settings = await asyncio.to_thread(agent_settings, config, None, None)
    assert (settings.server_url, settings.token) == (server.url, token)
    app = make_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(200):
            if app.connection_state == "connected" and app.queue.me:
                break
            await pilot.pause(0.05)
        assert app.connection_state == "connected"
        assert app.queue.me is not None and app.queue.me.name == "Sam"


def test_agent_options_win_over_the_config(tmp_path):
    config = _client_config(tmp_path / "c.toml", "ws://127.0.0.1:9", "hnd_from_file")
    # Port 9 refuses connections: the UI would keep retrying, so no check fails here.
    settings = agent_settings(config, "ws://127.0.0.1:9/other", "hnd_from_option")
    assert (settings.server_url, settings.token) == ("ws://127.0.0.1:9/other", "hnd_from_option")


# --------------------------------------------------------------------- limits


async def test_welcome_and_authenticated_carry_the_servers_limits(server_factory):
    srv = await server_factory(server={"max_message_chars": 123}, policy={"threshold": 0.42})
    async with await connect_visitor(srv.url) as conn:
        await conn.send(VStart(type="start", visitor=VisitorInfo(name="Ada")))
        welcome = await conn.recv(timeout=10)
    assert isinstance(welcome, SWelcome) and welcome.limits is not None
    assert welcome.limits.max_message_chars == 123
    assert "threshold" not in welcome.limits.model_dump()  # never to a visitor
    async with await connect_agent(srv.url, await create_token(srv)) as conn:
        auth = await conn.recv(timeout=10)
    assert isinstance(auth, SAuthenticated) and auth.limits is not None
    assert (auth.limits.max_message_chars, auth.limits.threshold) == (123, 0.42)


async def test_visit_uses_the_servers_max_message_chars(server_factory):
    srv = await server_factory(server={"max_message_chars": 6000})
    # Over the 4000 fallback, within this server's limit: sent and answered.
    ok = await run_handoff("visit", "--server", srv.url, "--json", "-m", "password " * 600)
    assert ok.returncode == 0, ok.stderr
    assert '"kind":"ai_message"' in ok.stdout.replace(" ", "")
    small = await server_factory(server={"max_message_chars": 50})
    # Under the fallback, over this server's limit: refused before anything is sent.
    refused = await run_handoff("visit", "--server", small.url, "-m", "x" * 60)
    assert refused.returncode == 2
    assert "error[message_too_long]" in refused.stderr and "limit is 50" in refused.stderr
    assert "conversation" not in refused.stdout


# --------------------------------------------------------------------- serve


def test_serve_says_when_the_configs_policy_is_not_the_stored_one(tmp_path):
    data_dir, config = tmp_path / "data", tmp_path / "c.toml"
    config.write_text("[policy]\nthreshold = 0.8\n", encoding="utf-8")
    imported = _handoff("policy", "import", str(config), "--data-dir", str(data_dir))
    assert imported.returncode == 0, imported.stderr
    config.write_text("[policy]\nthreshold = 0.6\n", encoding="utf-8")
    out = _serve_output(data_dir, config)
    lines = [line for line in out if "[policy]" in line]
    assert len(lines) == 1, out
    assert "stored policy v1" in lines[0]
    assert f"handoff policy import {config} --data-dir {data_dir}" in lines[0]


def test_serve_says_nothing_when_the_configs_policy_is_the_stored_one(tmp_path):
    data_dir, config = tmp_path / "data", tmp_path / "c.toml"
    config.write_text("[policy]\nthreshold = 0.8\n", encoding="utf-8")
    assert _handoff("policy", "import", str(config), "--data-dir", str(data_dir)).returncode == 0
    out = _serve_output(data_dir, config)
    assert out[-1].startswith("handoff listening on")
    assert not [line for line in out if "[policy]" in line]


def test_serve_logs_its_data_dir_kb_and_engine(tmp_path):
    """At the default log level, the start names the data dir (the one 'handoff token
    create' must be given too), the KB and the engine."""
    data_dir, config = tmp_path / "data", tmp_path / "c.toml"
    config.write_text('[ai]\nengine = "tfidf"\n', encoding="utf-8")
    out = _serve_output(data_dir, config, log_level="INFO")
    where = [line for line in out if "data dir" in line]
    assert len(where) == 1, out
    assert f"data dir {data_dir} (SQLite store there;" in where[0], where
    assert "--data-dir" in where[0] and "KB: the bundled demo KB; engine: tfidf" in where[0]


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--engine", "nope"], "bad_engine", "unknown engine 'nope'"),
        (["--kb", "/nonexistent/kb"], "bad_kb", "does not exist"),
        (["--config", "/nonexistent/c.toml"], "bad_config", "not found"),
        (["--port", "-1"], "invalid_option", "--port"),
        (["--port", "70000"], "invalid_option", "--port"),
        (["--log-level", "nope"], "invalid_option", "--log-level"),
        (["--no-such-option"], "invalid_option", "No such option"),
    ],
)
def test_serve_mistakes_print_one_error_line_and_exit_2(tmp_path, args, code, says):
    done = _handoff("serve", "--data-dir", str(tmp_path / "d"), *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error[{code}]: "), done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_with_a_data_dir_that_cannot_hold_the_store(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = _handoff("serve", "--port", "0", "--data-dir", str(blocker / "sub"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error[bad_data_dir]: cannot open the store in ")
    assert "Traceback" not in done.stderr


def test_serve_with_a_bad_config_file(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("[server\nport = 1\n")
    done = _handoff("serve", "--config", str(bad))
    assert done.returncode == 2
    assert done.stderr.startswith("error[bad_config]: ") and "not valid TOML" in done.stderr


def test_serve_with_a_kb_that_does_not_load(tmp_path):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "g.md").write_text("---\ntitle: G\n---\nbody\n")  # no id
    done = _handoff("serve", "--port", "0", "--data-dir", str(tmp_path / "d"), "--kb", str(kb))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error[bad_kb]: ")


def test_serve_on_a_data_dir_whose_added_kb_entry_does_not_load(tmp_path):
    """An entry file an older server let an operator write (a whitespace-only answer):
    the start names the file and says what its folder is."""
    added = tmp_path / "d" / "kb-additions"
    added.mkdir(parents=True)
    added.parent.chmod(0o700)  # a data dir others cannot read (else a warning comes first)
    (added / "blank-answer.md").write_text(
        "---\nid: blank-answer\ntitle: Blank\nquestions:\n- what is a blank answer\n---\n\u00a0\n",
        encoding="utf-8",
    )
    done = _handoff("serve", "--port", "0", "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error[bad_kb]: "), done.stderr
    assert f"{added / 'blank-answer.md'}:7: error: empty answer" in done.stderr
    assert f"{added} holds the entries operators added" in done.stderr
    assert "Traceback" not in done.stderr
