"""Untrusted text through every TUI widget: shown as written, never as markup, never a crash,
and no control character ever reaches the terminal (issue 8, kind 1).

Visitor, agent, KB and config text is data. The property tests push arbitrary strings —
brackets, backslashes, ``[/x]``, ``[bold]``, ``$variables``, control characters, emoji
with joiners and skin tones — through the queue table, the title bars, the open bar, the
connection banner, every kind of transcript line, the handoff panel, the reply box's
status line and draft, and the notifications, then read back what each widget renders.
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.cells import set_cell_size
from textual.geometry import Region
from textual.widgets import Static
from textual.widgets._toast import Toast

from handoff_server.protocol import (
    AgentInfo,
    CandidateInfo,
    DraftInfo,
    Event,
    QueueItem,
    SError,
    TriggerInfo,
    VisitorInfo,
    parse_event,
)
from handoff_tui.screens import ConversationScreen, QueueScreen
from handoff_tui.widgets.banner import ConnectionBanner, OpenBar
from handoff_tui.widgets.queue_table import QueueTable, columns_for_width
from handoff_tui.widgets.reply_box import ReplyBox
from handoff_tui.widgets.transcript import TranscriptLine, TranscriptMarkdown
from tests.tui_fixtures import (
    SAM,
    ago,
    build_app,
    low_confidence_packet,
    queue_items,
    wait_for,
)


async def _signed_in(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.model.queue_loaded, "sign-in and the queue")


async def _opened(pilot, cid: str) -> ConversationScreen:
    app = pilot.app
    app.open_conversation(cid)
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, ConversationScreen)
            and app.screen.ready
            and app.screen.conv.packet is not None
        ),
        f"{cid} loaded",
    )
    return app.screen


FRAGMENTS = [
    "[",
    "]",
    "\\",
    "\\[",
    "[/x]",
    "[bold]",
    "[/bold]",
    "[/]",
    "[b red]",
    "[@click=app.quit]",
    "$name",
    "$",
    "$$",
    "{}",
    "%s",
    "\x1b[31m",
    "\x1b]0;owned\x07",
    "\x00",
    "\x07",
    "\x08",
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\x7f",
    "\x9b",
    "\x85",
    "\u2028",
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u202e",
    "👩‍💻",
    "👍🏽",
    "👨‍👩‍👧‍👦",
    "🇫🇷",
    "❤️",
    "e\u0301",
    "中文",
    "[/var/log/nginx]",
]
"""Pieces that break markup parsers, format strings and terminals."""

HOSTILE = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(min_size=1, max_size=6)),
    min_size=1,
    max_size=6,
).map("".join)
"""Arbitrary non-empty strings, mostly made of the pieces above."""

CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
"""Characters a terminal obeys instead of drawing (newlines are split into lines)."""


def visible(text: str, *, one_line: bool = False) -> str:
    """The expected on-screen form of ``text`` (the spec, written independently of
    ``handoff_tui.text``): CR LF and CR are line breaks, a line break is a space on one
    line, a tab a space, other C0 controls and DEL their control pictures (␛, ␀, ␡),
    C1 controls ``\\x9b``-style escapes, U+2028/U+2029 ␤/¶; everything else as is."""
    out = []
    for ch in text.replace("\r\n", "\n").replace("\r", "\n"):
        cp = ord(ch)
        if ch == "\n":
            out.append(" " if one_line else "\n")
        elif ch == "\t":
            out.append(" ")
        elif cp < 0x20:
            out.append(chr(0x2400 + cp))
        elif cp == 0x7F:
            out.append("\u2421")
        elif 0x80 <= cp < 0xA0:
            out.append(f"\\x{cp:02x}")
        else:
            out.append({"\u2028": "\u2424", "\u2029": "\u00b6"}.get(ch, ch))
    return "".join(out)


QUOTED = [
    "my error log says [/var/log/nginx] is full",
    "[bold]hi[/bold]",
    "[/bold]",
    "\x1b[2J\x1b[31mred alert\x07",
]
"""The inputs quoted in issue 8."""


def _rendered(widget) -> str:
    """What ``widget`` draws now, line by line (its visible region)."""
    region = Region(0, 0, widget.size.width, max(1, widget.size.height))
    return "\n".join("".join(seg.text for seg in strip) for strip in widget.render_lines(region))


def _content(widget: Static) -> str:
    return widget.visual.plain  # type: ignore[union-attr]


def _assert_terminal_safe(*widgets) -> None:
    for widget in widgets:
        drawn = _rendered(widget)
        assert not CONTROL.search(drawn), (widget, drawn)


def _events(cid: str, s: str) -> list[Event]:
    """One event of every kind the transcript draws, each carrying ``s`` where it can."""
    agent = {"id": "ag_x", "name": s, "role": "agent"}
    trigger = TriggerInfo(
        kind="keyword",
        detail=s,
        confidence=0.9,
        threshold=0.7,
        rule=s,
        evaluations=[{"trigger": "keyword", "fired": True, "value": s}],
    )
    kinds = [
        ("conversation_started", "system", {"visitor": {"name": s, "page_url": s}}),
        ("visitor_message", "visitor", {"text": s}),
        (
            "ai_message",
            "ai",
            {
                "text": s,
                "confidence": 0.4,
                "threshold": 0.7,
                "sources": [s],
                "analysis": s,
            },
        ),
        (
            "escalated",
            "system",
            {
                "trigger": trigger.model_dump(),
                "priority": 1,
                "team": s,
                "draft": {"text": s, "candidates": []},
            },
        ),
        ("claimed", "agent", {"agent": agent}),
        ("agent_message", "agent", {"agent": agent, "text": s}),
        ("note", "agent", {"agent": agent, "text": s}),
        ("system_message", "system", {"text": s}),
    ]
    return [
        parse_event(
            {
                "conversation_id": cid,
                "seq": n,
                "kind": kind,
                "at": ago(60 - n),
                "actor": actor,
                "data": data,
            }
        )
        for n, (kind, actor, data) in enumerate(kinds, start=1)
    ]


def _queue_row(s: str) -> QueueItem:
    trigger = TriggerInfo(
        kind="keyword", evaluations=[{"trigger": "keyword", "fired": True, "value": s}]
    )
    return QueueItem(
        conversation_id="c_hostile",
        status="queued",
        visitor=VisitorInfo(name=s),
        first_question=s,
        trigger=trigger,
        last_confidence=0.5,
        priority=1,
        team=s,
        queued_at=ago(30),
        updated_at=ago(30),
    )


def _check_queue(screen: QueueScreen, s: str) -> None:
    app = screen.app
    app.queue.replace([_queue_row(s)])
    app.queue.me = AgentInfo(id=SAM.id, name=s, role="agent")
    screen.redraw()
    assert visible(s, one_line=True) in _content(screen.query_one("#title-bar", Static))
    table = screen.query_one(QueueTable)
    row = [seg.text for seg in table.render_line(1)]
    widths = {c.key: c.width for c in columns_for_width(table.scrollable_content_region.width)}
    one_line = visible(s, one_line=True)
    assert row[1] == " " + set_cell_size(one_line, widths["visitor"])
    assert row[2] == " " + set_cell_size(one_line, widths["question"])
    assert row[3] == " " + set_cell_size(f"keyword '{one_line}'", widths["trigger"])
    _assert_terminal_safe(table, screen.query_one("#title-bar"))


def _load_hostile(screen: ConversationScreen, s: str) -> None:
    """Put ``s`` in every field of the screen's conversation and redraw it."""
    conv = screen.conv
    visitor = VisitorInfo(name=s, email=s, fields={s[:100]: s}, page_url=s)
    candidates = [CandidateInfo(entry_id=s, title=s, score=0.5)]
    conv.packet = conv.packet.model_copy(
        update={
            "visitor": visitor,
            "analysis": s,
            "team": s,
            "trigger": None,
            "candidates": candidates,
        }
    )
    conv.events = {e.seq: e for e in _events(conv.conversation_id, s)}
    conv.status, conv.assigned_agent = "assigned", AgentInfo(id="ag_x", name=s, role="agent")
    conv.agent_typing = s
    screen.redraw()


