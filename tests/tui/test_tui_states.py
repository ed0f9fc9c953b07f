"""What the conversation and queue screens offer in each state (issue 8, kinds 5 and 7):
the hint above the reply box and the keys in the footer and palette follow the status;
the waiting time stops at the claim; the footer fits 80 and 120 columns; a dialog's
footer shows the dialog's keys; notifications stay off the reply box and the panel; ctrl+a selects all
in the reply box; emoji do not push the panel.

On the in-memory server (``tests/fake.py``) with a fixed clock; the same behaviour
against a real server is in ``tests/tui/test_tui_pilot.py``.
"""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from textual.errors import NoWidget
from textual.geometry import Region
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey
from textual.widgets._toast import Toast

from handoff_server.protocol import VisitorMessageData, parse_event
from handoff_tui.model import ConversationState
from handoff_tui.screens import ConversationScreen
from handoff_tui.widgets.handoff_panel import HandoffPanel
from handoff_tui.widgets.queue_table import QueueTable
from handoff_tui.widgets.reply_box import ReplyBox
from handoff_tui.widgets.transcript import Transcript, TranscriptLine
from tests.tui_fixtures import (
    KIM,
    NOW,
    SAM,
    build_app,
    low_confidence_packet,
    packet_in_status,
    queue_items,
    roster,
    wait_for,
)

ACTIONS = {"Claim", "Resolve", "Release", "Hand back"}

CASES = [
    # (conversation id, status, holder, hint above the reply box, actions offered)
    ("c_q", "queued", None, "press c to claim it, then reply", {"Claim", "Resolve", "Hand back"}),
    ("c_ai", "ai", None, "the AI is answering · press c to take over", {"Claim", "Resolve"}),
    ("c_mine", "assigned", SAM, "", {"Resolve", "Release", "Hand back"}),
    ("c_kim", "assigned", KIM, "Kim Okafor has it · ctrl+n adds an internal note", set()),
    ("c_done", "resolved", SAM, "resolved · the AI answers if they write again", set()),
    ("c_back", "reopened", SAM, "the AI is answering · press c to take over", {"Claim", "Resolve"}),
]


async def _wait(pilot, predicate, what: str, timeout: float = 10.0) -> None:
    await wait_for(pilot, predicate, what, timeout)


async def _open(pilot, cid: str) -> ConversationScreen:
    app = pilot.app
    await _wait(pilot, lambda: app.queue.me is not None, "sign-in")
    app.open_conversation(cid)
    await _wait(
        pilot,
        lambda: isinstance(app.screen, ConversationScreen) and app.screen.conv.packet is not None,
        f"{cid} loaded",
    )
    await _wait(pilot, lambda: app.screen.ready, f"{cid} drawn")
    return app.screen


def _footer_keys(screen) -> list[FooterKey]:
    return [
        k for k in screen.query_one(Footer).query(FooterKey) if not k.has_class("-command-palette")
    ]


def _status_line(screen: ConversationScreen) -> str:
    return screen.query_one("#reply-status", Static).visual.plain


@pytest.mark.parametrize(
    ("cid", "status", "holder", "hint", "actions"), CASES, ids=[c[0] for c in CASES]
)
async def test_each_status_shows_its_own_hint_and_actions(cid, status, holder, hint, actions):
    """A resolved conversation no longer says "press c to claim"; each status says what
    can be done, and the footer (reading mode) and palette offer exactly those actions."""
    packet = packet_in_status(cid, "Ada Lovelace", status, holder)
    app, _server = build_app(queue=[], packets=[packet])
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _open(pilot, cid)
        screen.query_one(Transcript).focus()
        await _wait(pilot, lambda: _status_line(screen) == hint, "status hint")
        # The footer recomposes after the focus moves: wait for the reading mode's keys.
        await _wait(
            pilot,
            lambda: {k.description for k in _footer_keys(screen)} & ACTIONS == actions,
            "reading-mode footer",
            timeout=3.0,
        )
        shown = {k.description for k in _footer_keys(screen)}
        assert shown & ACTIONS == actions, shown
        palette = {c.title for c in app.get_system_commands(screen)}
        assert palette & ACTIONS == actions, palette


async def test_claim_stops_the_waiting_time() -> None:
    """The panel counts "waiting" while queued; after the claim it shows how long the
    visitor waited, fixed at the claim, however much later it is."""
    app, _server = build_app(queue=queue_items(), packets=[low_confidence_packet()])
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _open(pilot, "c_ada")
        panel = screen.query_one("#panel-body", Static)
        assert "waiting: 3m18s" in panel.visual.plain
        screen.query_one(Transcript).focus()
        await pilot.press("c")
        await _wait(pilot, lambda: screen.conv.status == "assigned", "claim")
        app.clock.advance(600)
        app._tick()
        await _wait(pilot, lambda: "waited: " in panel.visual.plain, "waited redrawn")
        text = panel.visual.plain
        assert "waiting:" not in text
        assert "waited: 3m18s (claimed 14:30:00 UTC)" in text


