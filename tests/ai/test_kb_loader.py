"""KB formats, `kb check` problems (each with file and line), and `kb build`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handoff_cli.main import app
from handoff_server.errors import HandoffError, KBError
from handoff_server.kb import check_kb, load_kb, write_kb_folder

ENTRY = """---
id: {id}
title: {title}
category: dns
team: support
questions:
  - {q1}
  - how long does dns take
---
{body}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def entry(folder: Path, name: str, **kw: str) -> Path:
    fields = {
        "id": name,
        "title": f"About {name}",
        "q1": f"question about {name}",
        "body": "The answer.",
    }
    fields.update(kw)
    return write(folder / f"{name}.md", ENTRY.format(**fields))


def test_all_formats_load_into_one_kb(tmp_path: Path) -> None:
    entry(tmp_path, "dns-propagation", body="Wait up to 48 hours.")
    write(
        tmp_path / "guide.md",
        "# Email setup\n\nUse IMAP on port 993.\n\n## Spam filters\n\nTurn them on in the panel.\n",
    )
    write(tmp_path / "faq.csv", "question,answer\nDo you offer refunds?,Yes within 30 days.\n")
    write(
        tmp_path / "labeled.csv",
        "text,label\nreset my password,password\nforgot password,password\nwhat's the weather,oos\n",
    )
    kb = load_kb(tmp_path)
    by_id = kb.by_id()
    assert by_id["dns-propagation"].answer == "Wait up to 48 hours."
    assert by_id["dns-propagation"].questions[1] == "how long does dns take"
    assert by_id["dns-propagation"].team == "support"
    assert by_id["guide:email-setup"].answer == "Use IMAP on port 993."
    assert by_id["guide:spam-filters"].title == "Spam filters"
    assert by_id["faq:2"].answer == "Yes within 30 days."
    assert by_id["password"].questions == ["reset my password", "forgot password"]
    assert by_id["oos"].out_of_scope and by_id["oos"].questions == ["what's the weather"]


def test_single_file_and_escalate_flag(tmp_path: Path) -> None:
    f = write(
        tmp_path / "x.md",
        "---\nid: outage\ntitle: Server down\nescalate: true\nquestions: [site is down]\n---\nWe are on it.\n",
    )
    kb = load_kb(f)
    assert kb.entries[0].escalate is True


def test_default_is_bundled_demo_kb() -> None:
    kb = load_kb(None)
    assert len(kb.entries) >= 40
    assert all(e.answer and e.questions for e in kb.entries)
    assert check_kb(None) == []


def lines_of(problems: list) -> list[tuple[str, int, str]]:
    return [(Path(p.file).name, p.line, p.severity) for p in problems]


def test_kb_check_reports_every_problem_with_file_and_line(tmp_path: Path) -> None:
    entry(tmp_path, "a")
    entry(tmp_path, "b", id="a")  # duplicate id, line 2
    entry(tmp_path, "c", q1="question about a")  # same example as a, questions item on line 7
    entry(tmp_path, "d", body="")  # empty answer after the front matter (line 10)
    write(tmp_path / "e.md", "---\nid: e\ntitle: [unclosed\n---\nbody\n")  # bad YAML
    write(tmp_path / "f.md", "---\nid: f\ntitle: F\ncolour: red\n---\nbody\n")  # unknown key
    write(tmp_path / "g.md", "---\ntitle: G\n---\nbody\n")  # missing id
    write(tmp_path / "h.md", "---\nid: h\ntitle: H\nquestions: [one\n")  # never closed
    write(tmp_path / "i.csv", "foo,bar\n1,2\n")  # unknown CSV header
    write(tmp_path / "j.csv", "question,answer\nhello,\n")  # empty FAQ answer
    write(tmp_path / "k.md", "---\nid: bad id!\ntitle: K\n---\nbody\n")  # invalid id
    problems = [p for p in check_kb(tmp_path) if p.severity == "error"]
    got = {(Path(p.file).name, p.line) for p in problems}
    assert ("b.md", 2) in got
    assert ("c.md", 7) in got
    assert ("d.md", 10) in got
    assert ("f.md", 4) in got
    assert ("g.md", 2) in got
    assert ("h.md", 1) in got
    assert ("i.csv", 1) in got
    assert ("j.csv", 2) in got
    assert ("k.md", 2) in got
    assert any(Path(p.file).name == "e.md" and "front matter" in p.message for p in problems)
    messages = " | ".join(p.message for p in problems)
    for phrase in (
        "duplicate id",
        "is under both",
        "empty answer",
        "unknown front matter key",
        "needs 'id'",
        "never closed",
        "unknown CSV header",
    ):
        assert phrase in messages
    with pytest.raises(KBError) as err:
        load_kb(tmp_path)
    assert isinstance(err.value, HandoffError) and err.value.code == "bad_kb"
    assert len(err.value.problems) == len(problems)
    assert "b.md:2" in str(err.value)


