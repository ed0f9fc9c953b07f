"""``handoff token create --team --capacity`` and ``handoff agents list|set``, run as a
person runs them; a running server takes a change at the agent's next sign-in."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from handoff_cli.main import app
from handoff_server.protocol import APresence, SStaff
from tests.helpers import agent, run_handoff

runner = CliRunner()


def _handoff(*args: str):
    return runner.invoke(app, list(args))


def _agents(data: Path) -> dict[str, dict]:
    result = _handoff("agents", "list", "--json", "--data-dir", str(data))
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_token_create_stores_teams_and_capacity_and_agents_set_changes_them(tmp_path):
    data = tmp_path / "d"
    made = _handoff(
        "token", "create", "--name", "Sam", "--team", "billing", "--team", "security",
        "--team", "billing", "--capacity", "4", "--data-dir", str(data),
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert _handoff("token", "create", "--name", "Kim", "--data-dir", str(data)).exit_code == 0
    rows = _agents(data)
    assert rows["Sam"]["teams"] == ["billing", "security"] and rows["Sam"]["capacity"] == 4
    assert rows["Kim"]["teams"] == [] and rows["Kim"]["capacity"] == 3
    assert rows["Kim"]["capacity_is_default"] is True

    plain = _handoff("agents", "list", "--data-dir", str(data)).stdout.splitlines()
    assert plain[1].split()[-2:] == ["billing,security", "4"]
    assert plain[2].split()[-4:] == ["(every", "team)", "3", "(default)"]

    changed = _handoff("agents", "set", "Kim", "--team", "tier-2", "--data-dir", str(data))
    assert changed.exit_code == 0, changed.output
    assert "next sign-in" in changed.stdout
    kim = _agents(data)["Kim"]
    assert (kim["teams"], kim["capacity"]) == (["tier-2"], 3)  # capacity kept
    by_id = _handoff(
        "agents", "set", rows["Sam"]["id"], "--no-teams", "--default-capacity",
        "--data-dir", str(data),
    )  # fmt: skip
    assert by_id.exit_code == 0, by_id.output
    sam = _agents(data)["Sam"]
    assert (sam["teams"], sam["capacity_is_default"]) == ([], True)


async def test_a_refused_role_reads_as_the_choices_not_as_pydantic(tmp_path):
    """``--role admin`` names the two roles, without pydantic's "Value error," in front."""
    data = str(tmp_path / "d")
    done = await run_handoff(
        "token", "create", "--name", "X", "--role", "admin", "--data-dir", data
    )
    assert done.returncode == 2, done
    first, hint = done.stderr.splitlines()
    assert first == (
        "error[invalid_option]: Invalid value for '--role': "
        "'admin' is not one of 'agent', 'operator'."
    ), done.stderr
    assert hint.startswith("Try '") and hint.endswith(" token create --help' for help."), hint
    assert done.stdout == ""


def test_agents_mistakes_are_clear_errors(tmp_path):
    data = str(tmp_path / "d")
    bad_team = _handoff("token", "create", "--name", "X", "--team", "[red]x", "--data-dir", data)
    assert bad_team.exit_code == 2 and "error[invalid_option]: --team" in bad_team.output
    assert _handoff("agents", "list", "--json", "--data-dir", data).stdout.strip() == "[]"
    missing = _handoff("agents", "set", "Nobody", "--capacity", "2", "--data-dir", data)
    assert missing.exit_code == 2 and "error[not_found]" in missing.output
    for _ in range(2):  # a name is free again once its token is revoked
        assert _handoff("token", "create", "--name", "Twin", "--data-dir", data).exit_code == 0
        assert _handoff("token", "revoke", "Twin", "--data-dir", data).exit_code == 0
    twins = _handoff("agents", "set", "Twin", "--capacity", "2", "--data-dir", data)
    assert twins.exit_code == 2 and "give the id" in twins.output
    both = _handoff("agents", "set", "Twin", "--team", "a", "--no-teams", "--data-dir", data)
    assert both.exit_code == 2 and "exclude each other" in both.output
    zero = _handoff("agents", "set", "Twin", "--capacity", "0", "--data-dir", data)
    assert zero.exit_code == 2


async def test_a_running_server_takes_the_change_at_the_next_sign_in(server_factory, tmp_path):
    data = tmp_path / "d"
    srv = await server_factory(data_dir=data)
    made = await run_handoff("token", "create", "--name", "Sam", "--data-dir", str(data))
    token = made.stdout.splitlines()[-1]

    async def roster_teams() -> list[str]:
        conn = await agent(srv.url, token)
        await conn.send(APresence(type="presence", status="online"))
        staff = (await conn.recv_until(lambda f: isinstance(f, SStaff)))[-1]
        await conn.close()
        (sam,) = [a for a in staff.agents if a.name == "Sam"]
        return [*sam.teams, f"capacity={sam.capacity}"]

    assert await roster_teams() == ["capacity=3"]
    changed = await run_handoff(
        "agents", "set", "Sam", "--team", "billing", "--capacity", "5", "--data-dir", str(data)
    )
    assert changed.returncode == 0, changed.stderr
    assert await roster_teams() == ["billing", "capacity=5"]