async def test_queue_waiting_column_stops_at_the_claim() -> None:
    """In the queue, a row claimed while the agent watches keeps the wait it had at the
    claim; a row claimed before the app connected shows "—" (its claim time is unknown);
    queued rows keep counting."""
    app, server = build_app(queue=queue_items())
    async with app.run_test(size=(160, 48)) as pilot:
        await _wait(pilot, lambda: "c_ada" in app.queue.items, "queue")
        ada = app.queue.items["c_ada"]
        server.upsert(
            ada.model_copy(update={"status": "assigned", "assigned_agent": SAM, "updated_at": NOW})
        )
        await _wait(pilot, lambda: app.queue.items["c_ada"].status == "assigned", "claim")
        app.clock.advance(600)
        app._tick()
        await pilot.pause(0.1)
        table = app.screen.query_one(QueueTable)
        rows = {}
        for y in range(1, len(app.queue.view) + 1):
            cells = [seg.text.strip() for seg in table.render_line(y)]
            rows[cells[1]] = cells[0]
        assert rows["Ada Lovelace"] == "3m18s"
        assert rows["Margaret Hamilton"] == "—"
        assert rows["Grace Hopper"] == "11m34s"


def test_reopened_conversation_is_with_the_ai_again() -> None:
    """After "reopened" the conversation is with the AI (not "resolved"), nobody holds it;
    a new escalation queues it with no assignee."""
    packet = packet_in_status("c_back", "Ada", "reopened", KIM)
    conv = ConversationState("c_back")
    conv.load(packet.model_copy(update={"status": "resolved"}))
    assert conv.status == "ai" and conv.assigned_agent is None
    conv.add(
        parse_event(
            {
                "conversation_id": "c_back",
                "seq": 99,
                "kind": "escalated",
                "at": NOW,
                "actor": "system",
                "data": {},
            }
        )
    )
    assert conv.status == "queued" and conv.assigned_agent is None


def _overlaps(a: Region, b: Region) -> bool:
    return a.overlaps(b) and a.area > 0 and b.area > 0


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_footer_shows_whole_keys_at_80_and_120_columns(size) -> None:
    """No key is cut ("… w Clo"): on the queue, in a conversation being read, being
    written, and read again once claimed, every key shown ends before the palette key;
    the rest is in the palette."""
    app, _server = build_app(queue=queue_items(), packets=[low_confidence_packet()])
    async with app.run_test(size=size) as pilot:
        await _wait(pilot, lambda: app.queue.me is not None, "sign-in")
        await _assert_footer_fits(pilot, size[0], "queue", {"Claim", "Quit"})
        screen = await _open(pilot, "c_ada")
        await _assert_footer_fits(pilot, size[0], "reading", {"Claim", "Back"})
        await pilot.press("c")
        await _wait(pilot, lambda: screen.conv.status == "assigned", "claim")
        await _assert_footer_fits(pilot, size[0], "writing", {"Send", "Send as note"})
        await pilot.press("escape")
        await _assert_footer_fits(pilot, size[0], "reading, mine", {"Release"})
        app.show_queue()
        await _assert_footer_fits(pilot, size[0], "queue again", {"Claim"})


async def _assert_footer_fits(pilot, width: int, state: str, expected: set[str]) -> None:
    def keys():
        footer = pilot.app.screen.query_one(Footer)
        return list(footer.query(FooterKey))

    def fits() -> bool:
        keys_now = keys()
        palette = next((k for k in keys_now if k.has_class("-command-palette")), None)
        return palette is not None and all(
            k.region.width > 0 and k.region.right <= palette.region.x <= width
            for k in keys_now
            if k is not palette
        )

    # The footer recomposes its keys (and then lays them out) after each change of focus
    # or state: wait for the expected keys, then for the layout.
    await _wait(pilot, lambda: expected <= {k.description for k in keys()}, f"{state} footer")
    await _wait(pilot, fits, f"{state} footer laid out within {width} columns", timeout=3.0)
    keys_now = keys()
    palette = next(k for k in keys_now if k.has_class("-command-palette"))
    for key in keys_now:
        if key is palette:
            continue
        region = key.region
        assert region.width > 0 and region.right <= palette.region.x <= width, (
            state,
            key.description,
            region,
            palette.region,
        )


