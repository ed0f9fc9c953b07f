"""`handoff eval` through typer's CliRunner: the keys the issue lists, sweep, bad input."""

from __future__ import annotations

import csv
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


def _eval(*args: str) -> dict[str, object]:
    res = runner.invoke(app, ["eval", *args])
    assert res.exit_code == 0, res.output
    report: dict[str, object] = json.loads(res.stdout)
    return report


def test_eval_sweep_says_when_no_threshold_can_promise(questions: Path, data_dir: Path) -> None:
    """Twelve questions, every top answer right: a 2% promise needs far more evidence, and
    the report says so instead of recommending a threshold."""
    report = _eval(
        "--questions",
        str(questions),
        "--json",
        "--sweep",
        "--target-risk",
        "0.02",
        "--data-dir",
        str(data_dir),
    )
    assert report["recommended_threshold"] is None
    assert str(report["recommendation"]).startswith("No threshold can promise at most 2.0%")
    assert report["threshold"] == 1.0 and report["oos_share"] == 0.2
    sweep = report["sweep"]
    assert isinstance(sweep, list) and len(sweep) == 101
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
    assert "threshold | containment" in text.stdout and "| upper_bound" in text.stdout
    assert "No threshold can promise" in text.stdout


@pytest.fixture(scope="module")
def many_questions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every demo KB example question (in scope) and 60 off-topic ones (the bundled
    generic set): enough evidence for a 5% promise."""
    from handoff_server.ai.generic_oos import GENERIC_OUT_OF_SCOPE

    kb = load_kb(None)
    rows = [(q, e.id) for e in kb.entries for q in e.questions]
    rows += [(q, "oos") for q in GENERIC_OUT_OF_SCOPE]
    f = tmp_path_factory.mktemp("q") / "many.csv"
    with f.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("text", "label"), *rows])
    return f


def test_eval_sweep_recommends_a_risk_controlled_threshold(
    many_questions: Path, data_dir: Path
) -> None:
    report = _eval(
        "--questions",
        str(many_questions),
        "--json",
        "--sweep",
        "--target-risk",
        "0.05",
        "--oos-share",
        "0.3",
        "--data-dir",
        str(data_dir),
    )
    rec = report["recommended_threshold"]
    assert isinstance(rec, float) and report["threshold"] == rec
    points = report["risk_coverage"]
    assert isinstance(points, list) and len(points) == 101
    assert set(points[0]) >= {"threshold", "coverage", "risk", "upper_bound"}
    chosen = next(p for p in points if p["threshold"] == rec)
    assert chosen["upper_bound"] <= 0.05 and chosen["coverage"] > 0.5
    assert all(p["upper_bound"] <= 0.05 for p in points if p["threshold"] >= rec)
    assert str(report["recommendation"]).startswith(f"Answer at confidence >= {rec:.2f}")
    assert "when 30% of questions are out of scope" in str(report["recommendation"])
    # The same questions at an out-of-scope share of 1 (only off-topic traffic) carry the
    # whole error budget on 60 questions: the bound rises.
    alone = _eval(
        "--questions",
        str(many_questions),
        "--json",
        "--sweep",
        "--target-risk",
        "0.05",
        "--oos-share",
        "1",
        "--data-dir",
        str(data_dir),
    )
    lone = next(p for p in alone["risk_coverage"] if p["threshold"] == rec)  # type: ignore[union-attr]
    assert lone["upper_bound"] > chosen["upper_bound"]


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
        (["--questions", "{good}", "--sweep", "--oos-share", "1.2"], "less than or equal to 1"),
        (["--questions", "{good}", "--sweep", "--risk-confidence", "1"], "0.999"),
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
