"""Snapshot tests of the agent TUI: fixed clock (2026-03-02 14:30:00 UTC), fixture data on an
in-memory server (``tests/fake.py``), explicit terminal sizes. Each SVG was reviewed as
a picture; the docstring says what it must show."""

from __future__ import annotations

from textual.widgets._toast import Toast

from handoff_server.protocol import VisitorInfo, VisitorMessageData
from handoff_tui.widgets.reply_box import ReplyBox
from tests.tui_fixtures import (
    SAM,
    ago,
    ai_row,
    build_app,
    keyword_packet,
    low_confidence_packet,
    packet_in_status,
    queue_items,
)


async def _settle(pilot) -> None:
    # The link worker runs for the app's lifetime, so wait for the fake server's frames
    # to be handled rather than for workers to finish.
    await pilot.pause(0.25)


async def _until(pilot, predicate) -> None:
    # Allow a loaded machine 5 s; the picture is taken once the state is there.
    for _ in range(100):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


def _open(cid: str):
    async def run_before(pilot) -> None:
        app = pilot.app
        await _until(pilot, lambda: app.queue.me is not None)
        await _settle(pilot)
        app.open_conversation(cid)
        await _until(
            pilot,
            lambda: (
                getattr(app.screen, "ready", False) and app.conversations[cid].packet is not None
            ),
        )
        await _settle(pilot)
        # The cursor blinks in a focused editor; park focus on the transcript for a stable picture.
        pilot.app.screen.query_one("#transcript").focus()
        await pilot.pause(0.1)

    return run_before


def test_empty_queue_80x24(snap_compare) -> None:
    """Empty queue at 80×24: title bar "Sam Rivera · 0 queued · 0 assigned · 0 shown · filter all · sort priority", the column headers
    (Waiting, Visitor, First question, Trigger, Conf, Est., Assignee — no Pri/Team at this
    width),
    the line "No conversations waiting…", no banner, footer with ⏎ Open, c Claim, a AI view,
    f Filter, s Sort, ^q Quit (whole, nothing cut) and ^p palette."""
    app, _ = build_app(queue=[])
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settle)


def test_busy_queue_160x48(snap_compare) -> None:
    """Busy queue at 160×48: eight rows sorted by priority (Linus p3 first, then Grace p2,
    ken and Ada p1), waiting times from the fixed clock (Linus 20m50s, ken 1h02m, Alan 31s),
    trigger reasons (low confidence, keyword 'cancel my account', asked for human), the
    confidence column coloured red below 0.70, amber within 0.10 above, green above; Pri
    and Team columns present, the Est. column empty (these rows carry no wait estimate);
    Sam's own rows green, Kim's dimmed; cursor on the first row;
    the assigned rows (Margaret, Barbara, Dennis) show "—" as their wait: claimed before
    the app connected, so the claim's time is not known and nothing ticks."""
    app, _ = build_app(queue=queue_items())
    assert snap_compare(app, terminal_size=(160, 48), run_before=_settle)


def test_busy_queue_80x24_filter_mine(snap_compare) -> None:
    """Busy queue at 80×24 after pressing f: filter "mine" shows only Margaret Hamilton
    and Dennis R. (assigned to Sam Rivera, waiting "—": the count stopped at the claim);
    the title bar says "2 shown · filter mine"."""
    app, _ = build_app(queue=queue_items())
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settle, press=["f"])


def test_conversation_low_confidence_120x36(snap_compare) -> None:
    """Ada's conversation at 120×36, escalated on low confidence: transcript with the
    visitor's lines, an AI line showing [0.86 ≥ 0.70] in green with its source, the system
    line "escalated: low confidence 0.41 < 0.70 · priority 1 · team dns"; the handoff panel
    shows the trigger "low confidence", its detail, confidence 0.41 (red) vs threshold 0.70,
    waiting 3m18s, team dns, every visitor field (plan, domain) and the start page URL,
    the AI's analysis, three KB candidates with score bars (0.41, 0.33, 0.12) and the
    confidence history 0.86 0.41; the open-conversation bar shows "1 Ada Lovelace"."""
    app, _ = build_app(queue=queue_items(), packets=[low_confidence_packet(), keyword_packet()])
    assert snap_compare(app, terminal_size=(120, 36), run_before=_open("c_ada"))


def test_conversation_keyword_80x24(snap_compare) -> None:
    """Grace's conversation at 80×24, escalated on the keyword 'cancel my account' although
    the AI was confident (0.88): the system line "escalated: keyword 'cancel my account' ·
    priority 2 · team billing"; the panel (narrower) starts with the trigger "keyword 'cancel
    my account'" and its detail, confidence 0.88 green vs 0.70, matched phrase, "also fired:
    sentiment"; the line above the reply box says "press c to claim it, then reply"; the
    reply box is not focused, so the footer shows the reading keys, whole at 80 columns:
    c Claim, r Resolve, b Hand back, i Write, esc Back (no Release: nothing to release)."""
    app, _ = build_app(queue=queue_items(), packets=[low_confidence_packet(), keyword_packet()])
    assert snap_compare(app, terminal_size=(80, 24), run_before=_open("c_grace"))