def _check_conversation(screen: ConversationScreen, s: str) -> None:
    _load_hostile(screen, s)
    one_line, multi = visible(s, one_line=True), visible(s)
    title = _content(screen.query_one("#title-bar", Static))
    assert title.startswith(one_line + " · assigned · assigned to " + one_line)
    assert f" 1 {one_line} " in _content(screen.query_one(OpenBar))
    lines = [_content(w) for w in screen.query(TranscriptLine)]
    assert f"conversation started on {one_line}" in lines[0]
    assert lines[1].endswith(f" {one_line}  {multi}")
    assert lines[2].endswith(f"]  sources: {one_line}")
    # The AI's text is Markdown, drawn under its line from exactly the shown text.
    bodies = [w.content.markup for w in screen.query(TranscriptMarkdown)]
    assert bodies == [multi]
    assert f"escalated: keyword '{one_line}' · priority 1 · team {one_line}" in lines[3]
    assert f"claimed by {one_line}" in lines[4]
    assert lines[5].endswith(f" {one_line}  {multi}")
    assert lines[6].endswith(f" {one_line} · internal note  {multi}")
    assert lines[7].endswith(f"── {one_line} ──")
    panel = _content(screen.query_one("#panel-body", Static))
    for expected in (
        f"matched: {one_line}",
        f"rule: {one_line}",
        f"team: {one_line}",
        f"name: {one_line}",
        f"{visible(s[:100], one_line=True)}: {one_line}",
        f"start page: {one_line}",
        f"AI analysis\n{multi}",
        f"0.50 {one_line} ({one_line})",
        f"assigned to: {one_line}",
    ):
        assert expected in panel, (expected, panel)
    status = _content(screen.query_one("#reply-status", Static))
    assert status.startswith(f"{one_line} is typing…")

    banner = screen.query_one(ConnectionBanner)
    banner.show_state("reconnecting", s, 2, 1.0, s)
    assert f"Connection to {one_line} lost" in _content(banner)

    assert screen.insert_draft()
    assert screen.query_one(ReplyBox).text == multi
    _assert_terminal_safe(
        screen.query_one("#title-bar"),
        screen.query_one(OpenBar),
        banner,
        *screen.query(TranscriptLine),
        *(w for w in screen.query(TranscriptMarkdown) if w.size.width),
        screen.query_one("#panel-body"),
        screen.query_one("#reply-status"),
        screen.query_one("#reply-text"),
    )


