"""How the CLI prints: text from visitors, agents, KB files and configs is data.

Nothing printed is ever parsed as markup (no Rich console, no format strings built from
data), and no control character from data reaches a terminal as a control sequence:
:func:`visible` shows each one as its Python escape (ESC as ``\\x1b``). Every line the
commands print goes through :func:`echo`; JSON goes through :func:`json_line`.
"""

from __future__ import annotations

import io
import json
import re
import select
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import typer
from rich.cells import cell_len

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "GuardedStdout",
    "OutputClosed",
    "OutputFailed",
    "Styled",
    "VisibleStream",
    "echo",
    "escape_serialized",
    "json_line",
    "one_line",
    "styled",
    "table",
    "visible",
]

# Unicode category Cc (C0, DEL, C1) plus lone surrogates, which cannot even be encoded.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# For one-line fields also the line and paragraph separators (Zl, Zp): tools split lines there.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(ch: str) -> str:
    code = ord(ch)
    return _NAMED.get(ch) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def visible(text: str, *, multiline: bool = True) -> str:
    """``text`` with every control character shown as its escape: ESC as ``\\x1b``,
    CR as ``\\r``, C1 CSI as ``\\x9b``, a lone surrogate as ``\\udc80``.

    With ``multiline`` (the default) newline and tab are kept as they are; without it
    they are shown as ``\\n`` and ``\\t`` too, and U+2028/U+2029 as ``\\u2028``/``\\u2029``,
    for one-line fields (a visitor name with a newline must not forge a second queue
    row). Everything else (brackets, backslashes, emoji, RTL marks) is returned unchanged.
    """
    if multiline:
        return _CONTROL.sub(
            lambda m: m.group() if m.group() in "\n\t" else _escape(m.group()), text
        )
    return _LINE_BREAKING.sub(lambda m: _escape(m.group()), text)


def one_line(text: object) -> str:
    """``str(text)`` for a one-line field: every control character, newline and tab
    included, shown as its escape (see :func:`visible`)."""
    return visible(str(text), multiline=False)


@dataclass(frozen=True)
class Styled:
    """A label the CLI itself writes, shown in a terminal style (``typer.style``
    keywords: ``fg``, ``bold``, ``dim``); styles are dropped when output is not a
    terminal."""

    text: str
    style: dict[str, Any] = field(default_factory=dict)


def styled(text: str, **style: Any) -> Styled:
    """``Styled(text, style)``: e.g. ``styled("AI", fg="cyan", bold=True)``."""
    return Styled(text, style)


class OutputClosed(Exception):
    """Standard output's reader has gone (``handoff ... | head -1``): the command stops
    quietly (:func:`handoff_cli.main.main`)."""


def stdout_closed() -> bool:
    """Whether standard output is a pipe whose reading end was closed (polled: an error
    or hang-up on it)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no real file descriptor
        return False


class OutputFailed(Exception):
    """Standard output cannot be written (``handoff queue > /dev/full``: disk full, an
    I/O error): the command stops with ``error[io_error]`` (:func:`handoff_cli.main.main`).
    ``reason``: the system's words for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GuardedStdout:
    """Standard output as the CLI writes it: ``stream`` (``sys.stdout``) whose failed
    writes and flushes (disk full, ``/dev/full``, an I/O error) raise
    :class:`OutputFailed` instead of an ``OSError`` a command could take for a network
    failure or let out as a traceback. A closed pipe (``BrokenPipeError``) is left to
    :func:`check_output_closed`. Everything else is ``stream``'s."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write ``text``; raises :class:`OutputFailed` when it cannot be written."""
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputFailed(exc.strerror or str(exc)) from exc

    def flush(self) -> None:
        """Flush; raises :class:`OutputFailed` when what is pending cannot be written."""
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputFailed(exc.strerror or str(exc)) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def check_output_closed(exc: BaseException) -> None:
    """Raise :class:`OutputClosed` when ``exc`` (caught as a connection's ``OSError``)
    is in fact a write to a closed standard output, so it is not reported as a network
    failure. (A write standard output fails otherwise raises :class:`OutputFailed`
    from :class:`GuardedStdout` already.)"""
    if isinstance(exc, BrokenPipeError) and stdout_closed():
        raise OutputClosed from exc


def clip_words(text: str, limit: int) -> str:
    """``text`` as it is when it has at most ``limit`` characters, else cut before the
    last space that leaves room for `` …`` (at ``limit - 1`` with ``…`` when no space
    does); the characters kept are unchanged (no whitespace folded)."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit - 1)
    if cut <= 0:
        return text[: limit - 1] + "…"
    return text[:cut].rstrip(" ") + " …"


def echo(*parts: str | Styled, err: bool = False) -> None:
    """Print one line made of ``parts``: plain strings are data (shown through
    :func:`visible`), :class:`Styled` parts are the CLI's own labels. To stderr with
    ``err``."""
    out = "".join(
        typer.style(visible(p.text), **p.style) if isinstance(p, Styled) else visible(p)
        for p in parts
    )
    typer.echo(out, err=err)


_ITEM_START = re.compile(r"\s*(?:[-*+] |\d+[.)] )?")
"""A line's indentation and list marker: its wrapped lines are indented under the text."""