def test_new_escalation_toast_on_a_conversation_80x24(snap_compare) -> None:
    """Grace's conversation at 80×24 when Joan Clarke's conversation is escalated: the
    toast "New escalation / Joan Clarke — keyword 'cancel my account'" (its title and the
    message wrapped: three lines, no padding) lies over the transcript's top right, left
    of the panel divider; the panel's
    trigger "keyword 'cancel my account'" and "confidence 0.88 vs threshold 0.70" stay in
    view (the toast covered them at the top right of the screen), and so does the reply
    box."""
    app, server = build_app(
        queue=queue_items(), packets=[low_confidence_packet(), keyword_packet()]
    )
    grace = next(item for item in queue_items() if item.conversation_id == "c_grace")
    new = grace.model_copy(
        update={"conversation_id": "c_joan", "visitor": VisitorInfo(name="Joan Clarke")}
    )

    async def run_before(pilot) -> None:
        await _open("c_grace")(pilot)
        server.upsert(new)
        await _until(pilot, lambda: pilot.app.screen.query(Toast))
        await _settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_conversation_keyword_160x48(snap_compare) -> None:
    """Grace's conversation at 160×48: the same content as at 80×24 with the whole panel
    visible, including KB candidates (Cancelling your plan 0.88, SLA credits 0.64) and the
    confidence history (one green bar, 0.88, threshold 0.70)."""
    app, _ = build_app(queue=queue_items(), packets=[low_confidence_packet(), keyword_packet()])
    assert snap_compare(app, terminal_size=(160, 48), run_before=_open("c_grace"))


def test_reply_in_progress_120x36(snap_compare) -> None:
    """Reply in progress at 120×36 on Ada's conversation, after claiming it (c), inserting
    the AI's draft (ctrl+g), sending it (ctrl+s) to a server holding its ack, and typing a
    second reply: the transcript ends with "── claimed by Sam Rivera ──" and Sam's first
    reply marked "… sending"; the status line says "sending 1…"; the reply box holds the
    half-written second reply; the title bar says "assigned to Sam Rivera"; the panel says
    "waited: 3m18s (claimed 14:30:00 UTC)" instead of a ticking "waiting"; the toast
    "Claimed: Ada Lovelace", one line, sits over the transcript's top right (the "──" that
    ends its first line), not over the panel's trigger or the reply box; the
    footer shows the writing keys: ^s Send, ^n Send as note, ^g KB draft, esc Back."""
    app, _ = build_app(queue=queue_items(), packets=[low_confidence_packet()], hold_acks=True)

    async def run_before(pilot) -> None:
        await _open("c_ada")(pilot)
        await pilot.press("c")
        await _settle(pilot)
        await pilot.press("ctrl+g", "ctrl+s")
        await _settle(pilot)
        reply = pilot.app.screen.query_one(ReplyBox)
        reply.set_text("Could you also tell me which mail client")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)


def test_reconnecting_banner_120x36(snap_compare) -> None:
    """Reconnecting banner at 120×36: the busy queue stays on screen (last known state) and a
    warning banner under the title says the connection to ws://fake.invalid:8765 was lost,
    "reconnecting (attempt 1, next try in 30.0 s)", and that unsent replies are kept."""
    app, server = build_app(queue=queue_items(), reconnect_initial=30.0)

    async def run_before(pilot) -> None:
        await _settle(pilot)
        server.drop()
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)


def test_two_open_with_unread_120x36(snap_compare) -> None:
    """Two conversations open at 120×36: Grace's is on screen; the open-conversation bar
    shows "1 Ada Lovelace ●2" (two visitor lines arrived in Ada's conversation while
    Grace's was shown; typing does not count as unread) and "2 Grace Hopper" highlighted;
    the reply box status line says "Grace Hopper is typing… · press c to claim it, then
    reply"."""
    app, server = build_app(
        queue=queue_items(), packets=[low_confidence_packet(), keyword_packet()]
    )

    async def run_before(pilot) -> None:
        await _open("c_ada")(pilot)
        pilot.app.open_conversation("c_grace")
        await _settle(pilot)
        server.append("c_ada", "visitor_message", "visitor", text="Hello? Anyone there?")
        server.append("c_ada", "visitor_message", "visitor", text="My mail still bounces")
        server.typing("c_ada", "visitor", True)
        server.typing("c_grace", "visitor", True)
        await _settle(pilot)
        pilot.app.screen.query_one("#transcript").focus()
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)


def test_conversation_resolved_80x24(snap_compare) -> None:
    """A resolved conversation at 80×24: the line above the reply box says "resolved · the
    AI answers if they write again" (not "press c to claim"); the transcript ends
    with "── resolved by Sam Rivera ──"; the panel says status resolved and shows no
    waiting time; the footer offers only i Write and esc Back (nothing to claim, resolve,
    release or hand back)."""
    app, _ = build_app(
        queue=[], packets=[packet_in_status("c_done", "Ada Lovelace", "resolved", SAM)]
    )
    assert snap_compare(app, terminal_size=(80, 24), run_before=_open("c_done"))


