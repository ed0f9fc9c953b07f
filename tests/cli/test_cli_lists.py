"""``handoff token list`` and ``handoff agents list`` print a table: a header row, then
one row per agent, every column starting at the same terminal cell on every line (a
wide CJK name, a long name or a name with an escape sequence shifts nothing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from typer.testing import CliRunner

from handoff_cli.main import app

runner = CliRunner()

NAMES = ["Sam", "Bartholomew Quincy-Longname", "李小龍", "Eve\x1b[31m"]
"""Names of different widths: short, long, wide characters (two cells each), an escape
sequence (shown as the text ``\\x1b[31m``)."""


def _handoff(*args: str) -> Any:
    return runner.invoke(app, list(args))


def _staff(data: Path) -> None:
    """Sam (agent, billing; revoked), Bartholomew (operator), 李小龍 (agent, tech and
    billing, capacity 5, expiring), Eve (agent)."""
    made = [
        ("--name", NAMES[0], "--team", "billing"),
        ("--name", NAMES[1], "--role", "operator"),
        ("--name", NAMES[2], "--team", "tech", "--team", "billing", "--capacity", "5",
         "--expires-in", "30d"),
        ("--name", NAMES[3]),
    ]  # fmt: skip
    for args in made:
        done = _handoff("token", "create", *args, "--data-dir", str(data))
        assert done.exit_code == 0, done.output
    assert _handoff("token", "revoke", "Sam", "--data-dir", str(data)).exit_code == 0


def _from_cell(line: str, cell: int) -> str:
    """The rest of ``line`` from terminal cell ``cell`` on; fails when a wide character
    straddles it."""
    used = 0
    for i, ch in enumerate(line):
        if used == cell:
            return line[i:]
        used += cell_len(ch)
        assert used <= cell, (line, cell)
    assert used == cell, (line, cell)
    return ""


def assert_table(out: str, header: list[str], rows: list[list[str]]) -> None:
    """``out`` is ``header`` and ``rows`` as aligned columns: each cell starts where its
    header word does, after at least two spaces."""
    lines = out.splitlines()
    assert lines[0].split() == header, out
    starts = [lines[0].index(word) for word in header]  # the header is ASCII
    assert len(lines) == 1 + len(rows), out
    for line, row in zip(lines[1:], rows, strict=True):
        for start, expected in zip(starts, row, strict=True):
            assert _from_cell(line, start).startswith(expected), (line, expected)
            if start:
                assert _from_cell(line, start - 2).startswith("  " + expected), (line, expected)


def test_token_list_has_a_header_and_aligned_columns(tmp_path: Path) -> None:
    """The rows had no header and the expiry trailed the name wherever the name
    ended; ``--json`` is as it was."""
    data = tmp_path / "d"
    _staff(data)
    listed = _handoff("token", "list", "--json", "--data-dir", str(data))
    assert listed.exit_code == 0, listed.output
    tokens = json.loads(listed.stdout)
    assert [t["name"] for t in tokens] == NAMES
    assert set(tokens[0]) == {
        "id", "name", "role", "created_at", "expires_at", "revoked_at", "state"
    }  # fmt: skip
    assert [t["state"] for t in tokens] == ["revoked", "active", "active", "active"]

    plain = _handoff("token", "list", "--data-dir", str(data))
    assert plain.exit_code == 0, plain.output
    names = ["Sam", "Bartholomew Quincy-Longname", "李小龍", "Eve\\x1b[31m"]
    assert_table(
        plain.stdout,
        ["id", "role", "state", "name", "expires"],
        [
            [t["id"], t["role"], t["state"], name, t["expires_at"] or "-"]
            for t, name in zip(tokens, names, strict=True)
        ],
    )
    assert "\x1b" not in plain.stdout


def test_no_tokens_is_said_without_a_table(tmp_path: Path) -> None:
    done = _handoff("token", "list", "--data-dir", str(tmp_path / "empty"))
    assert (
        done.exit_code == 0 and done.stdout == "no tokens yet: handoff token create --name NAME\n"
    )


def test_agents_list_has_aligned_columns(tmp_path: Path) -> None:
    """The teams and capacity followed the name wherever it ended; now every column
    starts under its header whatever the names' widths. ``--json`` is as it was."""
    data = tmp_path / "d"
    _staff(data)
    listed = _handoff("agents", "list", "--json", "--data-dir", str(data))
    assert listed.exit_code == 0, listed.output
    agents = json.loads(listed.stdout)
    assert [(a["name"], a["teams"], a["capacity"], a["capacity_is_default"]) for a in agents] == [
        (NAMES[0], ["billing"], 3, True),
        (NAMES[1], [], 3, True),
        (NAMES[2], ["tech", "billing"], 5, False),
        (NAMES[3], [], 3, True),
    ]

    plain = _handoff("agents", "list", "--data-dir", str(data))
    assert plain.exit_code == 0, plain.output
    assert_table(
        plain.stdout,
        ["id", "role", "state", "name", "teams", "capacity"],
        [
            [agents[0]["id"], "agent", "revoked", "Sam", "billing", "3 (default)"],
            [agents[1]["id"], "operator", "active", "Bartholomew Quincy-Longname",
             "(every team)", "3 (default)"],
            [agents[2]["id"], "agent", "active", "李小龍", "tech,billing", "5"],
            [agents[3]["id"], "agent", "active", "Eve\\x1b[31m", "(every team)",
             "3 (default)"],
        ],
    )  # fmt: skip


def test_revoking_a_revoked_token_says_it_already_was(tmp_path: Path) -> None:
    """A second ``token revoke`` printed "revoked … open connections close within 1 s"
    again, as if it had done something. Now it says the token was already revoked, at
    the first revocation's time, and exits 0; ``--json`` says ``already``."""
    data = str(tmp_path / "d")
    assert _handoff("token", "create", "--name", "Sam", "--data-dir", data).exit_code == 0
    first = _handoff("token", "revoke", "Sam", "--json", "--data-dir", data)
    assert first.exit_code == 0, first.output
    done = json.loads(first.stdout)
    assert done["name"] == "Sam" and done["already"] is False
    again = _handoff("token", "revoke", "Sam", "--data-dir", data)
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == (
        f"{done['id']} (Sam) was already revoked at {done['revoked_at']}"
    ), again.stdout
    assert "close within" not in again.stdout
    third = json.loads(_handoff("token", "revoke", done["id"], "--json", "--data-dir", data).stdout)
    assert third == {**done, "already": True}