async def test_footer_offers_the_keys_of_the_current_mode() -> None:
    """Letter keys are offered while reading (they would type into the box while writing),
    ctrl keys while writing; the palette lists both wherever the focus is."""
    app, _server = build_app(queue=queue_items(), packets=[low_confidence_packet()])
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _open(pilot, "c_ada")
        screen.query_one(Transcript).focus()
        await _wait(pilot, lambda: "Claim" in {k.description for k in _footer_keys(screen)}, "keys")
        assert {k.description for k in _footer_keys(screen)} >= {"Claim", "Write", "Back"}
        assert "Send" not in {k.description for k in _footer_keys(screen)}
        screen.query_one(ReplyBox).editor.focus()
        await _wait(
            pilot,
            lambda: "Send as note" in {k.description for k in _footer_keys(screen)},
            "writing keys",
        )
        writing = {k.description for k in _footer_keys(screen)}
        assert writing >= {"Send as note", "KB draft"} and not writing & ACTIONS
        # Ada's conversation is queued: a reply needs a claim first, so Send is not
        # offered (the server would refuse it); a note always can be added.
        assert "Send" not in writing
        palette = {c.title for c in app.get_system_commands(screen)}
        assert palette >= {
            "Claim",
            "Resolve",
            "Hand back",
            "Send as note",
            "KB draft",
            "Write",
            "Close",
            "Back",
        }
        assert "Send" not in palette
        await pilot.press("escape", "c")
        await _wait(pilot, lambda: screen.conv.status == "assigned", "claim")
        await _wait(
            pilot, lambda: "Send" in {k.description for k in _footer_keys(screen)}, "Send once mine"
        )


def _bottom_row_keys(pilot) -> list[str] | None:
    """The keys in the footer on the bottom row of the top screen, or ``None`` when
    that row is not that screen's footer (what shows there is the screen behind)."""
    screen = pilot.app.screen
    try:
        widget, _ = screen.get_widget_at(1, screen.size.height - 1)
    except NoWidget:  # nothing of the top screen on that row
        return None
    footers = [n for n in widget.ancestors_with_self if isinstance(n, Footer)]
    if not footers:
        return None
    return [
        k.description for k in footers[0].query(FooterKey) if not k.has_class("-command-palette")
    ]


async def test_the_dialogs_footer_shows_the_keys_that_work_in_it() -> None:
    """While the resolve dialog was open the footer was the conversation's ("c Claim r
    Resolve l Release … esc Back"): keys that do nothing there. Each dialog now has its
    own footer: what the focused list or box does with enter, and esc to cancel."""
    app, _server = build_app(queue=queue_items(), packets=[low_confidence_packet()],
                             staff=roster())  # fmt: skip
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _open(pilot, "c_ada")
        await _wait(pilot, lambda: app.model.staff.known, "roster")
        screen.query_one(Transcript).focus()
        steps = [
            ("r", "ResolveDialog", ["Choose", "Next", "Cancel"]),
            ("enter", "ResolveDialog", ["Choose", "Resolve", "Cancel"]),
            ("escape", "ConversationScreen", None),
            ("t", "TransferDialog", ["Choose", "Note", "Cancel"]),
            ("enter", "TransferDialog", ["Transfer", "Cancel"]),
        ]
        for key, top, keys in steps:
            await pilot.press(key)
            await _wait(pilot, lambda top=top: type(app.screen).__name__ == top, top)
            if keys is not None:
                await _wait(pilot, lambda keys=keys: _bottom_row_keys(pilot) == keys,
                            f"{top} footer {keys}")  # fmt: skip


@pytest.mark.parametrize("size", [(80, 24), (120, 36), (160, 48)])
async def test_notifications_cover_neither_the_reply_box_nor_the_panel(size) -> None:
    """A toast on the conversation screen (here: "Claimed: …") leaves the reply box and
    its status line uncovered, and the whole handoff panel: it went top right, over the
    panel's trigger and confidence."""
    app, _server = build_app(queue=queue_items(), packets=[low_confidence_packet()])
    async with app.run_test(size=size, notifications=True) as pilot:
        screen = await _open(pilot, "c_ada")
        await pilot.press("c")
        await _wait(pilot, lambda: list(screen.query(Toast)), "toast")
        await pilot.pause(0.3)
        reply = screen.query_one(ReplyBox).region
        panel = screen.query_one(HandoffPanel).region
        for toast in screen.query(Toast):
            assert toast.region.area > 0, toast.region
            assert not _overlaps(toast.region, reply), (toast.region, reply)
            assert not _overlaps(toast.region, panel), (toast.region, panel)


