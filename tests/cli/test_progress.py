"""Progress of ``handoff kb build`` and ``handoff eval`` on stderr: drawn on a terminal
(typer's CliRunner with terminal streams, a pseudo-terminal, and a real terminal under
tmux), never with ``--json``/``--quiet`` or into a pipe; stdout is byte-identical with
and without a terminal."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import typer.testing
from typer.testing import CliRunner

from handoff_cli.main import app
from handoff_server.kb import load_kb

pytestmark = pytest.mark.cli

DEMO_QUESTIONS = Path(__file__).resolve().parents[1] / "data" / "demo_questions.csv"
STEP = "answering the questions"
"""A step name only the progress prints."""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose cache holds the demo KB's index after the first eval."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def labeled_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small labeled CSV (12 demo entries' example questions) for ``kb build``."""
    rows = [(q, e.id) for e in load_kb(None).entries[:12] for q in e.questions]
    path = tmp_path_factory.mktemp("csv") / "small.csv"
    path.write_text("text,label\n" + "".join(f'"{t}",{lab}\n' for t, lab in rows), encoding="utf-8")
    return path


def _eval_args(data_dir: Path, *extra: str) -> list[str]:
    return ["eval", "--questions", str(DEMO_QUESTIONS), "--data-dir", str(data_dir), *extra]


def test_cli_runner_progress_on_stderr_only_on_a_terminal(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    plain = runner.invoke(app, _eval_args(data_dir))
    assert plain.exit_code == 0, plain.output
    assert plain.stderr == ""
    monkeypatch.setattr(typer.testing._NamedTextIOWrapper, "isatty", lambda self: True)
    drawn = runner.invoke(app, _eval_args(data_dir))
    assert drawn.exit_code == 0, drawn.output
    assert STEP in drawn.stderr and "loading the KB" in drawn.stderr
    assert drawn.stdout == plain.stdout and STEP not in drawn.stdout
    for quiet in ("--json", "--quiet"):
        res = runner.invoke(app, _eval_args(data_dir, quiet))
        assert res.exit_code == 0 and res.stderr == "", res.stderr


def _stderr_on_a_pty(args: list[str]) -> tuple[int, bytes, str]:
    """Run ``handoff ARGS`` with stderr on a pseudo-terminal and stdout on a pipe;
    returns the exit status, stdout's bytes and what was drawn on the terminal."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        [sys.executable, "-m", "handoff_cli", *args],
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(slave)
    drawn = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        drawn.append(chunk)
    out = proc.stdout.read() if proc.stdout else b""
    code = proc.wait(timeout=300)
    os.close(master)
    return code, out, b"".join(drawn).decode(errors="replace")


def _piped(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    return subprocess.run(
        [sys.executable, "-m", "handoff_cli", *args],
        capture_output=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_eval_on_a_terminal_draws_progress_and_keeps_stdout_byte_identical(
    data_dir: Path,
) -> None:
    for extra in ((), ("--sweep",), ("--json",)):
        args = _eval_args(data_dir, *extra)
        piped = _piped(args)
        assert piped.returncode == 0 and piped.stderr == b"", piped.stderr
        code, out, drawn = _stderr_on_a_pty(args)
        assert code == 0, drawn
        assert out == piped.stdout
        if "--json" in extra:
            assert drawn == ""
        else:
            assert STEP in drawn


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_kb_build_under_tmux_shows_each_step(tmp_path: Path, labeled_csv: Path) -> None:
    """A real terminal: tmux runs ``kb build`` with stderr on its pane and stdout in a file;
    the pane shows the build's steps, the file only the result line."""
    session = f"handoff-progress-{uuid.uuid4().hex[:8]}"
    out, done = tmp_path / "stdout.txt", tmp_path / "rc.txt"
    env = " ".join(f"{k}={v!r}" for k, v in (("PYTHONPATH", os.environ.get("PYTHONPATH", "")),))
    cmd = (
        f"env -u HANDOFF_CONFIG {env} {sys.executable} -m handoff_cli kb build "
        f"--from-csv {labeled_csv} --out {tmp_path / 'kb'} --data-dir {tmp_path / 'data'} "
        f"> {out}; echo $? > {done}; sleep 120"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "150", "-y", "40", cmd], check=True
    )
    try:
        deadline = time.monotonic() + 240
        while not done.exists() or not done.read_text().strip():
            assert time.monotonic() < deadline, "kb build did not finish"
            time.sleep(0.5)
        pane = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", session],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    assert done.read_text().strip() == "0", pane
    for step in ("reading the CSV", "cross-validation folds", "held-out-topic rounds"):
        assert step in pane, pane
    assert "5/5" in pane and "4/4" in pane  # the folds and the rounds, counted
    written = out.read_text()
    assert written.startswith("wrote ") and written.count("\n") == 1, written
