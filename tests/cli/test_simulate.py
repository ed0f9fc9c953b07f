"""``handoff simulate`` run as a person runs it (a separate process) against real servers
on ephemeral ports: the example scenarios, a failing expectation, the agents' loop,
features the server lacks, and option mistakes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from handoff_cli.main import app
from tests.conftest import create_token
from tests.helpers import run_handoff

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "scenarios").glob("*.toml"))
ROUTING_KEYS = {"wait_estimate", "fallback"}

runner = CliRunner()

SHARED_TOKEN_CAPACITY = 100
"""With ``--agent-token`` every simulated agent signs in as the same agent, so the server's
capacity for that one agent (issue 11: at most N conversations at once) must cover the
whole desk; an agent token at the default capacity of 3 refuses the fourth claim with
``at_capacity``."""


async def simulate(url: str, *args: str, timeout: float = 120) -> tuple[int, dict[str, Any], str]:
    """Run ``handoff simulate --server URL ARGS --json``: exit status, report, stderr."""
    proc = await run_handoff("simulate", "--server", url, "--json", *args, timeout=timeout)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def test_the_examples_are_there():
    names = {p.stem for p in EXAMPLES}
    assert {
        "routine-questions",
        "frustrated-visitor",
        "keyword-escalation",
        "human-request",
        "no-agents-online",
        "long-conversation",
        "reconnecting-visitor",
    } <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
async def test_each_example_passes_against_a_real_server(server, example: Path):
    """Every example runs without an error and meets all its expectations (the routing
    ones included: the server has issue 11's wait estimates and fallbacks)."""
    token = await create_token(server, capacity=SHARED_TOKEN_CAPACITY)
    code, report, _ = await simulate(server.url, "--scenario", str(example), "--agent-token", token)
    conversations = report["conversations"]
    assert conversations["started"] == conversations["finished"] >= 1
    assert report["errors"] == {"total": 0, "by_code": {}}
    assert report["expectations"]["failures"] == []
    assert code == 0
    assert report["expectations"]["checked"] >= 1


async def test_no_agents_online_visitors_are_told_the_wait_and_offered_a_fallback(server):
    """With nobody online, the server (issue 11's routing) tells each handed-off visitor
    a wait estimate and offers the fallbacks: every expectation of the example holds, read
    from the frames the visitors received (exit 0)."""
    example = ROOT / "examples" / "scenarios" / "no-agents-online.toml"
    code, report, _ = await simulate(server.url, "--scenario", str(example))
    assert report["expectations"]["failures"] == []
    assert report["expectations"]["checked"] >= 6
    assert code == 0
    assert report["escalations"]["by_trigger"] == {"human_request": 1, "low_confidence": 1}


async def test_the_summary_counts_visitors_still_queued_apart_from_those_who_gave_up(server):
    """Without ``--agents`` nobody claims the two handed-off conversations: the text
    summary says they are still queued, and counts none as having given up (it used to
    print "0 left waiting for an agent" while both waited); ``--json`` gives ``queued``."""
    example = str(ROOT / "examples" / "scenarios" / "no-agents-online.toml")
    proc = await run_handoff("simulate", "--server", server.url, "--scenario", example)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("conversations"))
    assert "0 gave up waiting for an agent, 2 still queued" in line
    assert "left waiting" not in line
    _, report, _ = await simulate(server.url, "--scenario", example)
    assert report["conversations"]["queued"] == 2
    assert report["conversations"]["abandoned"] == 0


FAILING = """
name = "a wrong expectation"
think_time = 0

[[visitors]]
name = "Ada"
expect = { escalated = false }

  [[visitors.turns]]
  say = "how do I reset my password"
  expect = { answered_from = "dns-mx-records", min_confidence = 0.5 }
"""


async def test_a_failing_expectation_exits_1_with_its_transcript(server, tmp_path):
    scenario = tmp_path / "failing.toml"
    scenario.write_text(FAILING, encoding="utf-8")
    proc = await run_handoff("simulate", "--server", server.url, "--scenario", str(scenario))
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "1 failed" in out
    assert "FAILED Ada" in out
    assert "turn 1 answered_from: expected 'dns-mx-records', got ['account-password-reset']" in out
    assert "visitor message: how do I reset my password" in out
    assert "ai ai_message (confidence=" in out and "sources=['account-password-reset']" in out
    code, report, _ = await simulate(server.url, "--scenario", str(scenario))
    (failure,) = report["expectations"]["failures"]
    assert code == 1 and failure["verdict"] == "unmet" and failure["turn"] == 1
    said = [line["text"] for line in failure["transcript"] if line["who"] == "visitor"]
    assert said == ["how do I reset my password"]
    answers = [line for line in failure["transcript"] if line["kind"] == "ai_message"]
    assert answers[0]["sources"] == ["account-password-reset"]


HANDBACK = """
name = "handback"
think_time = 0

[agents]
count = 1
claim_delay = 0.1
reply_delay = 0.1
wrap_up = 0.1
handback_share = 1.0

[[visitors]]
name = "Alan"
expect = { handed_back = true, resolved = false, no_ai_after_handoff = true }

  [[visitors.turns]]
  say = "I want to talk to a person"
  expect = { escalated_by = "human_request" }

  [[visitors.turns]]
  wait_for = "handed_back"

  [[visitors.turns]]
  say = "how do I reset my password"
  expect = { answered_from = "account-password-reset" }
"""


