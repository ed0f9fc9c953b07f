"""The agent TUI when nobody could come (issue 11): the wait estimate in the queue, the call
back and offline-message tasks (in the queue, opened, done). Snapshots on the in-memory
server with a fixed clock (2026-03-02 14:30:00 UTC), each SVG reviewed as a picture; the
behaviour against a real server on an ephemeral port."""

from __future__ import annotations

from datetime import timedelta

import pytest
from textual.widgets import Static

from handoff_server.app import start_server
from handoff_server.client import new_client_msg_id
from handoff_server.protocol import (
    QueueItem,
    SEvent,
    VLeaveMessage,
    VRequestCallback,
)
from handoff_tui.formatting import estimate_label, is_late
from handoff_tui.screens import ConversationScreen
from handoff_tui.widgets.queue_table import QueueTable
from handoff_tui.widgets.reply_box import ReplyBox
from tests.conftest import create_token, make_settings
from tests.helpers import MAIL_HOOK, wait_ack
from tests.server.test_fallbacks import escalate
from tests.server.test_wait_overrun import Clock
from tests.tui.test_tui_pilot import _app, until
from tests.tui.test_tui_snapshots import _open, _settle
from tests.tui_fixtures import (
    build_app,
    fallback_queue_items,
    task_packet,
)


@pytest.fixture
async def server(server_factory):
    """A real server that can keep every fallback it offers: offline messages' answers
    go to a mail hook (``MAIL_HOOK``; without one they are not offered)."""
    return await server_factory(webhooks=MAIL_HOOK)


def test_queue_estimates_and_tasks_80x24(snap_compare) -> None:
    """The queue at 80×24 with the Est. column after Conf: Alan "no agent" (told when
    nobody was online), Ada "<1m", Grace "~10m", ken "45-60m", Linus "AI·~5m" (the AI
    goes on for him), Hedy "callback" and Tim "email" in bold amber (tasks), Margaret's
    assigned row empty; rows by priority then longest waiting; nothing cut in the footer."""
    app, _ = build_app(queue=fallback_queue_items())
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settle)


def test_queue_estimates_and_tasks_160x48(snap_compare) -> None:
    """The same queue at 160×48, with Pri and Team: the Est. column between Conf and Pri,
    the tasks (Hedy's call back, Tim's email) waiting 1h30m and 2h30m, their
    first questions shown whole."""
    app, _ = build_app(queue=fallback_queue_items())
    assert snap_compare(app, terminal_size=(160, 48), run_before=_settle)


def test_callback_task_80x24(snap_compare) -> None:
    """Hedy's call back opened at 80×24: the panel starts with "Call back requested"
    (phone +4930901820, email —, when: as soon as possible, note "after 3pm please",
    "press x once you have called back"); the transcript ends with Hedy's line "asked for
    a call back  +4930901820, as soon as possible · after 3pm please"; the line above the
    reply box says "call back requested · press x once you have called back"; the footer
    (reading keys) offers x Called back, whole with esc Back at 80 columns."""
    app, _ = build_app(queue=fallback_queue_items(), packets=[task_packet("callback")])
    assert snap_compare(app, terminal_size=(80, 24), run_before=_open("c_hedy"))


def test_offline_message_task_160x48(snap_compare) -> None:
    """Tim's offline message opened at 160×48, writing an answer: the panel starts with
    "Offline message" (answer to tim@w3.example, his message whole, "write the answer;
    ctrl+e sends it by email"); the transcript ends with Tim's line "left a message
    (answer to tim@w3.example)"; the reply box holds the half-written answer and the
    footer shows the writing keys with ^e Send by email."""
    app, _ = build_app(queue=fallback_queue_items(), packets=[task_packet("offline_message")])

    async def run_before(pilot) -> None:
        await _open("c_tim")(pilot)
        reply = pilot.app.screen.query_one(ReplyBox)
        reply.editor.focus()
        reply.set_text("Hi Tim, the zone for tim.example is moved")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=(160, 48), run_before=run_before)


def test_estimate_labels_fit_the_column() -> None:
    labels = {r.conversation_id: estimate_label(r) for r in fallback_queue_items()}
    assert labels == {
        "c_alan": "no agent",
        "c_ada": "<1m",
        "c_grace": "~10m",
        "c_ken": "45-60m",
        "c_linus": "AI·~5m",
        "c_margaret": "",
        "c_hedy": "callback",
        "c_tim": "email",
    }
    assert all(len(label) <= 8 for label in labels.values())


