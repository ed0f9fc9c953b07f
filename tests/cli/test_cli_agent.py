"""`handoff agent` and `handoff demo`: bad options are refused before anything starts, a
refused token ends the agent UI with an error, and the demo's simulated visitors."""

from __future__ import annotations

import asyncio
import itertools
import os
import pty
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handoff_cli.main import app
from handoff_server.protocol import ASubscribeQueue, SQueue, SQueueItem
from tests.helpers import agent, start_serve

runner = CliRunner(env={"COLUMNS": "200"})


def test_agent_without_a_token_says_how_to_get_one():
    result = runner.invoke(app, ["agent", "--server", "ws://127.0.0.1:9"])
    assert result.exit_code != 0
    assert "no_token" in result.output and "handoff token create" in result.output


def test_demo_refuses_a_questions_file_without_a_text_column(tmp_path, monkeypatch):
    """Refused before anything is created: no temporary data dir is left behind."""
    bad = tmp_path / "q.csv"
    bad.write_text("foo,bar\n1,2\n")
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    result = runner.invoke(app, ["demo", "--questions", str(bad)])
    assert result.exit_code != 0
    assert "bad_questions" in result.output and "'text'" in result.output
    assert list(temp.iterdir()) == []


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
    proc = subprocess.Popen(
        args, stdin=slave, stdout=slave, stderr=slave, env={**env, "TERM": "xterm"}
    )
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
    assert (
        f"error[unauthorized]: the server at {url} refused the token (HTTP 401): check "
        "--token / HANDOFF_TOKEN ('handoff token create')"
    ) in output


def test_demo_visitors_vary_and_the_first_one_escalates():
    """Every simulated visitor has their own name and first line: KB example questions and
    escalating messages of every kind (human request, frustration, keyword, low
    confidence), none repeated in the first 30 visitors (an escalating line comes back
    only once its category's lines are used up); the first visitor asks for a handoff."""
    from handoff_cli.agent_commands import ESCALATING, _kb_questions, visitor_script

    script = list(itertools.islice(visitor_script(_kb_questions(None), 0.35, seed=7), 30))
    assert script[0].reason != "kb question" and script[1].reason == "kb question"
    assert len({v.name for v in script}) == len({v.email for v in script}) == 30
    escalated = [v for v in script if v.reason != "kb question"]
    per_category = {r: sum(v.reason == r for v in escalated) for r in ESCALATING}
    assert all(per_category[r] <= len(lines) for r, lines in ESCALATING.items()), per_category
    assert len({v.text for v in script}) == 30
    assert [v.reason for v in escalated[:4]] == list(ESCALATING)
    assert all(v.text in ESCALATING[v.reason] for v in escalated)
    assert len({v.follow_up for v in escalated}) > 1
    assert len(escalated) >= 6  # the first, plus about 0.35 of the rest


