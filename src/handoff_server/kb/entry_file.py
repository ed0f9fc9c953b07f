"""The file of one KB entry, checked before it is written.

The bytes are made exactly as they will be written (:func:`~handoff_server.kb.writer.
entry_markdown`, UTF-8), read back with the loader the server starts with
(:func:`~handoff_server.kb.loader.read_entry_file`) and compared with the entry. A file
that would not load, or would load as something else (a line separator the loader reads
as a newline, an example question it drops as repeated), is refused naming the field: the
server never writes a KB it cannot start on again.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from handoff_server.errors import KBError
from handoff_server.kb.loader import Problem, read_entry_file
from handoff_server.kb.models import KBEntry
from handoff_server.kb.writer import entry_markdown

__all__ = ["entry_file"]

_FIELDS = ("id", "title", "category", "team", "escalate", "questions", "answer")
"""What a file holds of an entry (``source`` and ``out_of_scope`` are the loader's)."""

_KEY = re.compile(r"^([A-Za-z_]+):")


def entry_file(entry: KBEntry, path: Path) -> bytes:
    """The bytes of ``entry``'s Markdown file at ``path``, checked to read back as
    ``entry`` (every field of :data:`_FIELDS`).

    Raises :class:`KBError` (``bad_kb``) when the file would not load or would load
    changed; its detail starts with the field as a frame names it (``entry.answer: ``,
    ``entry.questions.2: ``) and ``problems`` holds what the loader found.
    """
    for field in _FIELDS:
        bad = _unencodable(getattr(entry, field))
        if bad is not None:
            raise KBError(f"entry.{field}: {bad} cannot be written as UTF-8")
    text = entry_markdown(entry)
    raw = text.encode("utf-8")
    back, problems = read_entry_file(path, raw)
    errors = [p for p in problems if p.severity == "error"]
    if errors or len(back) != 1:
        where = _field_at(text, errors[0].line) if errors else "entry"
        said = "; ".join(p.message for p in errors) or f"it reads as {len(back)} entries"
        raise KBError(f"{where}: the KB file would not load: {said}", problems=problems)
    change = _first_change(entry, back[0], problems)
    if change is not None:
        raise KBError(change, problems=problems)
    return raw


def _unencodable(value: object) -> str | None:
    """The first character of ``value`` (a string or strings) UTF-8 cannot hold (a lone
    surrogate), described; ``None`` when there is none."""
    texts = value if isinstance(value, list) else [value]
    for text in texts:
        if isinstance(text, str):
            for ch in text:
                if 0xD800 <= ord(ch) <= 0xDFFF:
                    return _char(ch)
    return None


def _first_change(entry: KBEntry, back: KBEntry, problems: list[Problem]) -> str | None:
    """Where ``back`` (the entry as the loader reads its file) differs from ``entry``,
    as ``entry.<field>: ...``; ``None`` when it does not."""
    for field in _FIELDS:
        sent, read = getattr(entry, field), getattr(back, field)
        if sent == read:
            continue
        if field == "questions":
            if len(sent) != len(read):
                why = "; ".join(p.message for p in problems) or "some were dropped"
                return (
                    f"entry.questions: {len(sent)} example questions would read back from "
                    f"the KB file as {len(read)} ({why})"
                )
            i = next(i for i, (a, b) in enumerate(zip(sent, read, strict=True)) if a != b)
            return f"entry.questions.{i}: {_difference(sent[i], read[i])}"
        return f"entry.{field}: {_difference(sent, read)}"
    return None


def _difference(sent: object, read: object) -> str:
    """What changes between a value ``sent`` and the value ``read`` back."""
    if not isinstance(sent, str) or not isinstance(read, str):
        return f"would read back from the KB file as {read!r}, not {sent!r}"
    same = min(len(sent), len(read))
    at = next((i for i in range(same) if sent[i] != read[i]), same)
    if at >= len(sent):
        return "would read back changed from the KB file (after its last character)"
    ch = sent[at]
    breaks = len(f"a{ch}b".splitlines()) > 1
    return f"would read back changed from the KB file (character {at + 1}, {_char(ch)}" + (
        ": the KB file reads it as a newline)" if breaks else ")"
    )


def _char(ch: str) -> str:
    """``U+2028 LINE SEPARATOR``: a character as people look it up."""
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


def _field_at(text: str, line: int) -> str:
    """The field a problem at file line ``line`` (1-based) of the entry file ``text``
    is about: ``entry.answer`` below the front matter, else the key above it
    (``entry.questions.<i>`` for the i-th example question)."""
    lines = text.splitlines()
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in {"---", "..."}), 0)
    at = line - 1
    if at > end or not 0 < at < len(lines):
        return "entry.answer" if at > end else "entry"
    items = 0
    for i in range(at, 0, -1):
        key = _KEY.match(lines[i])
        if key is None:
            items += lines[i].startswith("- ")
            continue
        if key.group(1) == "questions" and items:
            return f"entry.questions.{items - 1}"
        return f"entry.{key.group(1)}"
    return "entry"
