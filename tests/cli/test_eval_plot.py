"""``handoff eval --plot FILE``, ``handoff --version`` and shell completion, through
typer's CliRunner."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handoff_cli.main import app

pytestmark = pytest.mark.cli

DEMO_QUESTIONS = Path(__file__).resolve().parents[1] / "data" / "demo_questions.csv"
runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def _eval(data_dir: Path, *extra: str) -> object:
    args = ["eval", "--questions", str(DEMO_QUESTIONS), "--data-dir", str(data_dir), *extra]
    return runner.invoke(app, args)


def test_plot_writes_png_and_svg_and_leaves_stdout_alone(tmp_path: Path, data_dir: Path) -> None:
    plain = _eval(data_dir, "--sweep", "--json")
    png, svg = tmp_path / "out.png", tmp_path / "out.svg"
    drawn = _eval(data_dir, "--sweep", "--json", "--plot", str(png))
    assert drawn.exit_code == 0, drawn.output
    assert drawn.stdout == plain.stdout
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 20_000
    res = _eval(data_dir, "--plot", str(svg))
    assert res.exit_code == 0, res.output
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert not list(tmp_path.glob(".*.tmp*"))  # no temporary file left behind


def test_plot_refuses_other_extensions_before_any_work(tmp_path: Path) -> None:
    res = _eval(tmp_path / "never", "--plot", str(tmp_path / "out.jpg"))
    assert res.exit_code == 2
    assert res.stderr.startswith(
        "error[invalid_option]: --plot: 'out.jpg' must end in .png or .svg"
    )
    assert not (tmp_path / "never").exists()


def test_plot_without_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises ImportError
    res = _eval(tmp_path / "never", "--plot", str(tmp_path / "out.png"))
    assert res.exit_code == 2
    assert res.stderr.startswith("error[missing_extra]: --plot needs matplotlib")
    assert "pip install 'handoff[plots]' (in a checkout: pip install -e '.[plots]')" in res.stderr


def test_version_comes_from_the_package_metadata() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.stdout == f"handoff {metadata.version('handoff')}\n"


def test_shell_completion_is_offered_and_completes_commands() -> None:
    res = runner.invoke(app, ["--help"])
    assert "--install-completion" in res.stdout and "--show-completion" in res.stdout
    env = {"_HANDOFF_COMPLETE": "complete_bash", "COMP_WORDS": "handoff ev", "COMP_CWORD": "1"}
    res = runner.invoke(app, [], prog_name="handoff", env=env)
    assert res.stdout.split() == ["eval"]


@pytest.mark.parametrize("command", ["eval", "simulate"])
def test_a_questions_file_with_a_wrong_header_is_bad_questions(
    tmp_path: Path, command: str
) -> None:
    """The same mistake in the same kind of file had two codes: ``handoff eval`` said
    ``bad_kb`` (the questions are no knowledge base), ``simulate`` ``bad_questions``."""
    import os
    import subprocess

    questions = tmp_path / "q.csv"
    questions.write_text("question,answer\nhow do I reset my password,reset\n")
    extra = ["--server", "ws://127.0.0.1:9"] if command == "simulate" else []
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    res = subprocess.run(
        [sys.executable, "-m", "handoff_cli", command, "--questions", str(questions), *extra,
         "--data-dir", str(tmp_path / "d")] if command == "eval" else
        [sys.executable, "-m", "handoff_cli", command, "--questions", str(questions), *extra],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(
        f"error[bad_questions]: {questions}:1: questions CSV needs the header 'text,label'"
    ), res.stderr