def test_a_file_with_a_nul_is_an_error_at_its_line(tmp_path: Path) -> None:
    """A NUL is not text (and PostgreSQL would refuse the answer carrying it): the file is
    refused with its line, whatever its format; the other files still load for a check."""
    write(tmp_path / "good.md", ENTRY.format(id="dns", title="DNS", q1="q", body="Wait."))
    write(tmp_path / "bad.md", ENTRY.format(id="nul", title="Nul", q1="q2", body="a\nb\x00c"))
    write(tmp_path / "faq.csv", 'question,answer\n"how","fine"\n"why","odd\x00"\n')
    problems = check_kb(tmp_path)
    found = {(Path(p.file).name, p.line, p.message) for p in problems}
    assert ("bad.md", 11, "a NUL character (U+0000): not text") in found
    assert ("faq.csv", 3, "a NUL character (U+0000): not text") in found
    assert all(p.severity == "error" for p in problems if "NUL" in p.message)
    with pytest.raises(KBError) as caught:
        load_kb(tmp_path)
    assert caught.value.code == "bad_kb"
    assert "bad.md:11" in str(caught.value)


def test_labeled_csv_noise_is_a_warning(tmp_path: Path) -> None:
    f = write(tmp_path / "l.csv", "text,label\nsame text,a\nother,a\nsame text,b\nmore,b\n")
    problems = check_kb(f)
    assert [p.severity for p in problems] == ["warning"]
    assert problems[0].line == 4
    assert load_kb(f).by_id()["b"].questions == ["more"]


def test_missing_path_and_empty_kb(tmp_path: Path) -> None:
    with pytest.raises(KBError, match="no such file"):
        load_kb(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(KBError, match="no answerable entries"):
        load_kb(tmp_path / "empty")


def test_written_folder_round_trips(tmp_path: Path) -> None:
    src = write(
        tmp_path / "l.csv",
        "text,label\nreset my password,password\nhi there,greeting\nweather?,oos\n",
    )
    kb = load_kb(src)
    out = write_kb_folder(kb, tmp_path / "kb")
    again = load_kb(out)
    assert [(e.id, e.questions, e.out_of_scope) for e in again.entries] == sorted(
        [(e.id, e.questions, e.out_of_scope) for e in kb.entries]
    )
    assert check_kb(out) == []
    with pytest.raises(KBError, match="already exists"):
        write_kb_folder(kb, out)


runner = CliRunner()


def test_cli_kb_check(tmp_path: Path) -> None:
    entry(tmp_path, "a")
    ok = runner.invoke(app, ["kb", "check", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    entry(tmp_path, "b", id="a")
    bad = runner.invoke(app, ["kb", "check", str(tmp_path), "--json"])
    assert bad.exit_code == 1
    report = json.loads(bad.stdout)
    assert report["ok"] is False and report["errors"] == 1
    assert report["problems"][0]["line"] == 2 and report["problems"][0]["file"].endswith("b.md")


def test_cli_kb_build(tmp_path: Path) -> None:
    src = write(
        tmp_path / "l.csv",
        "text,label\n"
        + "".join(f"how do i {v} my card,{v}\n" for v in ["block", "activate"] * 1)
        + "please block the card,block\nturn on my new card,activate\nwhat time is it,oos\n",
    )
    out = tmp_path / "kb"
    res = runner.invoke(
        app,
        [
            "kb",
            "build",
            "--from-csv",
            str(src),
            "--out",
            str(out),
            "--data-dir",
            str(tmp_path / "data"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["activate.md", "block.md", "oos.csv"]
    assert list((tmp_path / "data" / "cache").glob("index-tfidf-*.joblib"))
    again = runner.invoke(app, ["kb", "build", "--from-csv", str(src), "--out", str(out)])
    assert again.exit_code != 0 and "already exists" in again.output
    bad = runner.invoke(
        app,
        ["kb", "build", "--from-csv", str(src), "--out", str(tmp_path / "k2"), "--engine", "nope"],
    )
    assert bad.exit_code != 0 and "unknown engine" in bad.output
    assert not (tmp_path / "k2").exists()
    broken = write(tmp_path / "b.csv", "foo,bar\n1,2\n")
    res = runner.invoke(
        app, ["kb", "build", "--from-csv", str(broken), "--out", str(tmp_path / "k3")]
    )
    assert res.exit_code != 0 and "unknown CSV header" in res.output
    assert not (tmp_path / "k3").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".k")]


@pytest.mark.parametrize("team", ["[red]t[/red]", "billing team", "", "x" * 65])
def test_a_kb_team_is_a_team_name_as_in_the_policy(tmp_path: Path, team: str) -> None:
    """A KB entry's team follows the policy's rule for team names (a newcomer's
    ``team: "[red]t[/red]"`` passed ``kb check``): refused with its file and line."""
    (tmp_path / "x.md").write_text(
        f'---\nid: x\ntitle: X\nteam: "{team}"\nquestions:\n  - how do I x\n---\nDo x.\n',
        encoding="utf-8",
    )
    problems = [p for p in check_kb(tmp_path) if p.severity == "error"]
    assert len(problems) == 1 and problems[0].line == 4, problems
    assert "use 1-64 letters, digits" in problems[0].message


def test_a_kb_team_name_loads(tmp_path: Path) -> None:
    (tmp_path / "x.md").write_text(
        "---\nid: x\ntitle: X\nteam: tier-2.billing\nquestions:\n  - how do I x\n---\nDo x.\n",
        encoding="utf-8",
    )
    assert load_kb(tmp_path).entries[0].team == "tier-2.billing"
