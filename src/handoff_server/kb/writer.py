"""Write a KB as a folder of Markdown entries (what ``handoff kb build`` produces)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import yaml

from handoff_server.errors import KBError
from handoff_server.kb.models import KBEntry, KnowledgeBase

__all__ = ["write_kb_folder", "entry_markdown"]


class _FrontDumper(yaml.SafeDumper):
    """YAML for front matter: a string with a line break (any that ``str.splitlines``
    splits at: the loader reads the file line by line) or surrounding whitespace is
    written double-quoted, its breaks as escapes (``\\n``, ``\\L``, ``\\P``), so every
    value stays on its key's line and no line of a value can read as the closing
    ``---``."""


def _front_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    quoted = value != value.strip() or len(value.splitlines()) > 1
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if quoted else None)


_FrontDumper.add_representer(str, _front_str)

_NO_FOLDING = 1 << 30
"""A line width no value reaches: YAML never folds a value over lines."""


def entry_markdown(entry: KBEntry) -> str:
    """One entry as Markdown with YAML front matter. The loader reads it back unchanged
    when the answer is stripped and holds no line break but ``\\n`` (others read as
    ``\\n``): :func:`~handoff_server.kb.entry_file.entry_file` checks that."""
    front: dict[str, object] = {"id": entry.id, "title": entry.title}
    if entry.category:
        front["category"] = entry.category
    if entry.team:
        front["team"] = entry.team
    if entry.escalate:
        front["escalate"] = True
    front["questions"] = list(entry.questions)
    head = yaml.dump(
        front, Dumper=_FrontDumper, sort_keys=False, allow_unicode=True, width=_NO_FOLDING
    )
    return f"---\n{head}---\n{entry.answer.strip()}\n"


def write_kb_folder(kb: KnowledgeBase, out: Path, *, overwrite: bool = False) -> Path:
    """Write ``kb`` to folder ``out``: one ``<id>.md`` per entry, out-of-scope examples in
    ``oos.csv`` (``text,label``).

    Written to a temporary sibling folder, then renamed, so a failure leaves nothing
    half-written. Raises :class:`KBError` if ``out`` exists and ``overwrite`` is false.
    """
    import csv

    out = Path(out)
    if out.exists() and not overwrite:
        raise KBError(f"{out} already exists (pass overwrite to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for entry in kb.entries:
            if entry.out_of_scope:
                with (tmp / f"{entry.id}.csv").open("w", newline="", encoding="utf-8") as fh:
                    w = csv.writer(fh)
                    w.writerow(["text", "label"])
                    w.writerows([q, entry.id] for q in entry.questions)
            else:
                (tmp / f"{entry.id}.md").write_text(entry_markdown(entry), encoding="utf-8")
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