async def test_visit_prints_a_transfer_as_a_neutral_sentence_and_transcript_shows_it(
    server_factory,
):
    from contextlib import redirect_stdout
    from io import StringIO

    from handoff_cli.client_commands import _VisitorView  # what `handoff visit` prints with
    from handoff_server.protocol import SEvent
    from tests.server.routing_kit import act, escalate, present

    srv = await server_factory(
        policy={"keyword": {"phrases": ["cancel account"], "teams": {"cancel account": "billing"}}}
    )
    sam, token, _ = await present(srv, "Sam")
    visitor, cid = await escalate(srv.url, "billing")
    await act(sam, "claim", cid)
    await act(sam, "transfer", cid, to_team="security", note="PRIVATE: breach suspected")
    frames = await visitor.recv_until(
        lambda f: isinstance(f, SEvent) and f.event.kind == "transferred"
    )
    printed = StringIO()
    with redirect_stdout(printed):
        for frame in frames:
            _VisitorView()(frame)
    assert "→ I'm passing your conversation to colleagues who can help with it." in (
        printed.getvalue()
    )
    assert "PRIVATE" not in printed.getvalue() and "security" not in printed.getvalue()
    shown = await run_handoff("transcript", cid, "--server", srv.url, "--token", token)
    assert "Sam → team security (PRIVATE: breach suspected)" in shown.stdout
    for conn in (sam, visitor):
        await conn.close()


def test_agents_list_says_which_tokens_no_longer_sign_in(tmp_path):
    """``agents list`` showed a revoked agent like any other, with its teams and
    capacity, as if it could still take conversations; it shows each token's state as
    ``token list`` does."""
    data = str(tmp_path / "d")
    for name in ("Sam", "Kim"):
        assert _handoff("token", "create", "--name", name, "--data-dir", data).exit_code == 0
    assert _handoff("token", "revoke", "Kim", "--data-dir", data).exit_code == 0
    rows = _agents(Path(data))
    assert (rows["Sam"]["state"], rows["Kim"]["state"]) == ("active", "revoked")
    plain = _handoff("agents", "list", "--data-dir", data).stdout.splitlines()
    assert plain[0].split()[:4] == ["id", "role", "state", "name"]
    states = {line.split()[3]: line.split()[2] for line in plain[1:]}
    assert states == {"Sam": "active", "Kim": "revoked"}


async def test_a_name_an_active_agent_has_is_refused_and_free_again_once_revoked(tmp_path):
    """``token create --name Sam`` twice made two Sams: alike on the roster and in the
    transfer dialog, and "Sam" no longer named one for ``agents set`` or ``token
    revoke``; the usual cause is a person given a new token while the old one still
    works. Refused (``exists``, any case); once Sam's token is revoked the name is free
    for the new one, and the name picks the active Sam."""
    data = str(tmp_path / "d")
    first = await run_handoff("token", "create", "--name", "Sam", "--data-dir", data)
    assert first.returncode == 0, first.stderr
    again = await run_handoff("token", "create", "--name", " sam", "--data-dir", data)
    assert again.returncode == 2, again
    assert again.stderr.startswith("error[exists]: an agent named 'Sam' already exists (agt_")
    assert "handoff token revoke agt_" in again.stderr and again.stdout == ""
    assert len(_agents(Path(data))) == 1

    assert (await run_handoff("token", "revoke", "Sam", "--data-dir", data)).returncode == 0
    new = await run_handoff("token", "create", "--name", "Sam", "--data-dir", data)
    assert new.returncode == 0, new.stderr
    changed = await run_handoff("agents", "set", "Sam", "--capacity", "2", "--data-dir", data)
    assert changed.returncode == 0, changed.stderr
    rows = json.loads(_handoff("agents", "list", "--json", "--data-dir", data).stdout)
    assert sorted((r["state"], r["capacity"]) for r in rows) == [("active", 2), ("revoked", 3)]


async def test_a_team_nothing_names_is_accepted_with_a_warning(tmp_path):
    """``agents set --team biling`` (a typo) was taken silently: Sam then got none of
    billing's conversations. A team no rule, setting, agent or escalation names is
    still accepted (a new team is staffed before a rule routes to it) but warned of on
    stderr, with the known teams and the close one; a known team gets no warning."""
    data = str(tmp_path / "d")
    made = await run_handoff("token", "create", "--name", "Sam", "--team", "billing",
                             "--data-dir", data)  # fmt: skip
    assert (made.returncode, made.stderr) == (0, ""), made  # the default policy routes there
    typo = await run_handoff("agents", "set", "Sam", "--team", "biling", "--data-dir", data)
    assert typo.returncode == 0, typo.stderr
    assert typo.stderr.startswith(
        "warning: --team 'biling' is a new team: no policy rule, setting, agent or escalation"
        " names it (known teams: billing, legal, security); did you mean 'billing'?"
    ), typo.stderr
    assert _agents(Path(data))["Sam"]["teams"] == ["biling"]
    new = await run_handoff("token", "create", "--name", "Kim", "--team", "tier-2",
                            "--data-dir", data)  # fmt: skip
    assert new.returncode == 0, new.stderr
    assert "warning: --team 'tier-2' is a new team" in new.stderr
    assert new.stdout.splitlines()[-1].startswith("hnd_")