async def test_ctrl_a_selects_all_in_the_reply_box() -> None:
    """ctrl+a in the reply box selects the whole text (typing then replaces it)."""
    app, _server = build_app(queue=queue_items(), packets=[low_confidence_packet()])
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _open(pilot, "c_ada")
        await pilot.press("c")
        await _wait(pilot, lambda: screen.conv.status == "assigned", "claim")
        editor = screen.query_one(ReplyBox).editor
        editor.focus()
        await pilot.press(*"first line", "enter", *"second")
        await pilot.press("ctrl+a")
        assert editor.selected_text == "first line\nsecond"
        await pilot.press("X")
        assert editor.text == "X"


EMOJI = "👩‍💻 dev 👍🏽 thanks 👨‍👩‍👧‍👦 family 🇫🇷 ❤️ 1️⃣ e\u0301 中文 🧑🏻‍🔬"


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_emoji_do_not_move_the_panel_divider(size) -> None:
    """Emoji with joiners, skin tones and variation selectors in the visitor's name,
    messages and fields: every transcript and panel line is exactly as wide as its widget
    by Textual's own measure (rich's cell_len), so the divider stays in one column."""
    packet = low_confidence_packet()
    events = list(packet.transcript)
    extra = events[1].model_copy(
        update={"seq": len(events) + 1, "data": VisitorMessageData(text=EMOJI * 3)}
    )
    visitor = packet.visitor.model_copy(
        update={"name": "Ada " + EMOJI[:8], "fields": {"note": EMOJI}}
    )
    packet = packet.model_copy(
        update={
            "transcript": [*events, extra],
            "last_seq": len(events) + 1,
            "visitor": visitor,
            "analysis": EMOJI * 2,
        }
    )
    app, _server = build_app(queue=queue_items(), packets=[packet])
    async with app.run_test(size=size) as pilot:
        screen = await _open(pilot, "c_ada")
        await pilot.pause(0.2)
        divider = screen.query_one("#panel").region.x
        body = screen.query_one("#panel-body")
        assert body.region.x > divider
        for widget in [*screen.query(TranscriptLine), body]:
            width = widget.size.width
            assert widget is body or widget.region.right <= divider
            strips = widget.render_lines(Region(0, 0, width, widget.size.height))
            for strip in strips:
                text = "".join(seg.text for seg in strip)
                assert cell_len(text) == strip.cell_length == width, (text, width)


async def test_the_palette_lists_each_title_once() -> None:
    """Textual's own "Quit" and the queue's ctrl+q binding were both listed as "Quit";
    on the queue and on a conversation each title appears once, and the one kept for
    Quit is the app's, which shows its key."""
    app, _server = build_app(queue=queue_items(), packets=[low_confidence_packet()])
    async with app.run_test(size=(120, 36)) as pilot:
        await _wait(pilot, lambda: app.queue.me is not None, "sign-in")
        screens = [app.screen, await _open(pilot, "c_ada")]
        for screen in screens:
            titles = [c.title.casefold() for c in app.get_system_commands(screen)]
            assert len(titles) == len(set(titles)), sorted(titles)
        quits = [c for c in app.get_system_commands(screens[0]) if c.title == "Quit"]
        assert [c.help for c in quits] == ["key: ^q"]


async def test_closing_or_quitting_with_unsent_text_asks_first() -> None:
    """``w`` (close) and ctrl+q dropped a reply box's unsent text without a word: drafts
    live only in the app. With text in the box both ask first, naming whose; escape
    keeps the conversation, the draft and the app; enter goes ahead."""
    app, _server = build_app(queue=queue_items(), packets=[low_confidence_packet()])
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _open(pilot, "c_ada")
        screen.query_one(ReplyBox).editor.focus()
        await pilot.press(*"half a reply")
        await _wait(pilot, lambda: screen.conv.draft == "half a reply", "the draft")
        await pilot.press("escape", "w")
        await _wait(pilot, lambda: type(app.screen).__name__ == "ConfirmModal", "close asks")
        asked = " ".join(str(s.visual) for s in app.screen.query(Static))
        assert "Unsent text in the reply to Ada Lovelace is lost if you close" in asked, asked
        await pilot.press("escape")
        await _wait(pilot, lambda: app.screen is screen, "kept open")
        assert "c_ada" in app.model.open_order and screen.conv.draft == "half a reply"

        await pilot.press("ctrl+q")
        await _wait(pilot, lambda: type(app.screen).__name__ == "ConfirmModal", "quit asks")
        await pilot.press("escape")
        await _wait(pilot, lambda: app.screen is screen, "still running")
        assert app.return_code is None
        await pilot.press("ctrl+q", "enter")
        await _wait(pilot, lambda: app.return_code is not None, "quit")
