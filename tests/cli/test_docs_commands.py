"""Every command in README.md and docs/*.md runs as written: the shell commands in their
fenced code blocks name only paths that exist (relative to the repository root, where
the docs run them; ``../shared/data`` is the data folder next to the checkout) and only
``handoff`` subcommands and options that exist; Python fed to the interpreter from a
here-document compiles and imports only names that exist; relative links resolve.

The commands are checked, not run: several are long jobs (a demo, an evaluation).
"""

from __future__ import annotations

import ast
import importlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from handoff_cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHARED_DATA = ROOT.parent / "shared" / "data"
SHELL_LANGS = {"bash", "sh", "shell", "console"}
COMMANDS = {"handoff", "python", "python3", "pip", "pytest", "source", "export", "cd"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


@dataclass
class Command:
    """One simple command from a doc: its words, where it was, and any here-document."""

    doc: str
    line: str
    words: list[str]
    heredoc: str | None = None


def _logical_lines(block: str) -> list[tuple[str, str | None]]:
    """Lines with backslash continuations joined; a here-document's body is attached to
    the line that opens it instead of being read as commands."""
    out: list[tuple[str, str | None]] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + " " + lines[i].strip()
        i += 1
        heredoc = None
        if m := re.search(r"<<-?\s*'?(\w+)'?", line):
            end = lines.index(m.group(1), i)
            heredoc, i = "\n".join(lines[i:end]), end + 1
            line = line[: m.start()]
        out.append((line, heredoc))
    return out


def _commands(doc: Path) -> list[Command]:
    found = []
    for lang, block in FENCE.findall(doc.read_text(encoding="utf-8")):
        if lang and lang not in SHELL_LANGS:
            continue
        for line, heredoc in _logical_lines(block):
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
            lexer.whitespace_split, lexer.commenters = True, "#"
            words: list[str] = []
            for token in [*lexer, ";"]:
                if token.strip(";&|"):
                    words.append(token)
                    continue
                while words and "=" in words[0] and not words[0].startswith("-"):
                    words.pop(0)  # VAR=value before a command
                if words:
                    name = (
                        words[0].rsplit("/", 1)[-1] if words[0].startswith(".venv/") else words[0]
                    )
                    if name in COMMANDS:
                        found.append(Command(doc.name, line.strip(), [name, *words[1:]], heredoc))
                    elif lang in SHELL_LANGS:
                        raise AssertionError(
                            f"{doc.name}: unknown command in a shell block: {line!r}"
                        )
                words = []
    return found


ALL = [c for doc in DOCS for c in _commands(doc)]


def _plain(word: str) -> str:
    """A word as the docs' usage notation writes it: ``[--json]`` → ``--json``."""
    return word.strip("[]").removesuffix("...").strip("[]")


def _paths(command: Command) -> list[str]:
    """Words naming a file or folder in the repository (or the shared data folder)."""
    out = []
    for word in map(_plain, command.words[1:]):
        value = word.split("=", 1)[1] if word.startswith("-") and "=" in word else word
        if "/" not in value or "://" in value or value.startswith(("/", ".venv/", "-")):
            continue  # URLs, absolute paths made by an earlier command, the venv, options
        if re.match(r"[A-Z_]+/", value):
            continue  # a placeholder such as OUT_DIR/kb.csv
        out.append(value)
    return out


def test_the_docs_have_commands():
    assert {c.doc for c in ALL} >= {"README.md", "ai.md", "escalation.md", "tui.md"}
    assert sum(c.words[0] == "handoff" for c in ALL) >= 10


@pytest.mark.parametrize("command", ALL, ids=lambda c: f"{c.doc}: {c.line[:60]}")
def test_every_path_a_command_names_exists(command):
    for path in _paths(command):
        if path.startswith("../shared/data/") and not SHARED_DATA.is_dir():
            continue  # the data folder is not next to this checkout
        assert (ROOT / path).exists(), (
            f"{command.doc}: {command.line!r} names {path}, which does not exist"
        )


def _leaf(words: list[str]) -> tuple[typer.main.TyperGroup, list[str]]:
    cmd = typer.main.get_command(app)
    rest = list(words)
    while rest and rest[0] in getattr(cmd, "commands", {}):
        cmd = cmd.commands[rest.pop(0)]
    return cmd, rest


HANDOFF = [c for c in ALL if c.words[0] == "handoff"]


@pytest.mark.parametrize("command", HANDOFF, ids=lambda c: f"{c.doc}: {c.line[:60]}")
def test_every_handoff_subcommand_and_option_exists(command):
    cmd, rest = _leaf(command.words[1:])
    options = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
    assert not hasattr(cmd, "commands") or "--help" in rest, (
        f"{command.doc}: {command.line!r}: '{cmd.name}' needs a subcommand"
    )
    for word in map(_plain, rest):
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            assert option in options, f"{command.doc}: {command.line!r}: no option {option}"


SCRIPTS = [
    c
    for c in ALL
    if c.words[0].startswith("python") and len(c.words) > 1 and c.words[1].endswith(".py")
]


@pytest.mark.parametrize("command", SCRIPTS, ids=lambda c: f"{c.doc}: {c.line[:60]}")
def test_every_script_option_exists(command):
    source = (ROOT / command.words[1]).read_text(encoding="utf-8")
    for word in map(_plain, command.words[2:]):
        if word.startswith("--"):
            assert f'"{word.split("=", 1)[0]}"' in source, f"{command.line!r}: {word} unknown"


HEREDOCS = [c for c in ALL if c.heredoc and c.words[0].startswith("python")]


@pytest.mark.parametrize("command", HEREDOCS, ids=lambda c: f"{c.doc}: {c.line[:60]}")
def test_python_from_a_heredoc_compiles_and_imports_what_exists(command, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))  # the docs run it from the repository root
    tree = ast.parse(command.heredoc or "")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)


LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_relative_links_resolve(doc):
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (doc.parent / target).exists(), f"{doc.name}: link to {target} does not resolve"
