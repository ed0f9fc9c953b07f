"""Read a knowledge base from disk, reporting every problem with its file and line.

Sources, all merged into one :class:`KnowledgeBase`:

- **Markdown entry** (``*.md`` starting with ``---`` YAML front matter): one entry; front
  matter keys ``id``, ``title``, ``questions``, ``category``, ``team``, ``escalate``; the
  body is the answer.
- **Markdown article** (``*.md`` without front matter): split at headings; each section is
  an entry retrieved by its passage (title + text), id ``<file stem>:<heading slug>``.
- **FAQ CSV** (header ``question,answer``): one entry per row.
- **Labeled CSV** (header ``text,label``; ``text,category`` is accepted as BANKING77 ships
  it): one entry per label, its rows the example questions; rows labeled ``oos`` become the
  out-of-scope pseudo-entry (``out_of_scope=True``) that the AI learns to refuse.

A folder is read recursively in sorted path order; hidden files and folders are skipped.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from handoff_server.errors import KBError
from handoff_server.kb.models import KBEntry, KnowledgeBase
from handoff_server.userfiles import DATA_FILE_BYTES, read_user_text

__all__ = [
    "OOS_LABEL",
    "Problem",
    "check_entries",
    "check_kb",
    "load_kb",
    "read_kb",
    "read_entry_file",
    "demo_kb_path",
    "label_to_id",
    "placeholder_answer",
]

OOS_LABEL = "oos"
"""Label of out-of-scope examples in labeled CSVs (CLINC150's convention)."""

_FRONT_KEYS = {"id", "title", "questions", "category", "team", "escalate"}


@dataclass(frozen=True)
class Problem:
    """One finding of :func:`check_kb`: ``severity`` ``error`` makes the KB unusable."""

    file: str
    line: int
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


def label_to_id(label: str) -> str:
    """The KB entry id for a dataset label: characters an id may not hold become ``_``
    (BANKING77 has ``reverted_card_payment?``). Eval maps question labels the same way."""
    out = re.sub(r"[^A-Za-z0-9_.:-]", "_", label.strip()).strip("_")
    return out or "label"


def placeholder_answer(label: str) -> str:
    """The answer body given to an entry made from a labeled example (no answer text yet)."""
    return f"(Answer for `{label}`: replace this text with the reply visitors should see.)"


def demo_kb_path() -> Path:
    """The bundled demo KB folder (``handoff_server/kb/demo``), via ``importlib.resources``."""
    from importlib.resources import files

    return Path(str(files("handoff_server.kb") / "demo"))


def load_kb(path: Path | str | None = None) -> KnowledgeBase:
    """Load a KB from a folder or a single file; ``None`` loads the bundled demo KB.

    Raises :class:`KBError` listing every error (``file:line: message``) when the KB has
    any, or when it holds no answerable entry. Warnings do not stop loading.
    """
    kb, problems = read_kb(path)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise KBError(
            f"knowledge base has {len(errors)} error(s):\n" + "\n".join(f"  {p}" for p in errors),
            problems=errors,
        )
    return kb


def check_kb(path: Path | str | None = None) -> list[Problem]:
    """Every problem (errors and warnings) found in the KB at ``path``, in file order."""
    return read_kb(path)[1]


def check_entries(kb: KnowledgeBase) -> tuple[KnowledgeBase, list[Problem]]:
    """The checks across entries that :func:`read_kb` makes (duplicate ids, example
    questions under two entries), on entries already read, e.g. a KB with a new entry
    added: the entries kept and the problems."""
    problems: list[Problem] = []
    kept = _cross_check(list(kb.entries), {}, problems)
    return KnowledgeBase(entries=kept), problems


def read_kb(path: Path | str | None = None) -> tuple[KnowledgeBase, list[Problem]]:
    """Parse what can be parsed and collect problems; never raises on bad content.

    Returns the entries that parsed (possibly with duplicates dropped) and the problems.
    """
    root = demo_kb_path() if path is None else Path(path)
    problems: list[Problem] = []
    entries: list[KBEntry] = []
    lines_of: dict[int, dict[str, Any]] = {}
    if not root.exists():
        problems.append(Problem(str(root), 0, "no such file or folder"))
        return KnowledgeBase(entries=[]), problems
    if root.is_dir():
        files = sorted(
            p
            for p in root.rglob("*")
            if p.is_file()
            and p.suffix.lower() in {".md", ".markdown", ".csv"}
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
    else:
        files = [root]
    for f in files:
        suffix = f.suffix.lower()
        if suffix in {".md", ".markdown"}:
            got = _read_markdown(f, problems)
        elif suffix == ".csv":
            got = _read_csv(f, problems)
        else:
            problems.append(Problem(str(f), 0, "unsupported file type (want .md or .csv)"))
            continue
        for entry, lines in got:
            lines_of[id(entry)] = lines
            entries.append(entry)
    entries = _cross_check(entries, lines_of, problems)
    if not any(not e.out_of_scope for e in entries) and not any(
        p.severity == "error" for p in problems
    ):
        problems.append(Problem(str(root), 0, "no answerable entries found"))
    return KnowledgeBase(entries=entries), problems


def _cross_check(
    entries: list[KBEntry], lines_of: dict[int, dict[str, Any]], problems: list[Problem]
) -> list[KBEntry]:
    """Duplicate ids and example questions shared between entries."""
    kept: list[KBEntry] = []
    seen_ids: dict[str, KBEntry] = {}
    for e in entries:
        if e.id in seen_ids:
            first = seen_ids[e.id]
            file, line = _where(e, lines_of, "id")
            problems.append(
                Problem(file, line, f"duplicate id {e.id!r} (first defined at {first.source})")
            )
            continue
        seen_ids[e.id] = e
        kept.append(e)
    owner: dict[str, KBEntry] = {}
    out: list[KBEntry] = []
    for e in kept:
        # Labeled datasets carry some label noise (BANKING77 has a few texts under two
        # intents): there it is a warning and the later copy is dropped; in hand-written
        # entries it is an error the author must fix.
        noisy_ok = bool(lines_of.get(id(e), {}).get("labeled"))
        questions: list[str] = []
        for i, q in enumerate(e.questions):
            key = _norm(q)
            prev = owner.get(key)
            file, line = _where(e, lines_of, "questions", i)
            if prev is None:
                owner[key] = e
                questions.append(q)
            elif prev.id != e.id:
                same_file = prev.source.rpartition(":")[0] == file
                problems.append(
                    Problem(
                        file,
                        line,
                        f"example question {q!r} is under both {prev.id!r} and {e.id!r}"
                        + (" (dropped from the latter)" if noisy_ok and same_file else ""),
                        "warning" if noisy_ok and same_file else "error",
                    )
                )
            else:
                problems.append(
                    Problem(file, line, f"example question {q!r} repeated in {e.id!r}", "warning")
                )
        if len(questions) != len(e.questions):
            e = e.model_copy(update={"questions": questions})
        out.append(e)
    return out


def read_entry_file(f: Path, raw: bytes) -> tuple[list[KBEntry], list[Problem]]:
    """What :func:`read_kb` makes of a Markdown file ``f`` (``*.md``) holding the bytes
    ``raw``, without touching the disk: the same decoding (UTF-8, newlines read as a
    file's are, no NUL), parsing and checks within the file (an example question
    repeated in the entry is dropped with a warning). Returns the entries read (one
    for an entry file) and the problems, each naming ``f``. Never raises on content."""
    problems: list[Problem] = []
    lines_of: dict[int, dict[str, Any]] = {}
    entries: list[KBEntry] = []
    for entry, lines in _read_markdown(f, problems, raw):
        lines_of[id(entry)] = lines
        entries.append(entry)
    return _cross_check(entries, lines_of, problems), problems


def _where(
    e: KBEntry, lines_of: dict[int, dict[str, Any]], key: str, i: int = 0
) -> tuple[str, int]:
    file, _, line = e.source.rpartition(":")
    lines = lines_of.get(id(e), {})
    at = lines.get(key)
    if isinstance(at, list):
        at = at[i] if i < len(at) else None
    return file, int(at if at is not None else (line or 0))


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


# --- Markdown -----------------------------------------------------------------------------


def _read_text(f: Path, problems: list[Problem], raw: bytes | None = None) -> str | None:
    """The file's text (of the bytes ``raw`` when given, decoded as the file would be:
    ``\\r\\n`` and ``\\r`` read as ``\\n``), or ``None`` with a problem: not UTF-8,
    unreadable, or holding a NUL (U+0000: no text format means one; PostgreSQL refuses
    it in what it stores, so an answer carrying it would be stored by one backend and
    refused by another, as the wire refuses it in a client's frame)."""
    try:
        # Decoded as utf-8-sig (a leading BOM dropped), "\r\n" and "\r" read as "\n",
        # as Path.read_text would (universal newlines), for a file and its bytes alike.
        decoded = read_user_text(f, DATA_FILE_BYTES) if raw is None else raw.decode("utf-8-sig")
        text = decoded.replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        problems.append(Problem(str(f), 1, f"not UTF-8 text: {exc.reason}"))
        return None
    except OSError as exc:
        problems.append(Problem(str(f), 0, f"cannot read: {exc.strerror}"))
        return None
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        problems.append(Problem(str(f), line, "a NUL character (U+0000): not text"))
        return None
    return text


def _read_markdown(
    f: Path, problems: list[Problem], raw: bytes | None = None
) -> list[tuple[KBEntry, dict[str, Any]]]:
    text = _read_text(f, problems, raw)
    if text is None:
        return []
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        return _read_entry(f, lines, problems)
    return _read_article(f, lines, problems)


def _read_entry(
    f: Path, lines: list[str], problems: list[Problem]
) -> list[tuple[KBEntry, dict[str, Any]]]:
    parsed = _front_matter(f, lines, problems)
    if parsed is None:
        return []
    data, at, end = parsed
    questions, bad = _checked_front(f, data, at, problems)
    body = "\n".join(lines[end + 1 :]).strip()
    if not body:
        problems.append(Problem(str(f), end + 2, "empty answer (the body after the front matter)"))
        bad = True
    if bad:
        return []
    fields = {k: data[k] for k in data if k in _FRONT_KEYS and k != "questions"}
    for k in ("id", "title", "category", "team"):
        if k in fields and fields[k] is not None:
            fields[k] = str(fields[k])
    try:
        entry = KBEntry(**fields, questions=questions, answer=body, source=f"{f}:1")
    except ValidationError as exc:
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else ""
            problems.append(Problem(str(f), _first(at.get(key, 2)), f"{key}: {err['msg']}"))
        return []
    if not questions:
        problems.append(
            Problem(
                str(f),
                at.get("id", 2),
                "no example questions: the entry is matched on its title and answer only",
                "warning",
            )
        )
    return [(entry, at)]


def _front_matter(
    f: Path, lines: list[str], problems: list[Problem]
) -> tuple[dict[str, Any], dict[str, Any], int] | None:
    """The front matter as data, the file line of each key (and of each example
    question), and the line index of its closing ``---``; ``None`` after a problem."""
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in {"---", "..."}), None)
    if end is None:
        problems.append(Problem(str(f), 1, "front matter opened with '---' but never closed"))
        return None
    front = "\n".join(lines[1:end])
    try:
        data = yaml.safe_load(front)
        node = yaml.compose(front)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problems.append(Problem(str(f), line, f"bad front matter: {getattr(exc, 'problem', exc)}"))
        return None
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        problems.append(Problem(str(f), 2, "front matter must be a mapping of keys to values"))
        return None
    # Line numbers in the file: the YAML starts on file line 2 (after the opening '---').
    at: dict[str, Any] = {}
    for key_node, value_node in node.value:
        at[str(key_node.value)] = key_node.start_mark.line + 2
        if key_node.value == "questions" and isinstance(value_node, yaml.SequenceNode):
            at["questions"] = [item.start_mark.line + 2 for item in value_node.value]
    return data, at, end


