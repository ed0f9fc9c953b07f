"""``handoff visit`` on a terminal wraps the AI's answer at words: printed as sent, a
terminal cut the demo KB's long lines by characters, and a 120-column one started a row
with the space before "Need more than 25 GB per mailbox?"."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import subprocess
import sys
import time

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from handoff_cli.output import wrap_words

QUOTA_LINE = (
    'If you use POP3 with "leave a copy on server", old mail piles up on the server. Set '
    "your app to remove it after 14 days. Need more than 25 GB per mailbox? Our Business "
    "Email add-on offers 100 GB mailboxes."
)


def test_wrapping_breaks_at_spaces_and_indents_list_items():
    assert wrap_words(QUOTA_LINE, 120).splitlines() == [
        'If you use POP3 with "leave a copy on server", old mail piles up on the server.'
        " Set your app to remove it after 14 days.",
        "Need more than 25 GB per mailbox? Our Business Email add-on offers 100 GB mailboxes.",
    ]
    item = "1. Empty the Trash and Junk folders. Deleted mail still counts."
    assert wrap_words(f"Free up space:\n\n{item}", 30, offset=4).splitlines() == [
        "Free up space:",
        "",
        "1. Empty the Trash and Junk",
        "   folders. Deleted mail still",
        "   counts.",
    ]
    assert wrap_words("short\n  - a b", 80) == "short\n  - a b"


def test_wide_characters_wrap_by_the_cells_they_take():
    """A CJK character or an emoji takes two cells: a line of them wraps at half the
    characters, and text without spaces is cut by cells, not characters."""
    japanese = "日本語のテキストはスペースなしで続きます。" * 3 + " 絵文字も😀😀😀 あります"
    lines = wrap_words(japanese, 20, offset=4).splitlines()
    assert cell_len(lines[0]) <= 16  # four cells taken by the label before it
    assert all(cell_len(line) <= 20 for line in lines), lines
    assert max(cell_len(line) for line in lines[1:]) >= 19, "rows filled, not cut short"
    assert "".join(lines).replace(" ", "") == japanese.replace(" ", "")


_WORDS = st.text(st.sampled_from("ab xyz日本語😀- .1\t"), max_size=120)


@settings(max_examples=300, deadline=None)
@given(text=st.lists(_WORDS, max_size=4).map("\n".join), width=st.integers(12, 90))
def test_wrapping_keeps_every_character_and_fits_the_width(text: str, width: int) -> None:
    wrapped = wrap_words(text, width)
    assert wrapped.count("\n") >= text.count("\n")
    assert all(cell_len(line) <= width for line in wrapped.split("\n")), wrapped
    assert "".join(wrapped.split()) == "".join(text.split())


def _visit_on_a_terminal(url: str, question: str, columns: int) -> str:
    """``handoff visit -m QUESTION`` on a pseudo-terminal ``columns`` wide; its output."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "handoff_cli", "visit", "--server", url, "-m", question],
        stdin=slave, stdout=slave, stderr=slave,
        env={**env, "TERM": "xterm", "COLUMNS": str(columns)},
    )  # fmt: skip
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                output += os.read(master, 65536)
            except OSError:
                break
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(master)
    return output.decode("utf-8", "replace")


async def test_an_answer_on_a_terminal_fits_its_width_without_a_leading_space(server):
    # In a thread: the server runs on this test's event loop.
    out = await asyncio.to_thread(_visit_on_a_terminal, server.url, "my mailbox is full", 120)
    lines = [line for line in out.replace("\r", "").split("\n") if "\x1b" not in line]
    assert any(line.startswith("Need more than 25 GB per mailbox?") for line in lines), out
    assert max(len(line) for line in lines) <= 120, out
    assert not [line for line in lines if line.startswith(" ") and line.strip()], out
