"""Every command's --help reads well at a fixed terminal width: flags show no value
placeholder (no `<bool>`), prose is re-wrapped to the width (no sentence broken by a
hard newline from a docstring), and command lists show whole first sentences."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from handoff_cli.main import app

WIDTH = 80  # click wraps help at min(COLUMNS, 80) - 2
runner = CliRunner(env={"COLUMNS": str(WIDTH)})


def _commands(cmd=None, path=()):
    """Every command path, groups included: (), ("visit",), ("kb", "check"), ..."""
    cmd = cmd or typer.main.get_command(app)
    yield path
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands())
SECTIONS = ("Options:", "Arguments:", "Commands:")


def _help(path: tuple[str, ...]) -> str:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def _blocks(text: str) -> dict[str, list[str]]:
    """The help split into its description (prose) and its sections."""
    blocks: dict[str, list[str]] = {"description": []}
    current = "description"
    for line in text.splitlines()[1:]:  # the usage line is click's, not prose
        if line.strip() in SECTIONS and not line.startswith(" "):
            current = line.strip()
            blocks[current] = []
        else:
            blocks[current].append(line)
    return blocks


def _broken_lines(lines: list[str]) -> list[tuple[str, str]]:
    """Pairs of lines where the second continues the first although its first word
    would have fitted on the first: a hard newline, not wrapping, ended the line."""
    broken = []
    for a, b in zip(lines, lines[1:], strict=False):
        if not a.strip() or not b.strip() or b.lstrip().startswith("-"):
            continue
        if len(a) + 1 + len(b.split()[0]) <= WIDTH - 2:
            broken.append((a, b))
    return broken


def test_every_command_is_covered():
    assert {("visit",), ("queue",), ("kb", "check"), ("policy", "import"), ("token", "create")} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "handoff")
def test_help_reads_well(path):
    text = _help(path)
    assert "<bool>" not in text
    assert not re.search(r"<list\[", text), "list options need a metavar"
    blocks = _blocks(text)
    assert not _broken_lines(blocks["description"]), _broken_lines(blocks["description"])
    assert not _broken_lines(blocks.get("Options:", [])), _broken_lines(blocks["Options:"])
    for line in blocks.get("Commands:", []):
        assert not line.rstrip().endswith("..."), f"short help cut: {line!r}"


def test_flags_take_no_value():
    text = _help(("queue",))
    assert re.search(r"^  --json\s+Machine-readable", text, re.M)
    assert re.search(r"^  --help\s+Show this message", text, re.M)