def test_conversation_hostile_text_120x36(snap_compare) -> None:
    """Visitor text that looks like markup or carries escape sequences, at 120×36: the
    visitor is named "[/bold]" everywhere (title, open bar, transcript, panel); their
    message reads "my error log says [/var/log/nginx] is full [bold]hi[/bold]" with the
    brackets and nothing bold, then "␛[31mred?␇" (the escape and the bell shown, the text
    not red); a second line "$name \\[not markup]" is shown as sent."""
    packet = low_confidence_packet()
    visitor = packet.visitor.model_copy(update={"name": "[/bold]"})
    events = list(packet.transcript)
    said = [
        "my error log says [/var/log/nginx] is full [bold]hi[/bold] \x1b[31mred?\x07",
        "$name \\[not markup]",
    ]
    for n, text in enumerate(said):
        events.insert(2 + n, events[1].model_copy(update={"data": VisitorMessageData(text=text)}))
    events = [e.model_copy(update={"seq": n}) for n, e in enumerate(events, start=1)]
    packet = packet.model_copy(
        update={"visitor": visitor, "transcript": events, "last_seq": len(events)}
    )
    app, _ = build_app(queue=[], packets=[packet])
    assert snap_compare(app, terminal_size=(120, 36), run_before=_open("c_ada"))


def test_ai_answer_markdown_120x36(snap_compare) -> None:
    """An AI answer written in Markdown (as KB entries are), at 120×36: under the AI's
    line, "Websites → Settings" is bold with no asterisks, the two steps are bulleted,
    the command sits in a code block with no fences, and "[b]step[/b]" (console markup)
    is shown as written; the visitor's "**urgent**" right above stays plain, asterisks
    and all."""
    packet = low_confidence_packet()
    events = list(packet.transcript)
    answer = (
        "Go to **Websites → Settings** and run:\n\n```\ndig +short MX example.org\n```\n\n"
        "- one [b]step[/b]\n- then *wait* an hour"
    )
    events[1] = events[1].model_copy(
        update={"data": VisitorMessageData(text="**urgent** how do I point my domain?")}
    )
    events[2] = events[2].model_copy(
        update={"data": events[2].data.model_copy(update={"text": answer})}
    )
    packet = packet.model_copy(update={"transcript": events})
    app, _ = build_app(queue=[], packets=[packet])
    assert snap_compare(app, terminal_size=(120, 36), run_before=_open("c_ada"))


def test_ai_view_120x36(snap_compare) -> None:
    """The AI view at 120×36 after pressing a: the title says "AI view · 2 with the AI ·
    5 queued · 3 assigned"; only the two conversations the AI is handling are listed, the
    longest idle first (Tim Berners-Lee, idle 2m00s, confidence 0.64 in red; Hedy Lamarr,
    idle 0s, 0.91 in green), with "Idle" (time since the last message) as the first column
    and no trigger, priority, team or assignee; the footer offers a Queue view."""
    tim = ai_row("c_tim", "Tim Berners-Lee").model_copy(
        update={
            "first_question": "how do I point my domain at your nameservers",
            "last_confidence": 0.64,
            "updated_at": ago(120),
        }
    )
    app, _ = build_app(queue=[*queue_items(), ai_row(), tim])
    assert snap_compare(app, terminal_size=(120, 36), run_before=_settle, press=["a"])


async def test_command_palette_offers_the_screen_actions() -> None:
    """Keys cut off a narrow footer stay findable: the palette lists the conversation
    screen's actions, and choosing one does what its key does."""
    from handoff_server.protocol import AClaim

    app, server = build_app(queue=queue_items(), packets=[low_confidence_packet()])
    async with app.run_test(size=(80, 24)) as pilot:
        await _open("c_ada")(pilot)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        # Ada's conversation is queued: release and a reply need a claim first, so they
        # are not offered.
        assert {"Claim", "Resolve", "Hand back", "Send as note", "KB draft"} <= set(commands)
        assert "Release" not in commands and "Send" not in commands
        await commands["Claim"].callback()
        for _ in range(50):  # the link worker sends it; allow a loaded machine 5 s
            if any(isinstance(f, AClaim) and f.conversation_id == "c_ada" for f in server.received):
                break
            await pilot.pause(0.1)
        assert any(isinstance(f, AClaim) and f.conversation_id == "c_ada" for f in server.received)


def test_ai_answer_being_written_120x36(snap_compare) -> None:
    """The AI's answer while it is written, at 120×36 on Ada's conversation: the last
    transcript line is "--:--:-- AI (writing…)" followed by the partial text "To set up
    your mail on an iPhone, open Settings → Mail → Accounts and", shown as provisional
    (the pending style), under the stored transcript."""
    app, server = build_app(queue=queue_items(), packets=[low_confidence_packet()])

    async def run_before(pilot) -> None:
        await _open("c_ada")(pilot)
        server.partial(
            "c_ada", "To set up your mail on an iPhone, open Settings → Mail → Accounts and"
        )
        await _until(pilot, lambda: pilot.app.conversations["c_ada"].ai_partial is not None)
        await _settle(pilot)

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)
