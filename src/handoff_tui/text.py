"""Untrusted text made safe to show: visitor, agent, KB and config text is data.

Every string that came from outside the app goes through :func:`visible` before it is
shown, and is put on screen as plain text (a Textual ``Content`` built from text, a
markup *variable*, or a ``Segment``), never parsed as markup. :func:`visible` turns the
characters a terminal would act on instead of draw (C0 and C1 controls, DEL) into
characters that show what was there, so no visitor can move the cursor, recolour the
screen or ring the bell on an agent's terminal.
"""

from __future__ import annotations

import re

from textual.content import Content

__all__ = ["fill", "plain", "visible"]

_C0_PICTURES = {cp: chr(0x2400 + cp) for cp in range(0x20)}
"""U+2400–U+241F: the Unicode "control pictures" (␀ … ␟) for C0 controls."""

_TRANSLATE: dict[int, str] = {
    **_C0_PICTURES,
    0x7F: "\u2421",  # ␡
    # C1 controls have no pictures; their escape form says exactly which byte it was.
    **{cp: f"\\x{cp:02x}" for cp in range(0x80, 0xA0)},
    # Line and paragraph separators break lines in some terminals and not others.
    0x2028: "\u2424",  # ␤
    0x2029: "\u00b6",  # ¶
}
_MULTI_LINE = {**_TRANSLATE, 0x0A: "\n", 0x09: " "}
_ONE_LINE = {**_TRANSLATE, 0x0A: " ", 0x09: " "}
_NEWLINES = re.compile(r"\r\n?")


def visible(text: str, *, one_line: bool = False) -> str:
    """``text`` with every control character shown instead of obeyed.

    ``\\r\\n`` and a lone ``\\r`` become ``\\n``; ``\\n`` stays a line break (a space with
    ``one_line``, for table cells and bars); a tab becomes one space; other C0 controls
    and DEL become their control pictures (ESC → ``␛``, NUL → ``␀``); C1 controls become
    ``\\x9b``-style escapes; U+2028/U+2029 become ``␤``/``¶``. Everything else — brackets,
    backslashes, ``$``, emoji and their joiners, combining marks — is left as it is.
    """
    text = _NEWLINES.sub("\n", text)
    return text.translate(_ONE_LINE if one_line else _MULTI_LINE)


def plain(text: str, *, one_line: bool = False) -> Content:
    """``text`` as plain Textual content (no markup parsed), after :func:`visible`."""
    return Content(visible(text, one_line=one_line))


def fill(template: str, *, one_line: bool = True, **values: str) -> Content:
    """Our own markup ``template`` with its ``$name`` variables filled by ``values`` as text.

    Values are never parsed as markup (Textual inserts variables as text) and go through
    :func:`visible` first (``one_line``: newlines become spaces).
    """
    return Content.from_markup(
        template, **{k: visible(v, one_line=one_line) for k, v in values.items()}
    )