async def test_agents_claim_reply_and_hand_back(server, tmp_path):
    """escalation → queue → claim → reply → handback, then the AI answers again; the
    report has the pickup time and the agents' counts."""
    scenario = tmp_path / "handback.toml"
    scenario.write_text(HANDBACK, encoding="utf-8")
    token = await create_token(server, capacity=SHARED_TOKEN_CAPACITY)
    code, report, _ = await simulate(
        server.url, "--scenario", str(scenario), "--agent-token", token
    )
    assert code == 0, report["expectations"]
    agents = report["agents"]
    assert (agents["claims"], agents["replies"], agents["handed_back"]) == (1, 1, 1)
    assert agents["resolved"] == 0 and agents["errors"] == {}
    assert report["latency_seconds"]["agent_pickup"]["n"] == 1
    assert report["conversations"]["handed_back"] == 1
    assert report["escalations"]["by_team"] == {"(none)": 1}


async def test_load_from_a_question_set_with_agents(server, tmp_path):
    """Closed loop over the demo question set with agents: every handoff is picked up,
    and the server's /metrics moved by the frames sent."""
    token = await create_token(server, capacity=SHARED_TOKEN_CAPACITY)
    questions = ROOT / "tests" / "data" / "demo_questions.csv"
    code, report, _ = await simulate(
        server.url,
        "--questions", str(questions), "--count", "40", "--concurrency", "10",
        "--agents", "2", "--agent-token", token, "--claim-delay", "0", "--patience", "30",
        "--handback-share", "0.5", "--agent-reply-kb",
    )  # fmt: skip
    assert report["conversations"]["started"] == 40
    assert report["errors"]["total"] == 0
    assert report["questions"]["n"] == 40
    assert report["conversations"]["claimed"] == report["conversations"]["escalated"]
    change = report["server_metrics"]["change"]
    agents = report["agents"]

    def frames(kind: str) -> float:
        return change.get(f'handoff_frames_total{{kind="{kind}"}}', 0.0)

    assert frames("start") == 40
    assert agents["claims"] == frames("claim") == frames("reply") == frames("open") >= 2
    assert (agents["resolved"], agents["handed_back"]) == (frames("resolve"), frames("handback"))
    assert agents["resolved"] + agents["handed_back"] == agents["claims"]


def _cli(*args: str) -> Any:
    return runner.invoke(app, ["simulate", *args])


def test_a_bad_scenario_lists_every_problem_with_its_place(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        """
[[visitors]]
name = "Ada"
  [[visitors.turns]]
  say = "hi"
  expect = { min_confidence = 1.5, escalated_by = "keywords", answerd = true }
  [[visitors.turns]]
  think_time = 1
""",
        encoding="utf-8",
    )
    result = _cli("--scenario", str(bad), "--server", "ws://127.0.0.1:9")
    assert result.exit_code == 2
    err = result.output
    assert "error[bad_scenario]" in err
    assert (
        "visitors.0.turns.0.expect.min_confidence: Input should be less than or equal to 1" in err
    )
    assert "visitors.0.turns.0.expect.escalated_by: unknown trigger 'keywords'" in err
    assert "visitors.0.turns.0.expect.answerd: Extra inputs are not permitted" in err
    assert "visitors.0.turns.1: a turn needs say, request_human = true or wait_for" in err


def test_not_toml_is_refused(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[visitors]\nname=", encoding="utf-8")
    result = _cli("--scenario", str(bad))
    assert result.exit_code == 2 and "error[bad_scenario]" in result.output
    assert "not valid TOML" in result.output


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        ([], "invalid_option", "--scenario FILE or --questions FILE"),
        (["--rate", "1", "--concurrency", "2"], "invalid_option", "choose one"),
        (["--count", "1", "--duration", "2"], "invalid_option", "choose one"),
        (["--compare"], "invalid_option", "--compare needs --policy"),
        (["--kb", "."], "invalid_option", "for the servers --policy starts"),
        (["--agents", "2"], "no_token", "handoff token create"),
    ],
)
def test_option_mistakes(args, code, words):
    questions = str(ROOT / "tests" / "data" / "demo_questions.csv")
    extra = [] if not args else ["--questions", questions]
    result = _cli(*extra, *args)
    assert result.exit_code == 2
    assert f"error[{code}]" in result.output and words in result.output


def test_a_team_expectation_needs_an_agent_token():
    example = ROOT / "examples" / "scenarios" / "keyword-escalation.toml"
    result = _cli("--scenario", str(example))
    assert result.exit_code == 2 and "error[no_token]" in result.output
    assert "visitors.0.expect.team" in result.output


async def test_an_unreachable_server_is_a_clear_error(tmp_path):
    example = ROOT / "examples" / "scenarios" / "routine-questions.toml"
    proc = await run_handoff("simulate", "--server", "ws://127.0.0.1:9", "--scenario", str(example))
    assert proc.returncode == 2 and "error[connect_failed]" in proc.stderr


async def test_a_refused_agent_token_is_a_clear_error(server):
    example = ROOT / "examples" / "scenarios" / "human-request.toml"
    proc = await run_handoff(
        "simulate", "--server", server.url, "--scenario", str(example), "--agent-token", "hnd_nope"
    )
    assert proc.returncode == 2 and "error[unauthorized]" in proc.stderr
