"""The operator screens: one screen with a tab per part — the policy editor, its
history, what-if, risk–coverage, analytics and knowledge gaps (the panes are in
:mod:`handoff_tui.widgets.operator`).

Keys: 1–6 switch tabs (outside a text field), ctrl+s applies the edited policy, ctrl+t
replays it (what-if), ctrl+r drops the edits, r refreshes the report shown, escape
leaves a field and then goes back to the queue. The command palette lists them all.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane, Tabs, TextArea

from handoff_server.protocol import HandoffPacket
from handoff_tui.screens.base import AgentScreen
from handoff_tui.text import fill
from handoff_tui.widgets.banner import ConnectionBanner
from handoff_tui.widgets.operator.analytics import AnalyticsPane
from handoff_tui.widgets.operator.gaps import GapsPane, GapTable
from handoff_tui.widgets.operator.history import HistoryPane, HistoryTable
from handoff_tui.widgets.operator.kb_editor import KbEntryEditor, agent_answer
from handoff_tui.widgets.operator.lists import ItemList
from handoff_tui.widgets.operator.pane import OperatorPane
from handoff_tui.widgets.operator.policy import PolicyPane
from handoff_tui.widgets.operator.risk import RiskPane
from handoff_tui.widgets.operator.what_if import ExampleTable, WhatIfPane

__all__ = ["OPERATOR_TABS", "OperatorScreen"]

OPERATOR_TABS = {
    "policy": "Policy",
    "history": "History",
    "what_if": "What-if",
    "risk": "Risk–coverage",
    "analytics": "Analytics",
    "gaps": "Knowledge gaps",
}
"""Tab id → title, in order (keys 1–6)."""

_PANES: dict[str, type[OperatorPane]] = {
    "policy": PolicyPane,
    "history": HistoryPane,
    "what_if": WhatIfPane,
    "risk": RiskPane,
    "analytics": AnalyticsPane,
    "gaps": GapsPane,
}
_ONLY_ON = {
    "rollback": "history",
    "open_example": "what_if",
    "kb_entry_from_gap": "gaps",
}


class OperatorScreen(AgentScreen):
    """The operator's tabs (see the module docstring)."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="op.back"),
        Binding("ctrl+s", "apply", "Apply", id="op.apply"),
        Binding("ctrl+t", "what_if", "What-if", id="op.whatif"),
        Binding("ctrl+r", "reload", "Drop edits", id="op.reload"),
        Binding("r", "refresh", "Refresh", id="op.refresh"),
        *[
            Binding(str(n), f"show_tab('{tab}')", title, show=False, id=f"op.tab{n}")
            for n, (tab, title) in enumerate(OPERATOR_TABS.items(), start=1)
        ],
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    """Below 120 columns the analytics tables stack instead of sitting side by side."""
    AUTO_FOCUS = None
    """Showing a tab focuses its pane (:meth:`OperatorPane.focus_main`), not the tab bar."""
    COMMAND_SOURCES = (ItemList, HistoryTable, ExampleTable, GapTable)
    """Widgets whose key bindings the command palette also lists."""

    def __init__(self, tab: str = "policy") -> None:
        super().__init__()
        self.first_tab = tab if tab in OPERATOR_TABS else "policy"
        self._asked: set[tuple[str, int]] = set()

    def compose(self) -> ComposeResult:
        yield Static(id="title-bar")
        yield ConnectionBanner(id="banner")
        with TabbedContent(initial=self.first_tab, id="operator-tabs"):
            for tab, title in OPERATOR_TABS.items():
                with TabPane(title, id=tab):
                    yield _PANES[tab](id=f"pane-{tab}", classes="operator-pane")
        yield Footer()

    def on_mount(self) -> None:
        self.ready = True
        self.redraw_panes()
        self._load(self.active)
        self.call_after_refresh(self._focus_pane)

    def on_screen_resume(self) -> None:
        # Answers that came while a transcript was on top are drawn now.
        if self.ready:
            self.redraw_panes()

    @property
    def active(self) -> str:
        """The tab shown."""
        return str(self.query_one(TabbedContent).active or self.first_tab)

    def pane(self, tab: str) -> Any:
        """The pane of ``tab``."""
        return self.query_one(f"#pane-{tab}", _PANES[tab])

    def show_tab(self, tab: str) -> None:
        """Show ``tab``."""
        if tab in OPERATOR_TABS:
            self.query_one(TabbedContent).active = tab

    def action_show_tab(self, tab: str) -> None:
        """Show ``tab`` (keys 1–6)."""
        self.show_tab(tab)

    def _load(self, tab: str) -> None:
        # Each report is asked for once by itself, the first time its tab is shown once
        # the policy is known (again after a new version replaced the history and the
        # what-if); otherwise only r (or a new period) asks again.
        pane = self.pane(tab)
        op = self.model.operator
        if (tab, op.generation) in self._asked or op.policy is None:
            return
        self._asked.add((tab, op.generation))
        if not pane.loaded():
            pane.load()

    @on(TabbedContent.TabActivated)
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        self._load(self.active)
        # The pane becomes visible on the next refresh; a hidden widget takes no focus.
        self.call_after_refresh(self._focus_pane)
        self.refresh_bindings()

    def _focus_pane(self) -> None:
        self.pane(self.active).focus_main()

    def redraw(self) -> None:
        """Redraw the title and the banner (every tick: cheap); the panes redraw when
        their data changes (:meth:`redraw_panes`)."""
        model = self.model
        self.query_one(ConnectionBanner).show_link(model.link)
        op = model.operator
        me = model.queue.me.name if model.queue.me else "…"
        version = f"policy version {op.policy.version}" if op.policy else "policy loading…"
        edited = " · [b $warning]edited, not applied[/]" if op.draft.dirty else ""
        self.query_one("#title-bar", Static).update(
            fill(f"[b]Operator[/] · $me · $v{edited}", me=me, v=version)
        )

    def redraw_panes(self) -> None:
        """Redraw every pane from the model (an answer arrived), then ask for the shown
        tab's report if it was waiting for the policy."""
        self.redraw()
        for tab in OPERATOR_TABS:
            self.pane(tab).redraw()
        self._load(self.active)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Apply and drop edits where there are edits; refresh on the reports; each
        tab's own keys on that tab."""
        active = self.active if self.ready else self.first_tab
        if action in ("apply", "reload"):
            return self.model.operator.draft.dirty
        if action == "refresh":
            return active != "policy"
        if action in _ONLY_ON:
            return active == _ONLY_ON[action]
        return True

    def action_back(self) -> None:
        """Leave the text field; from elsewhere, go back to the queue."""
        if isinstance(self.focused, Input | TextArea):
            self.query_one(TabbedContent).query_one(Tabs).focus()
        else:
            self.app.pop_screen()

    def action_apply(self) -> None:
        """Apply the edited policy as a new version (after confirming)."""
        self.pane("policy").apply()

    def action_reload(self) -> None:
        """Drop the edits: show the policy in force."""
        self.pane("policy").reload()

    def action_what_if(self) -> None:
        """Replay the edited policy over the chosen period."""
        self.show_tab("what_if")
        self.pane("what_if").load()

    def action_refresh(self) -> None:
        """Ask the server again for the report shown."""
        self.pane(self.active).load()

    def action_rollback(self) -> None:
        """Roll back to the highlighted version (after confirming)."""
        self.pane("history").rollback()

    def action_open_example(self) -> None:
        """Open the highlighted what-if example's transcript."""
        cid = self.pane("what_if").selected_conversation()
        if cid:
            self.agent_app.open_conversation(cid)

    def action_kb_entry_from_gap(self) -> None:
        """Write a KB entry from the highlighted knowledge gap: its questions, and the
        answer an agent gave in its first conversation that has one."""
        group = self.pane("gaps").selected()
        if group is None:
            return
        source = f"from a knowledge gap of {group.size} questions"
        cids = list(group.conversation_ids[:5])

        def open_editor(answer: str) -> None:
            self.app.push_screen(KbEntryEditor(group.examples, answer, source))

        def next_packet(packet: HandoffPacket | None) -> None:
            answer = agent_answer(packet.transcript) if packet else ""
            if answer or not cids:
                open_editor(answer)
            else:
                self.agent_app.peek_conversation(cids.pop(0), next_packet)

        if cids:
            self.agent_app.peek_conversation(cids.pop(0), next_packet)
        else:
            open_editor("")
