"""The KB a server answers from, and where new entries are written.

A server started on a KB folder writes operators' new entries into that folder (one
Markdown file each, as ``handoff kb build`` writes them). A server on the bundled demo KB
or on a single file (a CSV) cannot write there: its new entries go to the data dir's
``kb-additions`` folder, which :func:`load_served_kb` reads together with the KB.
"""

from __future__ import annotations

from pathlib import Path

from handoff_server.errors import KBError
from handoff_server.kb.loader import check_entries, load_kb, read_kb
from handoff_server.kb.models import KnowledgeBase

__all__ = ["ADDITIONS", "entries_folder", "load_served_kb"]

ADDITIONS = "kb-additions"
"""The data dir's folder for new entries of a KB that is not a folder."""


def entries_folder(kb: Path | None, data_dir: Path) -> Path:
    """Where new entries of the KB ``kb`` (``None``: the demo KB) are written."""
    return kb if kb is not None and kb.is_dir() else data_dir / ADDITIONS


def load_served_kb(kb: Path | None, data_dir: Path) -> KnowledgeBase:
    """The KB at ``kb`` (``None``: the demo KB) with the entries added to it in
    :func:`entries_folder`. Raises :class:`KBError` listing every error, each with its
    file and line; errors in the data dir's folder of added entries end with a line
    saying what that folder is."""
    base = load_kb(kb)
    extra = entries_folder(kb, data_dir)
    if extra == kb or not any(extra.glob("*.md")):
        return base
    added, problems = read_kb(extra)
    merged, more = check_entries(KnowledgeBase(entries=[*base.entries, *added.entries]))
    errors = [p for p in [*problems, *more] if p.severity == "error"]
    if errors:
        raise KBError(
            f"knowledge base has {len(errors)} error(s):\n"
            + "\n".join(f"  {p}" for p in errors)
            + f"\n  ({extra} holds the entries operators added from their screens: "
            "correct or remove the file named)",
            problems=errors,
        )
    return merged
