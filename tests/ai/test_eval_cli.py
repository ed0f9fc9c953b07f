"""`handoff eval` through typer's CliRunner: the keys the issue lists, sweep, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handoff_cli.main import app
from handoff_server.kb import load_kb

runner = CliRunner()
KEYS = {
    "in_scope_accuracy",
    "containment",
    "oos_recall",
    "wrong_answer_rate",
    "coverage",
    "aurc",
    "ece",
    "threshold",
    "n",
}


@pytest.fixture(scope="module")
def questions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kb = load_kb(None)
    rows = [(e.questions[0], e.id) for e in kb.entries[:10]]
    rows += [("what's the capital of peru", "oos"), ("write a haiku about cats", "oos")]
    f = tmp_path_factory.mktemp("q") / "q.csv"
    f.write_text("text,label\n" + "".join(f'"{t}",{lab}\n' for t, lab in rows), encoding="utf-8")
    return f


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def test_eval_json_keys(questions: Path, data_dir: Path) -> None:
    res = runner.invoke(
        app, ["eval", "--questions", str(questions), "--json", "--data-dir", str(data_dir)]
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert KEYS <= set(report)
    assert report["n"] == 12 and report["threshold"] == 0.70
    for k in KEYS - {"threshold", "n"}:
        assert 0.0 <= report[k] <= 1.0
    # The demo KB's own example questions are in the KB: all top answers right.
    assert report["in_scope_accuracy"] == 1.0


def test_eval_sweep_recommends_threshold(questions: Path, data_dir: Path) -> None:
    res = runner.invoke(
        app,
        [
            "eval",
            "--questions",
            str(questions),
            "--json",
            "--sweep",
            "--target-risk",
            "0.02",
            "--data-dir",
            str(data_dir),
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    rec = report["recommended_threshold"]
    assert rec is not None and report["threshold"] == rec
    assert report["wrong_answer_rate"] <= 0.02
    assert len(report["sweep"]) == 101
    text = runner.invoke(
        app,
        [
            "eval",
            "--questions",
            str(questions),
            "--sweep",
            "--threshold",
            "0.5",
            "--data-dir",
            str(data_dir),
        ],
    )
    assert text.exit_code == 0 and "recommended_threshold" in text.stdout
    assert "threshold | containment" in text.stdout


def test_eval_accepts_csv_kb(tmp_path: Path, data_dir: Path) -> None:
    kb = tmp_path / "kb.csv"
    kb.write_text(
        "text,label\nreset my password,pw\nforgot password,pw\ncancel my plan,cancel\n"
        "stop my subscription,cancel\n",
        encoding="utf-8",
    )
    q = tmp_path / "q.csv"
    q.write_text(
        "text,label\nI forgot my password,pw\nplease cancel the plan,cancel\n", encoding="utf-8"
    )
    res = runner.invoke(
        app,
        [
            "eval",
            "--kb",
            str(kb),
            "--questions",
            str(q),
            "--json",
            "--threshold",
            "0",
            "--data-dir",
            str(data_dir),
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["in_scope_accuracy"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--questions", "/nonexistent.csv"], "not found"),
        (["--questions", "{bad}"], "header"),
        (["--questions", "{good}", "--engine", "nope"], "unknown engine"),
        (["--questions", "{good}", "--threshold", "1.5"], "less than or equal to 1"),
        (["--questions", "{good}", "--kb", "/nonexistent"], "no such file"),
    ],
)
def test_eval_bad_input(args: list[str], message: str, tmp_path: Path, questions: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer\na,b\n", encoding="utf-8")
    args = [a.format(bad=bad, good=questions) for a in args]
    res = runner.invoke(app, ["eval", *args, "--data-dir", str(tmp_path)])
    assert res.exit_code != 0
    assert message in res.output
