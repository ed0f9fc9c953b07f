"""What the operator screens know: the policy in force, the operator's edit of it and
the last answer of each report (history, what-if, risk–coverage, analytics, knowledge
gaps). Plain objects: no Textual, no I/O.

:class:`PolicyDraft` is the edit: a copy of the policy object in force (the JSON of its
TOML file) changed field by field, the version it started from (``base_version`` of the
apply), the problems the server found in it (each at its ``loc``), and a newer version
applied elsewhere while it had unsaved edits (``newer``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from handoff_server.protocol_operator import (
    PolicyProblem,
    PolicyVersionInfo,
    SAnalytics,
    SKnowledgeGaps,
    SPolicy,
    SPolicyHistory,
    SRiskCoverage,
    SWhatIf,
)

__all__ = ["Loc", "OperatorModel", "PolicyDraft", "get_at", "norm_loc", "set_at"]

Loc = tuple[str | int, ...]
"""Where a setting is in the policy object: keys and list indexes from the top."""


def norm_loc(loc: list[str | int] | Loc) -> Loc:
    """``loc`` as the policy object spells it: pydantic's ``all_``/``not_``/``in_`` become
    ``all``/``not``/``in``; digit strings become list indexes."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and part.isdigit():
            out.append(int(part))
        elif isinstance(part, str):
            out.append(part.rstrip("_") or part)
        else:
            out.append(part)
    return tuple(out)


def get_at(body: Any, loc: Loc, default: Any = None) -> Any:
    """The value at ``loc`` in ``body``, or ``default`` when any step is missing."""
    node = body
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and -len(node) <= part < len(node):
            node = node[part]
        elif isinstance(part, str) and isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return default
    return node


def set_at(body: dict[str, Any], loc: Loc, value: Any) -> None:
    """Set ``loc`` in ``body`` to ``value``, creating tables on the way (a table written
    as a shorthand value, ``human_request = false``, becomes ``{enabled = false}``)."""
    node: Any = body
    for part, nxt in zip(loc[:-1], loc[1:], strict=True):
        child = node[part] if isinstance(node, list) and isinstance(part, int) else node.get(part)
        if isinstance(child, bool) and isinstance(nxt, str):
            child = {"enabled": child}
            node[part] = child
        elif not isinstance(child, dict | list):
            child = [] if isinstance(nxt, int) else {}
            node[part] = child
        node = child
    node[loc[-1]] = value


@dataclass
class PolicyDraft:
    """The operator's edit of the policy."""

    body: dict[str, Any] = field(default_factory=dict)
    """The edited policy object."""
    base_version: int | None = None
    """The version the edit started from (``None`` until the policy arrived)."""
    dirty: bool = False
    """True once edited and not applied."""
    problems: list[PolicyProblem] = field(default_factory=list)
    """What the server's last validation of ``body`` found (empty: valid or not checked)."""
    checked: bool = False
    """True when ``problems`` is the answer for the current ``body``."""
    newer: SPolicy | None = None
    """A version applied elsewhere while this edit had unsaved changes."""
    conflict: bool = False
    """The last apply was refused: another version was applied since ``base_version``."""

    def start_from(self, policy: SPolicy) -> None:
        """Drop the edit and start again from ``policy``."""
        self.body = copy.deepcopy(dict(policy.policy))
        if isinstance(self.body.get("human_request"), bool):
            # The shorthand ``human_request = false`` means ``{enabled = false}``.
            self.body["human_request"] = {"enabled": self.body["human_request"]}
        self.base_version = policy.version
        self.dirty = False
        self.problems = []
        self.checked = False
        self.newer = None
        self.conflict = False

    def set(self, loc: Loc, value: Any) -> bool:
        """Edit the setting at ``loc``; False when it already had that value."""
        if get_at(self.body, loc, default=object()) == value:
            return False
        set_at(self.body, loc, value)
        self.dirty = True
        self.checked = False
        return True

    def problems_under(self, loc: Loc) -> list[tuple[Loc, str]]:
        """(location, reason) of each problem at ``loc`` or inside it."""
        n = len(loc)
        found = []
        for problem in self.problems:
            at = norm_loc(problem.loc)
            if at[:n] == loc:
                found.append((at, problem.message))
        return found


ReportKind = Literal["history", "what_if", "risk", "analytics", "gaps"]


@dataclass
class OperatorModel:
    """The operator's share of what the app knows (``AgentModel.operator``)."""

    policy: SPolicy | None = None
    """The policy in force, as the server last said."""
    draft: PolicyDraft = field(default_factory=PolicyDraft)
    history: list[PolicyVersionInfo] | None = None
    """Stored versions, newest first."""
    history_wait: tuple[str, bool] | None = None
    """The ``policy_history`` request whose page is awaited, and whether it is the first
    page (which starts the list again); pages of other requests are dropped."""
    what_if: SWhatIf | None = None
    risk: SRiskCoverage | None = None
    analytics: SAnalytics | None = None
    gaps: SKnowledgeGaps | None = None
    loading: set[ReportKind] = field(default_factory=set)
    """Reports asked for and not answered yet."""
    generation: int = 0
    """Counts the versions that came into force while the app ran: the history and the
    what-if of an older one are dropped (and asked for again when shown)."""

    def policy_arrived(self, policy: SPolicy) -> Literal["loaded", "kept_edits", "same"]:
        """A ``policy`` frame (an answer, or pushed after an apply anywhere). The edit
        starts from it unless it has unsaved changes: then it is kept and ``newer`` says
        a newer version is in force (``kept_edits``). ``same``: nothing new."""
        old = self.policy
        self.policy = policy
        draft = self.draft
        new = old is None or old.version != policy.version or old.policy != policy.policy
        if new:
            self.generation += 1
            self.history = None
            self.history_wait = None  # pages still coming belong to the old list
            self.loading.discard("history")
            self.what_if = None
        if draft.base_version is None or (new and not draft.dirty):
            draft.start_from(policy)
            return "loaded"
        if new and draft.dirty and policy.version != draft.base_version:
            draft.newer = policy
            return "kept_edits"
        return "same"

    def history_asked(self, request_id: str, first: bool) -> None:
        """A page of the history was asked for (``first``: without ``before``)."""
        self.history_wait = (request_id, first)
        self.loading.add("history")

    def history_page(self, page: SPolicyHistory, request_id: str | None) -> int | None:
        """A page of the history arrived for ``request_id``: the first page replaces the
        list, the next ones are added to its end. Returns the ``before`` to ask the next
        page with, ``None`` when the list is whole (or the page answers no request
        awaited: it is dropped)."""
        if self.history_wait is None or self.history_wait[0] != request_id:
            return None
        first = self.history_wait[1]
        self.history = [*([] if first else self.history or []), *page.versions]
        if page.more and page.versions:
            return page.versions[-1].version
        self.history_wait = None
        self.loading.discard("history")
        return None

    def reload(self) -> bool:
        """Drop the edit and start from the policy in force; False when none arrived yet."""
        if self.policy is None:
            return False
        self.draft.start_from(self.policy)
        return True

    def validated(self, problems: list[PolicyProblem]) -> None:
        """The server's answer to validating the current edit."""
        self.draft.problems = list(problems)
        self.draft.checked = True
