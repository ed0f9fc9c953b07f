"""Every command's --help reads well at a fixed terminal width: flags show no value
placeholder (no `<bool>`), prose is re-wrapped to the width (no sentence broken by a
hard newline from a docstring), and command lists show whole first sentences.

Every option and argument shows one uppercase metavar (PATH, FILE, TEXT, N...), never
click's ``<int range>``/``{path}`` forms, and no hyphenated word ("out-of-scope") is
broken across lines at any terminal width."""

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
    assert {
        ("visit",),
        ("queue",),
        ("kb", "check"),
        ("policy", "import"),
        ("token", "create"),
    } <= set(COMMANDS)


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


METAVAR = re.compile(r"^[A-Z][A-Z0-9_]*(?:=[A-Z][A-Z0-9_]*)?(?:\.\.\.)?$")
"""An uppercase metavar: PATH, N, KEY=VALUE, TEXT..."""


def _terms(blocks: dict[str, list[str]]) -> list[str]:
    """The left column of the Options and Arguments sections: ``--kb PATH``, ``path PATH``."""
    terms = []
    for section in ("Options:", "Arguments:"):
        for line in blocks.get(section, []):
            m = re.match(r"^  (\S+(?: \S+)*?)(?:  |$)", line)
            if m and (line.startswith("  -") or section == "Arguments:"):
                terms.append(m.group(1))
    return terms


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "handoff")
def test_every_metavar_is_one_uppercase_word(path):
    text = _help(path)
    usage = text.splitlines()[0]
    assert not re.search(r"<[^>]*>|\{[^}]*\}", usage), usage
    for term in _terms(_blocks(text)):
        words = term.split(" ")
        metavar = [w for w in words if not w.startswith("-") and w != "/"]
        if words[0].startswith("-") and not metavar:
            continue  # a flag
        assert len(metavar) == 1 and METAVAR.match(metavar[0]), f"{term!r} in {path}"


@pytest.mark.parametrize("width", [50, 60, 70, 78, 90, 120])
def test_no_hyphenated_word_is_broken_across_lines(width):
    for path in COMMANDS:
        text = runner.invoke(app, [*path, "--help"], terminal_width=width).output
        lines = text.splitlines()
        for a, b in zip(lines, lines[1:], strict=False):
            assert not (re.search(r"\w-$", a) and re.match(r"\s*\w", b)), (width, path, a, b)


@pytest.mark.parametrize("path", [("serve",), ("demo",), ("eval",), ("triage",)])
def test_kb_is_one_path_everywhere(path):
    assert re.search(r"^  --kb PATH\s", _help(path), re.M)


def test_the_reported_metavars():
    create = _help(("token", "create"))
    assert re.search(r"^  --name TEXT\s+The person's display name\.\s+\[required\]$", create, re.M)
    assert re.search(r"^  --role ROLE\s", create, re.M)
    for path, usage in (
        (("kb", "check"), "[OPTIONS] PATH"),
        (("policy", "import"), "[OPTIONS] FILE"),
        (("transcript",), "[OPTIONS] CONVERSATION_ID"),
        (("triage",), "[OPTIONS] TEXT"),
    ):
        assert _help(path).splitlines()[0].endswith(usage), path


def test_flags_take_no_value():
    text = _help(("queue",))
    assert re.search(r"^  --json\s+Machine-readable", text, re.M)
    assert re.search(r"^  --help\s+Show this message", text, re.M)
