"""``handoff simulate --policy``: servers the simulator starts itself ('handoff serve'
subprocesses on free ports) — the before/after comparison, and a question set measured
through a live server against ``handoff eval`` on the same questions."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from tests.helpers import run_handoff

ROOT = Path(__file__).resolve().parents[2]
CLINC = ROOT.parent / "shared" / "data" / "clinc150"
ROUTINE = ROOT / "examples" / "scenarios" / "routine-questions.toml"
CONFIDENCE_ONLY = ROOT / "examples" / "policies" / "confidence-only.toml"


async def test_compare_runs_the_same_workload_under_both_policies(tmp_path):
    """A stricter threshold hands off answers the default policy lets the AI give: the
    comparison shows both, and the exit status is the new policy's (it fails)."""
    strict = tmp_path / "strict.toml"
    strict.write_text("threshold = 0.99\n", encoding="utf-8")
    args = ["simulate", "--scenario", str(ROUTINE), "--policy", str(strict), "--compare"]
    proc = await run_handoff(*args, "--json", "--data-dir", str(tmp_path / "runs"), timeout=300)
    assert proc.returncode == 1, proc.stderr
    before, after = json.loads(proc.stdout)["compare"]
    assert (before["policy"], after["policy"]) == ("default policy", str(strict))
    assert before["report"]["escalations"]["total"] == 0
    assert before["report"]["expectations"]["failed"] == 0
    assert after["report"]["escalations"]["by_trigger"]["low_confidence"] >= 3
    assert after["report"]["containment"] < before["report"]["containment"]
    assert before["report"]["server"] != after["report"]["server"]
    text = await run_handoff(*args, "--data-dir", str(tmp_path / "runs"), timeout=300)
    assert text.returncode == 1
    header = text.stdout.splitlines()[0]
    assert "default policy" in header and str(strict)[-20:] in header
    assert any(line.startswith("containment") for line in text.stdout.splitlines())


def _clinc_sample(tmp_path: Path, intents: int = 10, oos: int = 40) -> tuple[Path, Path]:
    """A KB CSV of ``intents`` CLINC150 intents (their train rows, and train's oos
    rows) and a question set of their val rows plus ``oos`` val oos rows. Two of the
    intents are small talk (``greeting``, ``are_you_a_bot``), which the KB then answers
    itself; the rest are drawn (seed 13) from the other domains."""
    if not CLINC.is_dir():
        pytest.skip(f"CLINC150 is not at {CLINC} (shared/data beside the checkout)")
    domains = json.loads((CLINC / "domains.json").read_text(encoding="utf-8"))
    pool = sorted(i for d, names in domains.items() if d != "small_talk" for i in names)
    chosen = {"greeting", "are_you_a_bot", *random.Random(13).sample(pool, intents - 2)}
    kb, questions = tmp_path / "kb.csv", tmp_path / "questions.csv"
    for source, target, oos_rows in (("train", kb, None), ("val", questions, oos)):
        with (CLINC / f"{source}.csv").open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        kept = [r for r in rows[1:] if r[1] in chosen]
        out_of_scope = [r for r in rows[1:] if r[1] == "oos"][:oos_rows]
        with target.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows([rows[0], *kept, *out_of_scope])
    return kb, questions


async def test_a_question_set_through_the_server_matches_handoff_eval(tmp_path):
    """The same questions at the same threshold: conversations through a live server
    (escalating on confidence alone) and ``handoff eval`` report the same containment,
    escalations, out-of-scope recall, coverage and wrong-answer rate."""
    kb, questions = _clinc_sample(tmp_path)
    runs = tmp_path / "runs"
    sim = await run_handoff(
        "simulate", "--policy", str(CONFIDENCE_ONLY), "--kb", str(kb),
        "--questions", str(questions), "--data-dir", str(runs), "--json", timeout=600,
    )  # fmt: skip
    assert sim.stdout.strip(), sim.stderr
    report = json.loads(sim.stdout)
    ev = await run_handoff(
        "eval", "--questions", str(questions), "--kb", str(kb), "--threshold", "0.7",
        "--json", "--data-dir", str(runs), timeout=600,
    )  # fmt: skip
    assert ev.returncode == 0, ev.stderr
    expected = json.loads(ev.stdout)
    got = report["questions"]
    assert report["errors"]["total"] == 0 and got["left_out_with_errors"] == 0
    assert (got["n"], got["n_oos"]) == (expected["n"], expected["n_oos"]) == (240, 40)
    # Triggers first: a turn whose AI ran out of time under load escalates with
    # ai_error, which must show as such, not as one escalation too many.
    assert report["escalations"]["by_trigger"] == {"low_confidence": got["escalated"]}
    assert got["escalated"] == round(expected["n"] * (1 - expected["coverage"])), report
    for key in ("containment", "oos_recall", "coverage", "wrong_answer_rate"):
        assert got[key] == pytest.approx(expected[key], abs=1e-12), key
    assert got["answered_without_source"] == 0
    assert sim.returncode == (1 if report["expectations"]["failed"] else 0)
