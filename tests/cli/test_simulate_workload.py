"""The simulator's workload: arrival processes and the order conversations are handed
out in, and an open-loop run against a real server."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest

from handoff_cli.simulate import load_scenario, scenario_scripts
from handoff_cli.simulate.workload import ScriptFeed, poisson_gaps, question_scripts
from tests.cli.test_simulate import simulate

ROOT = Path(__file__).resolve().parents[2]
MIXED = ROOT / "examples" / "scenarios" / "mixed-traffic.toml"


def test_poisson_gaps_have_the_rate_asked_for():
    """Exponential gaps: mean 1/rate, and as spread as they are long (sd = mean)."""
    gaps = poisson_gaps(5.0, random.Random(7))
    sample = [next(gaps) for _ in range(20_000)]
    assert statistics.fmean(sample) == pytest.approx(0.2, rel=0.03)
    assert statistics.pstdev(sample) == pytest.approx(0.2, rel=0.05)


def test_a_pass_holds_each_visitor_count_times_in_a_seeded_order():
    scripts = scenario_scripts(load_scenario(MIXED))
    names = [s.name for s in scripts]
    assert len(names) == 17 and names.count("Frustrated") == 1
    assert {"DNS question", "DNS question #4"} <= set(names)
    feed = ScriptFeed(scripts, 34, random.Random(3), shuffle=True)
    drawn = [feed.next() for _ in range(35)]
    assert drawn[-1] is None
    first, second = drawn[:17], drawn[17:34]
    assert sorted(s.name for s in first) == sorted(names) == sorted(s.name for s in second)
    assert [s.name for s in first] != names  # shuffled within the pass
    again = ScriptFeed(scripts, 34, random.Random(3), shuffle=True)
    assert [again.next() for _ in range(34)] == drawn[:34]


def test_questions_expect_their_entry_or_a_handoff():
    scripts = question_scripts(ROOT / "tests" / "data" / "demo_questions.csv")
    oos = [s for s in scripts if s.label == "oos"]
    assert oos and all(s.turns[0].expect.escalated is True for s in oos)
    first = scripts[0]
    assert first.label == "domain-register"
    assert first.turns[0].expect.answered_from == "domain-register"


async def test_an_open_loop_run_starts_the_conversations_asked_for(server):
    code, report, _ = await simulate(
        server.url, "--scenario", str(MIXED), "--rate", "20", "--count", "12", "--think-time", "0",
        "--agents", "0",
    )  # fmt: skip
    assert report["workload"]["arrivals"] == "open loop (Poisson)"
    assert report["workload"]["rate_per_second"] == 20
    assert report["conversations"]["started"] == report["conversations"]["finished"] == 12
    assert report["errors"]["total"] == 0 and code == 0