def _checked_front(
    f: Path, data: dict[str, Any], at: dict[str, Any], problems: list[Problem]
) -> tuple[list[str], bool]:
    """Check the front matter's keys and example questions; returns the questions and
    whether a problem was found."""
    bad = False
    for key in data:
        if key not in _FRONT_KEYS:
            problems.append(
                Problem(
                    str(f),
                    at.get(str(key), 2),
                    f"unknown front matter key {key!r} (allowed: {', '.join(sorted(_FRONT_KEYS))})",
                )
            )
            bad = True
    for key in ("id", "title"):
        if not data.get(key):
            problems.append(Problem(str(f), at.get(key, 2), f"front matter needs {key!r}"))
            bad = True
    qs = data.get("questions", [])
    if qs is None:
        qs = []
    if not isinstance(qs, list) or not all(isinstance(q, str | int | float) for q in qs):
        problems.append(
            Problem(str(f), _first(at.get("questions", 2)), "'questions' must be a list of strings")
        )
        bad = True
        qs = []
    questions = [str(q).strip() for q in qs]
    for i, q in enumerate(questions):
        if not q:
            problems.append(Problem(str(f), _nth(at.get("questions"), i), "empty example question"))
            bad = True
    return questions, bad


def _first(v: Any) -> int:
    return v[0] if isinstance(v, list) and v else (v if isinstance(v, int) else 2)


