"""The policy editor: every setting of the escalation policy, checked by the server as
the operator types, applied as a new version with ctrl+s.

Edits change the draft (:class:`handoff_tui.model.PolicyDraft`); a short pause after
the last keystroke sends ``policy_validate`` and the answer's reasons appear next to
their fields (by ``loc``; a reason no field owns is shown at the top). Only the latest
validation counts: an older answer arriving late is ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.timer import Timer
from textual.widgets import Static

from handoff_server.client import new_client_msg_id
from handoff_server.protocol_operator import (
    OPolicyApply,
    OPolicyValidate,
    SPolicy,
    SPolicyValidation,
)
from handoff_tui.messages import OperatorRefused, OperatorReply
from handoff_tui.model.operator import Loc, get_at, norm_loc
from handoff_tui.model.policy_text import change_text, flat_changes
from handoff_tui.text import fill
from handoff_tui.widgets.confirm import ConfirmModal
from handoff_tui.widgets.operator.fields import (
    LinesField,
    MappingField,
    NumberField,
    PolicyField,
    TextField,
    ToggleField,
    WordsField,
)
from handoff_tui.widgets.operator.lists import IntentList, ItemList, RuleList
from handoff_tui.widgets.operator.pane import OperatorPane
from handoff_tui.widgets.operator.tables import utc

__all__ = ["PolicyPane", "policy_fields"]


def _section(title: str) -> Static:
    return Static(fill("[b]$t[/]", t=title), classes="section")


def policy_fields() -> ComposeResult:
    """The editor's rows, top to bottom: settings, intents, rules, business hours."""
    yield _section("Confidence")
    yield NumberField(("threshold",), "threshold", "0–1: an answer below it escalates")
    yield ToggleField(("low_confidence", "enabled"), "low confidence", "escalate on it")
    yield _section("Keywords")
    yield ToggleField(("keyword", "enabled"), "keywords", "a match escalates at once")
    yield LinesField(("keyword", "phrases"), "phrases", "one a line")
    yield MappingField(("keyword", "teams"), "teams", "phrase = team")
    yield NumberField(("keyword", "max_gap"), "filler words", "0–5 between a phrase's words")
    yield _section("Sentiment")
    yield ToggleField(("sentiment", "enabled"), "sentiment", "frustration escalates")
    yield NumberField(("sentiment", "threshold"), "threshold", "−1…1: a score below it fires")
    yield _section("Unresolved exchanges")
    yield ToggleField(("unresolved_exchanges", "enabled"), "unresolved", "turns in a row")
    yield NumberField(("unresolved_exchanges", "count"), "limit", "AI turns that did not help")
    yield _section("Human request")
    yield ToggleField(("human_request", "enabled"), "detection", "visitor asks for a person")
    yield NumberField(("human_request", "min_probability"), "min probability", "0–1")
    yield LinesField(("human_request", "examples"), "extra phrasings", "one a line")
    yield _section("Intents")
    yield ToggleField(("intent", "enabled"), "intents", "operator intents escalate")
    yield ToggleField(("intent", "kb_entry"), "KB entries", "entries marked escalate")
    yield IntentList(("intent", "categories"), classes="item-list", id="intent-list")
    yield _section("Rules (first match decides; a add · enter edit · x delete · shift+↑↓ move)")
    yield RuleList(("rules",), classes="item-list", id="rule-list")
    yield _section("Business hours")
    yield TextField(("business_hours", "timezone"), "time zone", "IANA, e.g. Europe/Berlin")
    yield WordsField(("business_hours", "days"), "days", "mon tue wed thu fri")
    yield TextField(("business_hours", "start"), "start", "HH:MM:SS local")
    yield TextField(("business_hours", "end"), "end", "HH:MM:SS local, exclusive")
    yield WordsField(("business_hours", "holidays"), "holidays", "YYYY-MM-DD …")


def _owner(loc: Loc, owners: list[Loc]) -> Loc | None:
    """The longest of ``owners`` that ``loc`` is at or inside."""
    best = None
    for owner in owners:
        if loc[: len(owner)] == owner and (best is None or len(owner) > len(best)):
            best = owner
    return best


