"""The operator's history screen follows ``policy_history`` pages: 50 large versions
(over a client frame all at once) all show, newest first, and the connection stays up
(real server on an ephemeral port, the real app)."""

from __future__ import annotations

from textual.widgets import DataTable

from handoff_server.protocol_operator import SPolicy
from handoff_tui import TUISettings, make_app
from tests.conftest import create_token
from tests.helpers import agent
from tests.server.test_operator_policy import policy_in_force
from tests.server.test_operator_policy_pages import store_big_versions
from tests.tui.pilot_kit import until, until_policy_screen


async def test_the_history_screen_reads_every_page(server) -> None:
    """Every version is listed once, newest first, and the highlighted newest version's
    changes are shown; the link never dropped (one connection, no reconnect)."""
    token = await create_token(server, "Olga", "operator")
    body = (await policy_in_force(await agent(server.url, token))).policy
    newest = await store_big_versions(server, body, 50)
    settings = TUISettings(server_url=server.url, token=token, reconnect_initial_seconds=0.1)
    app = make_app(settings, operator=True)
    async with app.run_test(size=(120, 36)) as pilot:
        op = app.model.operator
        await until_policy_screen(pilot, app)
        assert isinstance(op.policy, SPolicy) and op.policy.version == newest
        await pilot.press("2")
        await until(
            pilot,
            lambda: "history" not in op.loading and op.history and len(op.history) == newest,
            "every page of the history",
            timeout=30,
        )
        assert [v.version for v in op.history or []] == list(range(newest, 0, -1))
        table = app.screen.query_one("#history-table", DataTable)
        assert table.row_count == newest
        assert str(table.get_row_at(0)[0]).startswith(str(newest))
        assert app.model.link.state == "connected" and app.model.link.attempt == 0, app.model.link