def _nth(v: Any, i: int) -> int:
    return v[i] if isinstance(v, list) and i < len(v) else 2


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _read_article(
    f: Path, lines: list[str], problems: list[Problem]
) -> list[tuple[KBEntry, dict[str, Any]]]:
    """Split a plain Markdown article at its headings; each section becomes a passage entry."""
    sections: list[tuple[str, int, list[str]]] = []
    title, start = f.stem.replace("-", " ").replace("_", " "), 1
    body: list[str] = []
    in_fence = False
    for n, line in enumerate(lines, start=1):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line)
        if m:
            sections.append((title, start, body))
            title, start, body = m.group(2), n, []
        else:
            body.append(line)
    sections.append((title, start, body))
    stem = _slug(f.stem)
    out: list[tuple[KBEntry, dict[str, Any]]] = []
    used: set[str] = set()
    for title, first_line, body in sections:
        text = "\n".join(body).strip()
        if not text:
            continue
        eid = f"{stem}:{_slug(title)}"
        n = 2
        while eid in used:
            eid, n = f"{stem}:{_slug(title)}-{n}", n + 1
        used.add(eid)
        entry = KBEntry(id=eid, title=title, category=stem, answer=text, source=f"{f}:{first_line}")
        out.append((entry, {"id": first_line}))
    if not out:
        problems.append(Problem(str(f), 1, "empty article: no text to answer from"))
    return out


