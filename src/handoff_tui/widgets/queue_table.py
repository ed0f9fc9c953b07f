"""The queue table: one line per queued or assigned conversation.

Drawn with the line API (only visible lines are rendered) so a queue of thousands of
conversations with a ticking waiting time costs what fits on screen, not what is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from handoff_server.protocol import QueueItem
from handoff_tui.formatting import estimate_label, is_late, is_task, trigger_label
from handoff_tui.model import QueueModel, QueueView, ServerLimits, format_wait, visitor_label
from handoff_tui.text import visible

__all__ = ["QueueTable", "columns_for_width"]


@dataclass(frozen=True)
class Column:
    """A column: its header and width in cells (0 = takes the remaining width)."""

    key: str
    header: str
    width: int


_HIDDEN_WORDS = {"queued": "queued", "assigned": "assigned", "ai": "AI"}
"""How the empty table names the rows a filter hides, by status."""


def columns_for_width(width: int, mode: QueueView = QueueView.QUEUE) -> list[Column]:
    """The columns that fit ``width`` cells; narrow terminals drop priority and team. The
    first column is the waiting time in the queue view, the time since the last message
    ("Idle") in the AI view; the queue view adds, after the confidence, the wait estimate
    told the visitor, or the task a call back or an offline message makes ("Est.")."""
    wide = width >= 110
    cols = [
        Column("wait", "Idle" if mode is QueueView.AI else "Waiting", 8),
        Column("visitor", "Visitor", 18 if wide else 12),
        Column("question", "First question", 0),
        Column("trigger", "Trigger", 21 if wide else 15),
        Column("conf", "Conf", 5),
    ]
    if mode is QueueView.QUEUE:
        cols.append(Column("est", "Est.", 8))
    if wide:
        cols += [Column("priority", "Pri", 3), Column("team", "Team", 10)]
    cols.append(Column("assignee", "Assignee", 12 if wide else 9))
    fixed = sum(c.width for c in cols) + len(cols)  # one space before each column
    flex = max(8, width - fixed)
    return [Column(c.key, c.header, flex) if c.width == 0 else c for c in cols]


class QueueTable(ScrollView, can_focus=True):
    """Rows of a :class:`~handoff_tui.model.QueueModel`, redrawn from it on refresh."""

    COMPONENT_CLASSES = {
        "queue-table--header",
        "queue-table--cursor",
        "queue-table--queued",
        "queue-table--assigned",
        "queue-table--mine",
        "queue-table--low",
        "queue-table--mid",
        "queue-table--high",
        "queue-table--empty",
        "queue-table--task",
        "queue-table--late",
    }

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "open", "Open", id="queue.open"),
    ]

    cursor_id: reactive[str | None] = reactive(None, layout=False)
    """Conversation id of the highlighted row (kept across re-sorts)."""

    now: reactive[datetime | None] = reactive(None, layout=False)
    """The clock's time, UTC; waiting times are measured against it."""

    @dataclass
    class Opened(Message):
        """The agent chose a row (Enter or double click)."""

        conversation_id: str

    def __init__(self, model: QueueModel, limits: ServerLimits, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.limits = limits
        """The server's limits: the threshold a row's confidence is coloured against when
        its trigger carries none."""
        self._index_of: dict[str, int] = {}
        self._indexed_view: list[QueueItem] | None = None

    # ----------------------------------------------------------------- model → lines

    def _view(self) -> list[QueueItem]:
        view = self.model.view
        if view is not self._indexed_view:
            self._indexed_view = view
            self._index_of = {item.conversation_id: n for n, item in enumerate(view)}
            if self.cursor_id not in self._index_of:
                self.set_reactive(QueueTable.cursor_id, view[0].conversation_id if view else None)
        return view

    def model_changed(self) -> None:
        """Call after changing the model: resizes the scroll area and redraws."""
        rows = len(self._view())
        self.virtual_size = Size(self.size.width, rows + 1)
        self.refresh()

    @property
    def cursor_index(self) -> int:
        """Row number of the highlighted row in the current view (0 when empty)."""
        self._view()
        return self._index_of.get(self.cursor_id or "", 0)

    @property
    def selected(self) -> QueueItem | None:
        """The highlighted row."""
        view = self._view()
        return view[self.cursor_index] if view else None

    def watch_cursor_id(self) -> None:
        self._scroll_to_cursor()
        self.refresh()

    def watch_now(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self.model_changed()

    def _scroll_to_cursor(self) -> None:
        # Line 0 is the header, so row n is line n + 1 and the body is one line shorter.
        body = max(1, self.scrollable_content_region.height - 1)
        row = self.cursor_index
        top = round(self.scroll_y)
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + body:
            self.scroll_to(y=row - body + 1, animate=False)

    def _cell(self, item: QueueItem, key: str) -> str:
        if key == "wait":
            return self._wait_cell(item)
        if key == "est":
            return estimate_label(item)
        if key == "visitor":
            return visitor_label(item.visitor)
        if key == "question":
            return item.first_question or ""
        if key == "trigger":
            return trigger_label(item.trigger)
        if key == "conf":
            return "" if item.last_confidence is None else f"{item.last_confidence:.2f}"
        if key == "priority":
            # 0 is a priority the server gives (the lowest; low confidence's by default);
            # a conversation with the AI was never escalated, so it has none.
            return "" if item.status == "ai" else str(item.priority)
        if key == "team":
            return item.team or ""
        if key == "assignee":
            return item.assigned_agent.name if item.assigned_agent else "—"
        raise KeyError(key)

    def _empty_text(self) -> str:
        """What the table says when it shows no row: why (not signed in, a filter hides
        rows: how many and the key that changes it, or nothing is there)."""
        if self.model.me is None:
            # Not signed in yet: the queue is unknown, not empty.
            return " Not connected to the server yet: the queue shows once it answers."
        hidden = self.model.hidden()
        if hidden:
            n = sum(hidden.values())
            kinds = " and ".join(
                f"{count} {_HIDDEN_WORDS[status]}" for status, count in hidden.items()
            )
            noun = "conversation" if n == 1 else "conversations"
            return (
                f" The filter '{self.model.filter.value}' hides {kinds} {noun}:"
                " press f to change the filter."
            )
        if self.model.mode is QueueView.AI:
            return " No conversation with the AI right now."
        return " No conversations waiting. New escalations appear here."

    def _wait_cell(self, item: QueueItem) -> str:
        if self.now is None:
            return ""
        if item.status == "ai":
            return format_wait((self.now - item.updated_at).total_seconds())
        waited = self.model.waiting(item, self.now)
        if waited is not None:
            return format_wait(waited)
        # Claimed before this app connected: the claim's time is not known.
        return "—" if item.status == "assigned" else ""

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        columns = columns_for_width(width, self.model.mode)
        if y == 0:
            style = self.get_component_rich_style("queue-table--header")
            text = "".join(" " + set_cell_size(c.header, c.width) for c in columns)
            return Strip([Segment(set_cell_size(text, width), style)], width)
        view = self._view()
        index = y - 1 + round(self.scroll_y)
        if not view and y == 1:
            style = self.get_component_rich_style("queue-table--empty")
            empty = self._empty_text()
            return Strip([Segment(set_cell_size(empty, width), style)], width)
        if index >= len(view):
            return Strip.blank(width, self.rich_style)
        item = view[index]
        base = self.get_component_rich_style(
            "queue-table--assigned" if item.status == "assigned" else "queue-table--queued"
        )
        me = self.model.me
        if me and item.assigned_agent and item.assigned_agent.id == me.id:
            base += self.get_component_rich_style("queue-table--mine")
        on_cursor = item.conversation_id == self.cursor_id
        if on_cursor and self.has_focus:
            base += self.get_component_rich_style("queue-table--cursor")
        elif on_cursor:
            base += Style(reverse=True)
        segments: list[Segment] = []
        used = 0
        for col in columns:
            mark = self._mark(item, col.key)
            # On the highlight's background a coloured mark (red on amber) is hard to
            # read: there it is bold in the row's own colour; the text still says it.
            style = base + (Style(bold=True) if on_cursor and mark else mark or Style())
            cell = visible(self._cell(item, col.key), one_line=True)
            segments.append(Segment(" " + set_cell_size(cell, col.width), style))
            used += col.width + 1
        if used < width:
            segments.append(Segment(" " * (width - used), base))
        return Strip(segments, max(width, used)).crop(0, width)

    def _mark(self, item: QueueItem, key: str) -> Style | None:
        """The colour a cell adds to its row, if any: the confidence's band, a task's or
        a late estimate's mark."""
        if key == "conf" and item.last_confidence is not None:
            return self._confidence_style(item)
        if key == "est" and (is_task(item) or is_late(item)):
            full = self.get_component_rich_style(
                "queue-table--task" if is_task(item) else "queue-table--late"
            )
            return Style(color=full.color, bold=full.bold, italic=full.italic)
        return None

    def _confidence_style(self, item: QueueItem) -> Style:
        trigger = item.trigger
        threshold = trigger.threshold if trigger and trigger.threshold else self.limits.threshold
        conf = item.last_confidence or 0.0
        if conf < threshold:
            name = "queue-table--low"
        elif conf < threshold + 0.10:
            name = "queue-table--mid"
        else:
            name = "queue-table--high"
        # Only the colour: the row's background (cursor, selection) must show through.
        full = self.get_component_rich_style(name)
        return Style(color=full.color, bold=full.bold)

    # ----------------------------------------------------------------- keys and mouse

    def _move_to(self, index: int) -> None:
        view = self._view()
        if view:
            self.cursor_id = view[max(0, min(len(view) - 1, index))].conversation_id

    def action_cursor(self, delta: int) -> None:
        """Move the highlight ``delta`` rows."""
        self._move_to(self.cursor_index + delta)

    def action_page(self, direction: int) -> None:
        """Move the highlight a screenful."""
        self._move_to(self.cursor_index + direction * max(1, self.size.height - 2))

    def action_jump(self, index: int) -> None:
        """Highlight the first (0) or last (-1) row."""
        self._move_to(len(self._view()) - 1 if index < 0 else index)

    def action_open(self) -> None:
        """Open the highlighted conversation."""
        item = self.selected
        if item:
            self.post_message(self.Opened(item.conversation_id))

    def on_click(self, event: events.Click) -> None:
        row = event.y - 1 + round(self.scroll_y)
        if event.y >= 1 and row < len(self._view()):
            self._move_to(row)
            if event.chain >= 2:
                self.action_open()
