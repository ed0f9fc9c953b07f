"""The queue screen: who is waiting, why, and for how long."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from handoff_tui.model import QueueFilter, QueueSort, QueueView, allowed
from handoff_tui.screens.base import AgentScreen
from handoff_tui.text import fill
from handoff_tui.widgets.banner import ConnectionBanner, OfferBar, OpenBar
from handoff_tui.widgets.queue_table import QueueTable

__all__ = ["QueueScreen"]

_FILTERS = list(QueueFilter)
_SORTS = list(QueueSort)


class QueueScreen(AgentScreen):
    """The live queue table with its filter, sort and the open conversations."""

    BINDINGS = [
        Binding("enter", "open", "Open", id="queue.open", show=False),
        Binding("c", "claim", "Claim", id="queue.claim"),
        Binding("a", "view('ai')", "AI view", id="queue.ai"),
        Binding("a", "view('queue')", "Queue view", id="queue.queue"),
        Binding("f", "cycle_filter", "Filter", id="queue.filter"),
        Binding("s", "cycle_sort", "Sort", id="queue.sort"),
        Binding("p", "app.toggle_presence('away')", "Away", id="queue.away"),
        Binding("p", "app.toggle_presence('online')", "Online", id="queue.online"),
        Binding("y", "app.answer_offer(True)", "Accept offer", id="queue.accept", show=False),
        Binding("n", "app.answer_offer(False)", "Decline offer", id="queue.decline", show=False),
        Binding("o", "app.operator", "Operator", id="queue.operator"),
        Binding("ctrl+q", "app.quit", "Quit", id="queue.quit", priority=True),
        Binding("ctrl+o", "app.next_conversation", "Next open", id="queue.next", show=False),
        *[
            Binding(str(n), f"app.show_open({n})", f"Open #{n}", show=False, id=f"queue.open{n}")
            for n in range(1, 10)
        ],
    ]

    def compose(self) -> ComposeResult:
        yield Static(id="title-bar")
        yield ConnectionBanner(id="banner")
        yield OpenBar(id="open-bar")
        yield OfferBar(id="offer-bar")
        yield QueueTable(self.model.queue, self.model.limits, id="queue-table")
        yield Footer()

    _shown_claimable: bool | None = None
    """Whether the footer was last drawn with ``c Claim`` (``None``: not yet drawn)."""

    def on_mount(self) -> None:
        self.ready = True
        table = self.query_one(QueueTable)
        table.focus()
        self.watch(table, "cursor_id", lambda _cid: self._sync_claim(), init=False)
        self.redraw()

    def _claimable(self) -> bool:
        """Whether the highlighted row can be claimed (:func:`~handoff_tui.model.allowed`,
        the server's rule the conversation screen follows too)."""
        tables = self.query(QueueTable)  # none yet before the screen is composed
        item = tables.first().selected if tables else None
        me = self.model.queue.me
        return item is not None and allowed("claim", item.status, item.assigned_agent, me)

    def _sync_claim(self) -> None:
        """Show ``c Claim`` only on a row it can claim: redraw the footer when the
        highlighted row (or its status) changes that."""
        claimable = self._claimable()
        if claimable != self._shown_claimable:
            self._shown_claimable = claimable
            self.refresh_bindings()

    def redraw(self) -> None:
        """Redraw everything from the model."""
        queue = self.model.queue
        counts = queue.counts()
        me = queue.me.name if queue.me else "…"
        if queue.mode is QueueView.AI:
            title = fill(
                "[b]$me[/] · [b]AI view[/] · [b]$n[/] with the AI · $q queued · $a assigned · "
                "sort [b]$s[/]",
                me=me,
                n=str(counts["ai"]),
                q=str(counts["queued"]),
                a=str(counts["assigned"]),
                s=queue.sort.value,
            )
        else:
            title = fill(
                "[b]$me[/] · [b $error]$q[/] queued · $a assigned · "
                "[b]$shown[/] shown · filter [b]$f[/] · sort [b]$s[/]",
                me=me,
                q=str(counts["queued"]),
                a=str(counts["assigned"]),
                shown=str(len(queue.view)),
                f=queue.filter.value,
                s=queue.sort.value,
            )
        self.query_one("#title-bar", Static).update(title)
        self.draw_bars(None)
        table = self.query_one(QueueTable)
        table.now = self.agent_app.now
        table.model_changed()
        self._sync_claim()

    def action_open(self) -> None:
        """Open the highlighted conversation."""
        self.query_one(QueueTable).action_open()

    def action_claim(self) -> None:
        """Claim the highlighted conversation."""
        item = self.query_one(QueueTable).selected
        if item is None:
            self.agent_app.tell("Nothing to claim.", severity="warning")
            return
        self.agent_app.send_action(item.conversation_id, "claim")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``a`` switches to the view not shown; ``c`` claims only a row that can be
        claimed (an assigned one is refused by the server)."""
        if action == "view" and parameters:
            return parameters[0] != self.model.queue.mode.value
        if action == "claim":
            return self._claimable()
        return True

    def action_view(self, mode: str) -> None:
        """Show the queue (queued and assigned) or the AI view (conversations the AI is
        handling on its own)."""
        self.agent_app.set_queue_view(QueueView(mode))
        self.refresh_bindings()
        self.redraw()

    def action_cycle_filter(self) -> None:
        """Show all → mine → team → all."""
        queue = self.model.queue
        queue.set_filter(_FILTERS[(_FILTERS.index(queue.filter) + 1) % len(_FILTERS)])
        self.redraw()

    def action_cycle_sort(self) -> None:
        """Order by priority → waiting → confidence."""
        queue = self.model.queue
        queue.set_sort(_SORTS[(_SORTS.index(queue.sort) + 1) % len(_SORTS)])
        self.redraw()

    @on(QueueTable.Opened)
    def _opened(self, event: QueueTable.Opened) -> None:
        self.agent_app.open_conversation(event.conversation_id)