# --- CSV ----------------------------------------------------------------------------------


def _read_csv(f: Path, problems: list[Problem]) -> list[tuple[KBEntry, dict[str, Any]]]:
    text = _read_text(f, problems)
    if text is None:
        return []
    reader = csv.reader(text.lstrip("\ufeff").splitlines())
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        problems.append(Problem(str(f), 1, "empty CSV"))
        return []
    except csv.Error as exc:
        problems.append(Problem(str(f), 1, f"bad CSV: {exc}"))
        return []
    if header[:2] == ["question", "answer"]:
        return _read_faq(f, reader, problems)
    if len(header) >= 2 and header[0] == "text" and header[1] in {"label", "category"}:
        return _read_labeled(f, reader, problems)
    problems.append(
        Problem(
            str(f),
            1,
            f"unknown CSV header {','.join(header)!r}: want 'question,answer' (FAQ) "
            "or 'text,label' (labeled examples)",
        )
    )
    return []


def _rows(f: Path, reader: Any, problems: list[Problem]) -> list[tuple[int, list[str]]]:
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            line = reader.line_num
            if not row or not any(c.strip() for c in row):
                continue
            if len(row) < 2:
                problems.append(Problem(str(f), line, "row needs two columns"))
                continue
            rows.append((line, [c.strip() for c in row]))
    except csv.Error as exc:
        problems.append(Problem(str(f), reader.line_num, f"bad CSV: {exc}"))
    return rows


def _read_faq(
    f: Path, reader: Any, problems: list[Problem]
) -> list[tuple[KBEntry, dict[str, Any]]]:
    out: list[tuple[KBEntry, dict[str, Any]]] = []
    stem = _slug(f.stem)
    for line, (question, answer, *_) in _rows(f, reader, problems):
        if not question:
            problems.append(Problem(str(f), line, "empty question"))
            continue
        if not answer:
            problems.append(Problem(str(f), line, "empty answer"))
            continue
        entry = KBEntry(
            id=f"{stem}:{line}",
            title=question,
            questions=[question],
            category=stem,
            answer=answer,
            source=f"{f}:{line}",
        )
        out.append((entry, {"id": line, "questions": [line]}))
    return out


def _read_labeled(
    f: Path, reader: Any, problems: list[Problem]
) -> list[tuple[KBEntry, dict[str, Any]]]:
    by_label: dict[str, list[tuple[int, str]]] = {}
    for line, (text, label, *_) in _rows(f, reader, problems):
        if not text:
            problems.append(Problem(str(f), line, "empty text"))
            continue
        if not label:
            problems.append(Problem(str(f), line, "empty label"))
            continue
        by_label.setdefault(label, []).append((line, text))
    out: list[tuple[KBEntry, dict[str, Any]]] = []
    for label, rows in by_label.items():
        oos = label == OOS_LABEL
        try:
            entry = KBEntry(
                id=label_to_id(label),
                title=label.replace("_", " "),
                questions=[t for _, t in rows],
                category="out_of_scope" if oos else "general",
                answer="" if oos else placeholder_answer(label),
                source=f"{f}:{rows[0][0]}",
                out_of_scope=oos,
            )
        except ValidationError as exc:
            msg = "; ".join(e["msg"] for e in exc.errors())
            problems.append(Problem(str(f), rows[0][0], f"label {label!r}: {msg}"))
            continue
        out.append(
            (entry, {"id": rows[0][0], "questions": [ln for ln, _ in rows], "labeled": True})
        )
    return out