class PolicyPane(OperatorPane, VerticalScroll, can_focus=True):
    """The policy editor (see the module docstring)."""

    DEBOUNCE_SECONDS = 0.4
    """Pause after the last edit before the draft is sent for validation."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._timer: Timer | None = None
        self._validation: str | None = None
        """The request id of the latest validation; older answers are ignored."""
        self._apply: str | None = None

    def focus_main(self) -> None:
        """Focus the editor itself (arrows scroll, tab goes to the first field, digits
        switch tabs)."""
        self.focus()

    def compose(self) -> ComposeResult:
        yield Static(id="policy-status")
        yield Static(id="policy-problems")
        yield from policy_fields()

    def redraw(self) -> None:
        """Show the draft's values, the problems next to their fields, and its state."""
        draft = self.op.draft
        fields = list(self.query(PolicyField))
        lists = list(self.query(ItemList))
        owners = [f.loc for f in fields] + [lst.loc for lst in lists]
        owned: dict[Loc | None, list[tuple[Loc, str]]] = {}
        for problem in draft.problems:
            loc = norm_loc(problem.loc)
            owned.setdefault(_owner(loc, owners), []).append((loc, problem.message))
        for field in fields:
            field.show(get_at(draft.body, field.loc))
            field.show_problems([why for _, why in owned.get(field.loc, [])])
        for lst in lists:
            lst.show(get_at(draft.body, lst.loc), owned.get(lst.loc, []))
        general = owned.get(None, [])
        box = self.query_one("#policy-problems", Static)
        box.display = bool(general)
        box.update(
            Content("\n").join(
                fill(
                    "[b $error]✗ $where: $why[/]",
                    where=".".join(map(str, loc)) or "policy",
                    why=why,
                )
                for loc, why in general
            )
        )
        self.query_one("#policy-status", Static).update(self._status())
        # Apply and drop edits are offered only while there are edits.
        self.screen.refresh_bindings()

    def _status(self) -> Content:
        op = self.op
        draft = op.draft
        if op.policy is None:
            return fill("[dim]loading the policy in force…[/]")
        policy = op.policy
        when = _when(policy.created_at)
        line = fill(
            "In force: [b]version $v[/] by $who$when",
            v=str(policy.version),
            who=policy.author,
            when=when,
        )
        if draft.conflict:
            line += fill(
                "\n[b $error]✗ Not applied: another version was applied since you "
                "started. ctrl+r reloads it (drops your edits).[/]"
            )
        elif draft.newer is not None:
            line += fill(
                "\n[b $warning]⚠ Version $v by $who is now in force; your edits started "
                "from version $base. ctrl+r reloads (drops your edits).[/]",
                v=str(draft.newer.version),
                who=draft.newer.author,
                base=str(draft.base_version),
            )
        if not draft.dirty:
            return line + fill("\n[dim]No edits. ctrl+s applies, ctrl+t shows what-if.[/]")
        n = len(flat_changes(dict(policy.policy), draft.body))
        if not draft.checked:
            state = "[$warning]checking…[/]"
        elif draft.problems:
            state = f"[b $error]{len(draft.problems)} problem(s)[/]"
        else:
            state = "[b $success]valid[/]"
        return line + fill(
            f"\n[b]Edited[/]: $n change(s), not applied · {state} · ctrl+s apply · "
            "ctrl+t what-if · ctrl+r drop edits",
            n=str(n),
        )

    # ----------------------------------------------------------------- editing

    @on(PolicyField.Edited)
    def _edited(self, event: PolicyField.Edited) -> None:
        event.stop()
        if not self.op.draft.set(event.loc, event.value):
            return
        self.op.draft.conflict = False
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self.DEBOUNCE_SECONDS, self.validate)
        self.redraw()

    def validate(self) -> None:
        """Send the draft for validation now."""
        self._timer = None
        self._validation = self.desk.ask(
            self, OPolicyValidate, type="policy_validate", policy=self.op.draft.body
        )

    def apply(self) -> None:
        """Ask to confirm, then apply the draft as a new version."""
        draft = self.op.draft
        policy = self.op.policy
        if policy is None or not draft.dirty:
            self.desk.tell("No edits to apply.", severity="warning")
            return
        changes = flat_changes(dict(policy.policy), draft.body)
        lines = [fill("$c", c=change_text(c)) for c in changes]
        if draft.newer is not None:
            lines.insert(
                0,
                fill(
                    "[b $warning]Version $v is in force since you started: the server will "
                    "refuse this (ctrl+r loads it first).[/]",
                    v=str(draft.newer.version),
                ),
            )
        title = f"Apply as a new version (from version {draft.base_version})?"
        self.app.push_screen(ConfirmModal(title, lines, "apply"), self._confirmed)

    def _confirmed(self, comment: str | None) -> None:
        draft = self.op.draft
        if comment is None:
            return
        self._apply = self.desk.ask(
            self,
            OPolicyApply,
            type="policy_apply",
            client_msg_id=new_client_msg_id(),
            policy=draft.body,
            base_version=draft.base_version or 0,
            comment=comment or None,
        )

    def reload(self) -> None:
        """Drop the edits and show the policy in force."""
        if self.op.reload():
            self.redraw()
            self.desk.tell("Showing the policy in force; edits dropped.", timeout=3)

    @on(OperatorReply)
    def _answered(self, message: OperatorReply) -> None:
        frame = message.frame
        if isinstance(frame, SPolicyValidation):
            if message.request_id in (self._validation, self._apply):
                self.op.validated(frame.problems)
            if message.request_id == self._apply:
                n = len(frame.problems)
                self.desk.tell(f"Not applied: {n} problem(s).", severity="error", timeout=6)
        elif isinstance(frame, SPolicy) and message.request_id == self._apply:
            self.op.draft.start_from(frame)
            self.desk.tell(f"Applied as version {frame.version}.", title="Policy", timeout=5)
        self.redraw()

    @on(OperatorRefused)
    def _refused(self, message: OperatorRefused) -> None:
        if message.request_id == self._apply and message.code == "conflict":
            self.op.draft.conflict = True
        elif message.request_id == self._validation:
            self.op.draft.checked = False
        what = "Not applied" if message.request_id == self._apply else "Not checked"
        self.desk.tell(f"{message.detail} ({message.code})", title=what, severity="error")
        self.redraw()


def _when(at: datetime | None) -> str:
    return f" at {utc(at)} UTC" if at else " (the config file's)"