async def test_an_agent_marks_a_callback_done_and_answers_an_offline_message(server) -> None:
    """Against a real server: the tasks show in the queue with their estimate cells, the
    agent opens each, presses x on the call back, writes and sends (ctrl+e) the answer to
    the offline message; both conversations end resolved."""
    hedy, hedy_id, _ = await escalate(server.url, name="Hedy")
    ask = VRequestCallback(
        type="request_callback", client_msg_id=new_client_msg_id(), phone="+4930901820"
    )
    await hedy.send(ask)
    await wait_ack(hedy, ask.client_msg_id)
    tim, tim_id, _ = await escalate(server.url, name="Tim")
    left = VLeaveMessage(
        type="leave_message",
        client_msg_id=new_client_msg_id(),
        email="tim@w3.example",
        text="Move my zone",
    )
    await tim.send(left)
    await wait_ack(tim, left.client_msg_id)
    app = _app(server.url, await create_token(server))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: {hedy_id, tim_id} <= set(app.queue.items), what="tasks")
        rows: dict[str, QueueItem] = app.queue.items
        assert estimate_label(rows[hedy_id]) == "callback"
        assert estimate_label(rows[tim_id]) == "email"
        app.open_conversation(hedy_id)
        await until(pilot, lambda: app.conversations[hedy_id].task() is not None, what="task")
        app.screen.query_one("#transcript").focus()
        # x asks first (it resolves the conversation): esc keeps it, enter marks it done.
        before = app.conversations[hedy_id].status
        await pilot.press("x")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmModal", what="the question")
        asked = " ".join(str(s.visual) for s in app.screen.query(Static))
        assert "You have called Hedy back: this resolves the conversation." in asked, asked
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConversationScreen), what="kept")
        await pilot.pause(0.3)
        assert app.conversations[hedy_id].status == before != "resolved"
        await pilot.press("x")
        await until(pilot, lambda: type(app.screen).__name__ == "ConfirmModal", what="the question")
        await pilot.press("enter")
        await until(pilot, lambda: app.conversations[hedy_id].status == "resolved", what="done")
        app.open_conversation(tim_id)
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, ConversationScreen)
                and app.screen.conversation_id == tim_id
                and app.conversations[tim_id].task() is not None
            ),
            what="message",
        )
        reply = app.screen.query_one(ReplyBox)
        reply.editor.focus()
        reply.set_text("Done: the zone is moved.")
        await pilot.press("ctrl+e")
        await until(pilot, lambda: app.conversations[tim_id].status == "resolved", what="answered")
    got = await tim.recv_until(lambda f: isinstance(f, SEvent) and f.event.kind == "offline_reply")
    assert got[-1].event.data.text == "Done: the zone is moved."
    done = await hedy.recv_until(
        lambda f: isinstance(f, SEvent) and f.event.kind == "callback_done"
    )
    assert done[-1].event.data.agent.name == "Sam"
    await hedy.close()
    await tim.close()


def test_late_estimates_are_marked_and_fit_the_column() -> None:
    """Each estimate told, late (the visitor waited past it): marked ``!`` and still at
    most 8 cells; "no agent" has no figure to be late on, and a task shows its kind."""
    late = {}
    for row in fallback_queue_items():
        wait = row.wait.model_copy(update={"late": True}) if row.wait else None
        late[row.conversation_id] = estimate_label(row.model_copy(update={"wait": wait}))
    assert late == {
        "c_alan": "no agent",
        "c_ada": "!<1m",
        "c_grace": "!~10m",
        "c_ken": "!45-60m",
        "c_linus": "AI·!~5m",
        "c_margaret": "",
        "c_hedy": "callback",
        "c_tim": "email",
    }
    assert all(len(label) <= 8 for label in late.values())
    marked = {cid for cid, label in late.items() if "!" in label}
    rows = {r.conversation_id: r for r in fallback_queue_items()}
    for cid, row in rows.items():
        wait = row.wait.model_copy(update={"late": True}) if row.wait else None
        assert is_late(row.model_copy(update={"wait": wait})) == (cid in marked), cid


async def test_a_late_estimate_is_marked_in_the_queue(tmp_path, demo_answerer) -> None:
    """Against a real server whose clock the test moves: two visitors told "under a
    minute" by a pull team whose online agent does not claim have waited 3 minutes: late
    (the server's ``wait.late``, docs/routing.md). The queue's Est. cells said ``<1m``
    as before; now ``!~3m``: bold red (the late style, not the task's amber) on the row
    not highlighted, and bold in the row's own colour on the highlighted one, where red
    on the highlight's amber could hardly be read."""
    clock = Clock()
    settings = make_settings(tmp_path / "d", waiting={"refresh_seconds": 0.2})
    srv = await start_server(settings, answerer=demo_answerer, clock=clock)
    try:
        app = _app(srv.url, await create_token(srv))
        async with app.run_test(size=(120, 36)) as pilot:
            await until(pilot, lambda: app.model.staff.known, what="online")
            ada, ada_id, _ = await escalate(srv.url, name="Ada")
            bob, bob_id, _ = await escalate(srv.url, name="Bob")
            rows = app.queue.items
            await until(
                pilot,
                lambda: all(
                    c in rows and estimate_label(rows[c]) == "<1m" for c in (ada_id, bob_id)
                ),
                what="told",
            )
            clock.now += timedelta(minutes=3)
            await until(
                pilot,
                lambda: all(estimate_label(rows[c]) == "!~3m" for c in (ada_id, bob_id)),
                what="late",
            )
            table = app.screen.query_one(QueueTable)

            def cell(line: int):
                return next((s for s in table.render_line(line) if "!~3m" in s.text), None)

            await until(pilot, lambda: cell(1) and cell(2), what="drawn")
            late = table.get_component_rich_style("queue-table--late")
            task = table.get_component_rich_style("queue-table--task")
            # The two rows tie (the same clock): either may be first, with the highlight.
            on = table.cursor_index + 1
            highlighted, other = cell(on), cell(3 - on)
            assert late.color != task.color
            assert other.style.color == late.color and other.style.bold
            assert highlighted.style.color != late.color and highlighted.style.bold
            await ada.close()
            await bob.close()
    finally:
        await srv.close()