async def test_hostile_text_in_every_widget_is_shown_verbatim() -> None:
    """Property: for any string, every widget shows it as written (controls made visible),
    nothing crashes, and the drawn lines hold no control character."""
    app, _server = build_app(queue=queue_items(), packets=[low_confidence_packet()])
    async with app.run_test(size=(160, 48)) as pilot:
        await _signed_in(pilot)
        queue_screen = app.screen
        assert isinstance(queue_screen, QueueScreen)
        screen = await _opened(pilot, "c_ada")
        # One line widget per event kind, laid out once, then updated in place per example.
        screen.conv.events = {e.seq: e for e in _events("c_ada", "x")}
        screen.redraw()
        await wait_for(
            pilot,
            lambda: len(screen.query(TranscriptLine)) == len(screen.conv.events),
            "one line per event",
        )

        @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(s=HOSTILE)
        def check(s: str) -> None:
            _check_queue(queue_screen, s)
            _check_conversation(screen, s)

        check()
        for s in QUOTED:
            _check_queue(queue_screen, s)
            _check_conversation(screen, s)


async def test_quoted_inputs_render_verbatim_on_screen() -> None:
    """The issue's inputs, drawn on a real screen: the visitor line reads exactly as sent
    (brackets kept, nothing bold), the escape sequence shows as ␛ and a bell as ␇."""
    app, server = build_app(queue=queue_items(), packets=[low_confidence_packet()])
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.queue.me is not None, "sign-in")
        app.open_conversation("c_ada")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, ConversationScreen) and app.screen.conv.packet is not None
            ),
            "c_ada loaded",
        )
        for text in QUOTED:
            server.append("c_ada", "visitor_message", "visitor", text=text)

        def drawn() -> str:
            return "\n".join(_rendered(line) for line in app.screen.query(TranscriptLine))

        await wait_for(pilot, lambda: "red alert" in drawn(), "the quoted lines drawn")
        shown = drawn()
        assert "my error log says [/var/log/nginx] is full" in shown
        assert "[bold]hi[/bold]" in shown and "[/bold]" in shown
        assert "␛[2J␛[31mred alert␇" in shown
        assert not CONTROL.search(shown)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=HOSTILE)
async def test_notifications_show_hostile_text_verbatim(s: str) -> None:
    """Property: a visitor's name and keyword in the "New escalation" toast, and a server
    error's detail in the error toast, read back exactly (controls made visible)."""
    app, server = build_app(queue=[])
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.model.queue_loaded, "the queue snapshot")
        server.upsert(_queue_row(s))
        for conn in server.connections:
            conn.push(SError(code="conflict", detail=s))
        await wait_for(pilot, lambda: len(app.screen.query(Toast)) >= 2, "both toasts")
        toasts = [t.render().plain for t in app.screen.query(Toast)]
        assert f"New escalation\n{visible(s)} — keyword '{visible(s)}'" in toasts, toasts
        assert f"Server error\n{visible(s)} (conflict)" in toasts, toasts
        for toast in app.screen.query(Toast):
            assert not CONTROL.search(_rendered(toast))


