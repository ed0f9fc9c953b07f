"""Simulated agents behave as agents at a desk do (issue 13 after issue 11's routing): they
say they are online, take the server's push offers, and resolve with a resolution and a
verdict on the AI's answer. Real servers on ephemeral ports, ``handoff simulate`` run as a
separate process."""

from __future__ import annotations

from typing import Any

from tests.cli.test_simulate import simulate
from tests.conftest import create_token

REQUEST = """
name = "desk"
think_time = 0

[agents]
count = 2
claim_delay = 0.1
reply_delay = 0.1
wrap_up = 0.1

[[visitors]]
name = "Grace"
count = 3
expect = { escalated = true, resolved = true }

  [[visitors.turns]]
  say = "I want to talk to a person"
  expect = { escalated_by = "human_request" }

  [[visitors.turns]]
  wait_for = "resolved"
"""


def _frames(report: dict[str, Any], kind: str) -> float:
    change = report["server_metrics"]["change"]
    return float(change.get(f'handoff_frames_total{{kind="{kind}"}}', 0.0))


async def _run(
    srv: Any, tmp_path, tokens: int = 2, scenario: str = REQUEST
) -> tuple[int, dict[str, Any]]:
    """``handoff simulate`` of ``scenario`` with ``tokens`` agent tokens: exit, report."""
    path = tmp_path / "desk.toml"
    path.write_text(scenario, encoding="utf-8")
    args = ["--scenario", str(path)]
    for n in range(tokens):
        args += ["--agent-token", await create_token(srv, name=f"Sim {n}")]
    code, report, _ = await simulate(srv.url, *args)
    return code, report


async def test_simulated_agents_accept_push_offers_and_never_also_claim(server_factory, tmp_path):
    """On a server that pushes work, agents of a push desk take the server's offers:
    every handoff is taken by an ``accept``, none by a ``claim`` racing it, and nothing
    is refused."""
    srv = await server_factory(assignment={"mode": "push", "offer_timeout_seconds": 5})
    text = REQUEST.replace("count = 2\n", 'count = 2\nassignment = "push"\n')
    assert text != REQUEST
    code, report = await _run(srv, tmp_path, scenario=text)
    assert code == 0, report["expectations"]["failures"]
    agents = report["agents"]
    assert agents["offers"] == agents["claims"] == 3 and agents["claims_lost"] == 0
    assert agents["errors"] == {} and agents["resolved"] == 3
    assert _frames(report, "accept") == 3 and _frames(report, "claim") == 0
    assert _frames(report, "presence") == 2


async def test_simulated_agents_count_as_online_for_the_wait_estimate(server, tmp_path):
    """Signed-in simulated agents say they are online, so the server's staffing sees
    them: a visitor handed off is told a wait, never offered the fallbacks for when
    nobody is online (which is what the run got while they never said so)."""
    text = REQUEST.replace(
        'expect = { escalated_by = "human_request" }',
        'expect = { escalated_by = "human_request", wait_estimate = true, fallback = false }',
    )
    assert text != REQUEST
    code, report = await _run(server, tmp_path, scenario=text)
    assert code == 0, report["expectations"]["failures"]
    assert _frames(report, "presence") == 2


async def test_resolutions_carry_how_it_ended_and_the_verdict(server, tmp_path):
    """Resolved with ``resolution = "answered"`` and, the AI never having answered a
    visitor who asked for a person at once, ``ai_verdict = "not_attempted"``."""
    code, report = await _run(server, tmp_path, tokens=1)
    assert code == 0, report["expectations"]["failures"]
    store = server.store
    resolved = await store.call(store.store.events_of_kinds, ["resolved"], None, None)
    assert len(resolved) == 3
    assert {(e.data.get("resolution"), e.data.get("ai_verdict")) for e in resolved} == {
        ("answered", "not_attempted")
    }
