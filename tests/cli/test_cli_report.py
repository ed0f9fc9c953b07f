"""``handoff report --team``: a team nobody names is an error naming it and the teams
that are named, not an empty report that reads as "no escalations"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from handoff_cli.main import app
from tests.helpers import events, say, start_visitor

runner = CliRunner()


async def test_report_on_an_unknown_team_is_an_error_naming_the_known_ones(
    server_factory: Any, tmp_path: Path
) -> None:
    """Known teams come from a stored escalation (retention: only the server's policy
    routes there), an agent (tier-2), the config (vip) and the policy in force (billing,
    legal, security by default). ``--team NOSUCH`` printed an empty report and exited 0."""
    data = tmp_path / "data"
    server = await server_factory(
        data_dir=data, policy={"keyword": {"teams": {"cancel account": "retention"}}}
    )
    conn, _ = await start_visitor(server.url, name="Ada")
    assert events(await say(conn, "I want to cancel my account"), "escalated")
    await conn.close()
    db = server.store.store
    (stored,) = await server.store.call(db.events_of_kinds, ("escalated",), None, None)
    assert stored.data["team"] == "retention"  # the visitor's copy does not show it
    made = runner.invoke(
        app, ["token", "create", "--name", "Kim", "--team", "tier-2", "--data-dir", str(data)]
    )
    assert made.exit_code == 0, made.output
    config = tmp_path / "handoff.toml"
    config.write_text('[assignment]\npush_teams = ["vip"]\n')
    where = ["--data-dir", str(data), "--config", str(config)]

    unknown = runner.invoke(app, ["report", "--team", "NOSUCH", *where])
    assert unknown.exit_code == 2, unknown.output
    assert unknown.stdout == ""
    assert unknown.stderr == (
        "error[not_found]: --team 'NOSUCH': no escalation, agent, assignment setting or"
        " policy names this team; known teams: billing, legal, retention, security, tier-2,"
        " vip\n"
    )
    unknown_json = runner.invoke(app, ["report", "--team", "NOSUCH", "--json", *where])
    assert (unknown_json.exit_code, unknown_json.stdout) == (2, "")

    retention = runner.invoke(app, ["report", "--team", "retention", *where])
    assert retention.exit_code == 0, retention.output
    assert "team retention: 1 escalated" in retention.stdout
    for quiet in ("tier-2", "vip", "legal"):  # named, no escalation: an empty report
        done = runner.invoke(app, ["report", "--team", quiet, *where])
        assert done.exit_code == 0, done.output
        assert done.stdout.startswith("0 conversations (UTC)"), done.stdout