@given(s=HOSTILE)
def test_visible_matches_the_spec(s: str) -> None:
    """``handoff_tui.text.visible`` is the transform specified above, for any string."""
    from handoff_tui.text import visible as shown

    assert shown(s) == visible(s) and shown(s, one_line=True) == visible(s, one_line=True)


def test_visible_names_every_control_and_keeps_everything_else() -> None:
    """The display transform: controls become pictures or escapes; line breaks are kept
    (or become spaces on one line); brackets, backslashes, ``$`` and emoji stay."""
    from handoff_tui.text import visible

    assert visible("a\x1b[31mb\x07c\x00") == "a␛[31mb␇c␀"
    assert visible("x\r\ny\rz\n") == "x\ny\nz\n"
    assert visible("x\ny\tz", one_line=True) == "x y z"
    assert visible("\x9b\x85\x7f") == "\\x9b\\x85␡"
    keep = "[/x] \\[b] $name 👩‍💻👍🏽 e\u0301 \u200b"
    assert visible(keep) == keep


async def test_pasted_escape_sequences_are_shown_not_obeyed() -> None:
    """A paste into the reply box is data: the escape sequence lands as visible text."""
    from textual import events

    app, _server = build_app(queue=queue_items(), packets=[low_confidence_packet()])
    async with app.run_test(size=(120, 36)) as pilot:
        await _signed_in(pilot)
        editor = (await _opened(pilot, "c_ada")).query_one(ReplyBox).editor
        editor.focus()
        editor.post_message(events.Paste("see \x1b[2J\x1b[31mthis\x07"))
        await wait_for(pilot, lambda: editor.text != "", "the paste")
        assert editor.text == "see ␛[2J␛[31mthis␇"
        assert not CONTROL.search(_rendered(editor))


async def test_kb_draft_markdown_is_inserted_and_shown_as_written() -> None:
    """ctrl+g puts the AI's KB draft in the reply box exactly as written: Markdown and
    bracketed text are not interpreted, nothing is styled or dropped (kind 2, TUI part)."""
    draft = "**Set** the `MX` record: see [DNS help](https://x.example) [b]now[/b] $HOME\n- a\n- b"
    packet = low_confidence_packet()
    events_ = list(packet.transcript)
    esc = events_[-1]
    events_[-1] = esc.model_copy(
        update={"data": esc.data.model_copy(update={"draft": DraftInfo(text=draft)})}
    )
    packet = packet.model_copy(update={"transcript": events_})
    app, _server = build_app(queue=queue_items(), packets=[packet])
    async with app.run_test(size=(160, 48)) as pilot:
        await _signed_in(pilot)
        editor = (await _opened(pilot, "c_ada")).query_one(ReplyBox).editor
        editor.focus()
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: editor.text != "", "the draft inserted")
        assert editor.text == draft
        drawn = _rendered(editor)
        for line in draft.splitlines():
            assert line in drawn


MARKDOWN_ANSWER = (
    "Go to **Websites → Settings** and run:\n\n```\nhandoff serve --port 8765\n```\n\n"
    "- one [b]step[/b]\n- two"
)


async def test_ai_answers_are_drawn_as_markdown_and_people_as_plain_text() -> None:
    """The transcript showed an AI answer's (KB text's) Markdown raw: ``**bold**`` and
    code fences. It is drawn formatted now (no ``**`` or fence, the bold part bold, the
    list bulleted), with rich's console markup left as text; the visitor's and the
    agent's same words stay plain, asterisks and all."""
    app, _server = build_app(queue=queue_items(), packets=[low_confidence_packet()])
    async with app.run_test(size=(120, 40)) as pilot:
        await _signed_in(pilot)
        screen = await _opened(pilot, "c_ada")
        screen.conv.events = {e.seq: e for e in _events("c_ada", MARKDOWN_ANSWER)}
        screen.redraw()
        await pilot.pause(0.2)
        (body,) = screen.query(TranscriptMarkdown)
        drawn = _rendered(body)
        assert "Go to Websites → Settings and run:" in drawn and "**" not in drawn
        assert "handoff serve --port 8765" in drawn and "```" not in drawn
        assert "• one [b]step[/b]" in drawn and "• two" in drawn
        strips = body.render_lines(Region(0, 0, body.size.width, body.size.height))
        bold = {s.text for strip in strips for s in strip if s.style and s.style.bold}
        assert "Websites → Settings" in bold
        people = [_content(w) for w in screen.query(TranscriptLine) if w.has_class("-visitor")]
        assert people[0].endswith(MARKDOWN_ANSWER)
        _assert_terminal_safe(body)
