"""``handoff erase`` beside a running server, with the agent UI connected to it: the
erased conversation's row leaves the queue and, open on screen, the conversation closes.
Real server, the real agent app, the real ``handoff erase`` in another process."""

from __future__ import annotations

from pathlib import Path

from handoff_tui import TUISettings, make_app
from handoff_tui.messages import EventReceived, QueueItemChanged
from handoff_tui.screens import ConversationScreen, QueueScreen
from tests.conftest import create_token
from tests.helpers import events, run_handoff, say, start_visitor
from tests.server.routing_kit import TEAM_TEXT, TEAMS_POLICY, escalate
from tests.tui.pilot_kit import until

ERIN = "erin.erased@example.org"


async def test_an_erased_conversation_leaves_the_queue_and_the_screen(
    server_factory, tmp_path: Path
) -> None:
    """Erin's conversation (queued) was open on screen and Next's waited in the queue
    when Erin's data was erased: the server forgot it, but the app kept her row and her
    conversation (name, email, transcript) on screen. Now her row goes, the app is back
    on the queue with her conversation closed and a notice that names no one; Next's row
    stays."""
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data, policy=TEAMS_POLICY)
    app = make_app(TUISettings(server_url=srv.url, token=await create_token(srv, "Sam")))
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.queue.me is not None, "sign-in")
        erin, welcome = await start_visitor(srv.url, name="Erin", email=ERIN)
        assert events(await say(erin, TEAM_TEXT[None]), "escalated")
        cid = welcome.conversation_id
        nxt, next_cid = await escalate(srv.url, None, name="Next")
        await until(pilot, lambda: {cid, next_cid} <= app.queue.items.keys(), "both rows")
        app.open_conversation(cid)
        await until(
            pilot,
            lambda: cid in app.conversations and app.conversations[cid].packet is not None,
            "Erin's conversation loaded",
        )
        assert isinstance(app.screen, ConversationScreen)

        done = await run_handoff("erase", "--email", ERIN, "--json", "--data-dir", str(data))
        assert done.returncode == 0, done.stderr
        await until(pilot, lambda: cid not in app.queue.items, "Erin's row gone", timeout=15)
        await until(pilot, lambda: isinstance(app.screen, QueueScreen), "back on the queue")
        assert cid not in app.conversations and app.model.open_order == []
        assert next_cid in app.queue.items

        def told() -> list[str]:
            return [n.message for n in app._notifications if n.title == "Conversation erased"]

        await until(pilot, told, "the notice")
        assert not any("Erin" in m or ERIN in m for m in told()), told()
        await erin.close()
        await nxt.close()


async def test_frames_handled_after_the_last_screen_closed_raise_nothing(
    server_factory,
) -> None:
    """While the app quits, Textual closes its screens before the link's last frames are
    handled: a live event, an erased row or a queued redraw handled then read
    ``app.screen`` and raised ``ScreenStackError`` (a test run on a busy machine hit it).
    They now update the model and draw nothing."""
    srv = await server_factory(policy=TEAMS_POLICY)
    app = make_app(TUISettings(server_url=srv.url, token=await create_token(srv, "Sam")))
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.queue.me is not None, "sign-in")
        erin, welcome = await start_visitor(srv.url, name="Erin", email=ERIN)
        (event,) = events(await say(erin, TEAM_TEXT[None]), "escalated")
        cid = welcome.conversation_id
        await until(pilot, lambda: cid in app.queue.items, "Erin's row")
        row = app.queue.items[cid]
        stack = app._screen_stack  # the app's own list: emptied as when it quits
        shown = stack[:]
        stack.clear()
        try:
            app._event_received(EventReceived(event))
            app._redraw()
            app._queue_item_changed(QueueItemChanged(row, erased=True))
        finally:
            stack[:] = shown
        assert cid not in app.queue.items
        await erin.close()