async def test_demo_queue_is_busy_within_seconds(server, agent_token):
    """Run against a real server, the demo's visitors put an escalation in the queue within
    a few seconds of starting, and each conversation comes from a different visitor
    asking a different question."""
    from handoff_cli.agent_commands import _kb_questions, simulate

    watcher = await agent(server.url, agent_token)
    await watcher.send(ASubscribeQueue(type="subscribe_queue", statuses=["ai", "queued"]))
    assert isinstance(await watcher.recv(timeout=10), SQueue)
    loop = asyncio.get_running_loop()
    started = loop.time()
    sim = asyncio.create_task(simulate(server.url, _kb_questions(None), 0.4, 0.35, seed=7))
    first: dict[str, tuple[str, str]] = {}
    escalated_after: float | None = None
    try:
        while loop.time() - started < 8:
            try:
                frame = await watcher.recv(timeout=1)
            except TimeoutError:
                continue
            if isinstance(frame, SQueueItem):
                item = frame.item
                first.setdefault(item.conversation_id, (item.visitor.name, item.first_question))
                if item.status == "queued" and escalated_after is None:
                    escalated_after = loop.time() - started
    finally:
        sim.cancel()
        await asyncio.gather(sim, return_exceptions=True)
        await watcher.close()
    assert escalated_after is not None and escalated_after < 5, escalated_after
    names = [name for name, _ in first.values()]
    questions = [q for _, q in first.values() if q]
    assert len(first) >= 5, first
    assert len(set(names)) == len(names) and len(set(questions)) == len(questions), first


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_demo_web_prints_the_page_and_the_agent_command_and_stops_on_ctrl_c(tmp_path, stop):
    """Ctrl-C (SIGINT) or SIGTERM (systemd, docker stop, timeout) stops the server and
    deletes the temporary data; SIGTERM used to end the demo at once, leaving both."""
    import re
    import signal

    import httpx

    env = _own_dirs(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "handoff_cli", "demo", "--web", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        page = proc.stdout.readline().strip()
        command = proc.stdout.readline().strip()
        m = re.fullmatch(r"demo page: (http://127\.0\.0\.1:\d+/demo)", page)
        assert m, page
        assert re.fullmatch(
            r"answer as an agent: handoff agent --server ws://\S+ --token hnd_\S+", command
        )
        answer = httpx.get(m.group(1), timeout=10)
        assert answer.status_code == 200 and "content-security-policy" in answer.headers
        assert '<script src="/widget.js"' in answer.text
    finally:
        proc.send_signal(getattr(signal, stop))
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    data_dir = re.search(r"starting the server in (\S+)", err)
    assert data_dir and not os.path.exists(data_dir.group(1))
    with pytest.raises(httpx.ConnectError):  # the server is gone too
        httpx.get(m.group(1), timeout=5)


def _demo_web_note(args: list[str], env: dict[str, str]) -> str:
    """Start ``handoff demo --web ARGS``, wait for its page, stop it with ctrl+c; returns
    the note it wrote on starting."""
    import re
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "handoff_cli", "demo", "--web", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("demo page: "), proc
        assert proc.stdout.readline().startswith("answer as an agent: "), proc
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    note = next((line for line in err.splitlines() if line.startswith("starting the server")), "")
    assert re.search(r"(later runs load it|loading the cached index) from \S+", note), err
    return note


def _own_dirs(tmp_path) -> dict[str, str]:
    """The environment without HANDOFF_ variables, with the user's data and cache dirs
    (XDG) in ``tmp_path``: the default data dir and the index cache are not the user's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "share")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    return env


def test_demo_and_serve_share_one_index_cache(tmp_path):
    """``handoff demo`` kept its index in the user cache dir (~/.cache/handoff/index),
    ``handoff serve`` in its data dir's cache (~/.local/share/handoff/cache): the demo
    now uses the server's, so a ``handoff serve`` after a demo loads the demo's index
    instead of building it again. The default data dir is created private (0700)."""
    import re
    import stat

    env = _own_dirs(tmp_path)
    data_dir = tmp_path / "share" / "handoff"
    cache = data_dir / "cache"
    note = _demo_web_note([], env)
    assert f"later runs load it from {cache})" in note, note
    built = list(cache.glob("index-*.joblib"))
    assert len(built) == 1, (note, list(tmp_path.rglob("*.joblib")))
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    serve = subprocess.Popen(
        [sys.executable, "-m", "handoff_cli", "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert serve.stdout is not None
        assert "listening on" in serve.stdout.readline()
    finally:
        serve.terminate()
        _, err = serve.communicate(timeout=30)
    assert re.search(rf"loading the cached default index \({re.escape(str(built[0]))}\)", err), err
    assert "building the" not in err and "readable by other users" not in err, err
    # With the index cached the log and the demo's note say loading, not building.
    assert "not ready until the index is loaded (/readyz)" in err, err
    assert "until the index is built" not in err, err
    again = _demo_web_note([], env)
    assert again.endswith(f"(loading the cached index from {cache})"), again
    assert "builds its index" not in again, again


def test_the_demo_kb_estimate_is_the_readme_figure():
    """The demo's note ("about N s for the demo KB") and the README's figure for the
    first demo's build agree: they said 9 s and 10 s."""
    import re

    from handoff_server.kb import load_kb
    from handoff_server.warmup import build_estimate

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    m = re.search(r"index \(about (\d+) s on a quiet 2-core machine", readme)
    assert m, "the README's figure moved"
    assert round(build_estimate(load_kb(None), "default")) == int(m.group(1))


def test_demo_says_how_long_the_first_build_of_its_kb_takes(tmp_path):
    """The starting note gives the server's own estimate for the KB in use (BANKING77's
    took a minute while the note said "about 10 s for the demo KB")."""
    import re

    from handoff_server.kb import load_kb
    from handoff_server.warmup import build_estimate

    kb = tmp_path / "kb.csv"
    rows = [f"how do I {verb} my {thing},{thing}" for thing in ("card", "loan", "pin")
            for verb in ("renew", "change", "cancel", "check")]  # fmt: skip
    kb.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    env = _own_dirs(tmp_path)
    note = _demo_web_note(["--kb", str(kb)], env)
    m = re.search(r"builds its index, about (\d+) s for this KB", note)
    assert m, note
    assert int(m.group(1)) == round(build_estimate(load_kb(kb), "default"))
    assert str(tmp_path / "share") in note
    default = round(build_estimate(load_kb(None), "default"))
    assert default != int(m.group(1))  # the demo KB's figure would be another


async def test_agent_waits_for_a_server_still_starting_and_says_so(
    tmp_path, monkeypatch, demo_answerer
):
    """``handoff agent`` started with the server (its index still building: handshakes
    get HTTP 503 ``not_ready``) exited at once with ``error[not_ready]``, where a lost
    connection is waited for. It waits, showing that the server is starting, and signs
    in once the server is ready."""
    import threading

    import handoff_server.answering as answering
    import handoff_server.gateway as gateway
    from handoff_server.app import start_server
    from handoff_server.handshake import not_ready
    from tests.conftest import create_token, make_settings

    release = threading.Event()

    def slow_build(*args):
        assert release.wait(60), "the test never released the build"
        return demo_answerer

    refused: list[object] = []

    def counted(*args):
        refused.append(args)
        return not_ready(*args)

    async def release_once_the_ui_was_refused() -> None:
        while len(refused) < 2:  # the CLI's token check, then the UI's own attempt
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)  # a retry or two more while it waits
        release.set()

    monkeypatch.setattr(answering, "make_answerer", slow_build)
    monkeypatch.setattr(gateway, "not_ready", counted)
    srv = await start_server(make_settings(tmp_path / "data"), build_in_background=True)
    releasing = asyncio.ensure_future(release_once_the_ui_was_refused())
    try:
        token = await create_token(srv, "Sam")
        code, output = await asyncio.to_thread(
            _run_in_terminal,
            [sys.executable, "-m", "handoff_cli", "agent", "--server", srv.url, "--token", token],
            25,  # the UI never exits: it runs this long (room for back-off on a busy machine)
        )
    finally:
        release.set()
        releasing.cancel()
        await srv.close()
    assert code is None, output[-2000:]  # still running when the test stopped it
    assert "error[not_ready]" not in output
    starting = output.find("is starting (building index)")
    assert starting >= 0, output[-3000:]
    assert output.find("● online", starting) > starting, output[-3000:]  # signed in
