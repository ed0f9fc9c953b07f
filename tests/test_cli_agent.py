"""`handoff agent` and `handoff demo` refuse bad options before starting anything."""

from __future__ import annotations

from typer.testing import CliRunner

from handoff_cli.main import app

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