def wrap_words(text: str, width: int, offset: int = 0) -> str:
    """``text`` with each line broken at spaces to at most ``width`` terminal cells (a CJK
    character or an emoji takes two; a word longer than a row is cut by cells), the first
    line starting ``offset`` cells in (after a label such as ``AI: ``). A list item's
    continuation lines are indented under its text (``- ``, ``1. ``). No line it makes
    starts with a space: a terminal wrapping a long line by characters can start its
    second row with the space between two words."""
    out: list[str] = []
    for number, line in enumerate(text.split("\n")):
        if not line.strip():
            out.append(line)
            continue
        lead = " " * (offset if number == 0 else 0)
        indent = " " * len(_ITEM_START.match(line).group())  # type: ignore[union-attr]
        room = max(width, len(lead) + len(indent) + 10)
        first, *_ = _rows(lead + line, room)
        rest = (lead + line)[len(first) :].lstrip()
        rows = [first[len(lead) :]]
        rows += [indent + row for row in (_rows(rest, room - len(indent)) if rest else [])]
        out.append("\n".join(rows))
    return "\n".join(out)


def _rows(line: str, width: int) -> list[str]:
    """``line`` (no newline) cut into rows of at most ``width`` cells at spaces, by Rich's
    wrapping (measuring only: the text is a plain :class:`rich.text.Text`, never markup,
    and nothing is printed through Rich); each row without its trailing spaces."""
    from rich.console import Console  # only where text is wrapped: ~12 ms to import
    from rich.text import Text

    global _MEASURE
    if _MEASURE is None:
        _MEASURE = Console(file=io.StringIO(), width=max(width, 80), color_system=None)
    wrapped = Text(line, no_wrap=False).wrap(_MEASURE, width, overflow="fold", tab_size=1)
    return [row.plain.rstrip() for row in wrapped] or [""]


_MEASURE: Console | None = None
"""The console :func:`_rows` measures with (created on first use)."""


def for_terminal(text: str, offset: int = 0) -> str:
    """``text`` wrapped at words to the terminal's width (:func:`wrap_words`) when stdout
    is a terminal; unchanged otherwise (a pipe or a file gets the lines as sent)."""
    if not sys.stdout.isatty():
        return text
    return wrap_words(text, shutil.get_terminal_size().columns, offset)


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Print ``header`` and then each of ``rows`` (as many cells each as ``header``) as
    aligned columns, two spaces apart, each as wide as its widest cell in terminal
    cells (a CJK character or an emoji takes two: ``rich.cells.cell_len``); the last
    column is not padded. Every cell is a one-line field (see :func:`one_line`).
    Raises ``ValueError`` for a row with another number of cells."""
    lines = [[one_line(cell) for cell in row] for row in [header, *rows]]
    widths = [max(cell_len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        padded = [
            cell + " " * (width - cell_len(cell)) for cell, width in zip(line, widths, strict=True)
        ]
        echo("  ".join([*padded[:-1], line[-1]]))


# JSON and TOML escape C0 themselves; DEL, C1 and lone surrogates they may leave raw.
_RAW_IN_STRINGS = re.compile(r"[\x7f-\x9f\ud800-\udfff]")


def escape_serialized(text: str) -> str:
    """JSON or TOML text (as ``json.dumps``/``tomli_w`` write it) with every DEL, C1
    control and lone surrogate written as a ``\\uXXXX`` escape: the same value for a
    reader, nothing a terminal would act on. Such characters can only occur inside
    quoted strings there, where both formats read the escape."""
    return _RAW_IN_STRINGS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_line(obj: Any) -> str:
    """``obj`` as one line of JSON (UTF-8 text kept readable, control characters
    escaped: see :func:`escape_serialized`). Non-JSON values use ``str``."""
    return escape_serialized(json.dumps(obj, default=str, ensure_ascii=False))


class VisibleStream:
    """A text stream wrapper that writes through :func:`visible` (newline and tab
    kept): for output the CLI does not format itself, such as usage errors quoting a
    command-line argument."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write ``text`` with its control characters shown as escapes."""
        return self._stream.write(visible(text))

    def flush(self) -> None:
        """Flush the wrapped stream."""
        self._stream.flush()

    def isatty(self) -> bool:
        """Whether the wrapped stream is a terminal (decides whether styles are kept)."""
        return self._stream.isatty()
