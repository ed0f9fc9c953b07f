"""What-if: replay a policy over the stored AI turns and compare it with another.

Every AI turn is stored with its decision's signals (:mod:`handoff_server.escalation.signals`:
the answer's confidence, what the matchers read, the history), so a policy decides a
stored turn again with the live judging code (:func:`~handoff_server.escalation.judge.judge`)
and no AI: the replay is exact. A conversation is replayed turn by turn from its start;
the first turn a policy escalates decides it (escalated, by that turn's trigger) and the
turns after it are not looked at, as a handed-off conversation has no more AI turns; a
conversation no turn escalates is contained. What a visitor's "yes" means is decided
again too: it accepts a person only after a turn the replayed policy offered one.

Parts of a stored reading depend on the policy (keyword phrases, human-request examples,
intents, sentiment lexicon; see :func:`~handoff_server.escalation.signals.reading_keys`):
where the replayed policy's part differs from the one the turn was read with, that part
is read again from the stored text (slower: the classifiers run, once per distinct text).

Limits, said plainly: a visitor message that came after a handoff under the policy in
force was never answered by the AI, so the replay cannot know what the AI would have said
to it; turns after a handback are replayed with the history they had (it restarted at the
handback).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handoff_server.conversations.turn import flat_visitor
from handoff_server.errors import PolicyError
from handoff_server.escalation import Policy, parse_policy
from handoff_server.escalation.judge import judge
from handoff_server.escalation.policy import Condition
from handoff_server.escalation.signals import ReadingKeys, TurnSignals, from_record, reading_keys
from handoff_server.protocol_operator import SWhatIf, WhatIfExample, WhatIfSide
from handoff_server.store import AiTurnRow, Store

__all__ = ["CONTAINED", "compare", "replay_period"]

CONTAINED = "contained"
"""The outcome of a conversation no turn escalated."""

HISTORY_TEXTS = 20
"""Earlier messages a re-read sentiment looks at (as the live engine does)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one policy ends a conversation: :data:`CONTAINED` or the escalating trigger,
    and the turn that decided it (the escalating one; the last one when contained)."""

    result: str
    turn: AiTurnRow


def replay_period(
    store: Store,
    current: Policy,
    proposed: Policy,
    since: datetime | None,
    until: datetime | None,
    examples: int,
) -> SWhatIf:
    """:func:`compare` over the conversations started in [since, until) (read from
    ``store``; call from the store's thread)."""
    rows = store.turns_of_conversations(since, until)
    versions = {r.version: r.body for r in store.policy_history()}
    return compare(rows, versions, current, proposed, examples)


def compare(
    rows: list[AiTurnRow],
    versions: dict[int, dict[str, Any]],
    current: Policy,
    proposed: Policy,
    examples: int,
) -> SWhatIf:
    """Both policies over the same stored turns ``rows`` (grouped by conversation, in
    seq order); ``versions``: stored policy bodies by version, for the policy each turn
    was read with. At most ``examples`` example conversations per kind of change."""
    readings = _Readings(versions)
    now = _Replayer(current, readings, stored=current.version)
    then = _Replayer(proposed, readings, stored=None)
    before: list[Outcome] = []
    after: list[Outcome] = []
    turns = 0
    for conv in _conversations(rows):
        turns += len(conv)
        before.append(now.outcome(conv))
        after.append(then.outcome(conv))
    return _summary(turns, before, after, current.version, examples)


def reads_visitor(policy: Policy) -> bool:
    """Whether a rule of ``policy`` tests a visitor field."""

    def tests(cond: Condition) -> bool:
        if cond.visitor is not None:
            return True
        children = [*(cond.all_ or ()), *(cond.any_ or ()), *([cond.not_] if cond.not_ else [])]
        return any(tests(c) for c in children)

    return any(tests(rule.when) for rule in policy.rules)


def _conversations(rows: list[AiTurnRow]) -> Iterator[list[AiTurnRow]]:
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i].conversation_id != rows[start].conversation_id:
            yield rows[start:i]
            start = i


class _Readings:
    """The reading keys of each stored version (parsed once), and the parts of stored
    readings read again for a policy whose keys differ (cached per text)."""

    def __init__(self, versions: dict[int, dict[str, Any]]) -> None:
        self._bodies = versions
        self._keys: dict[int | None, ReadingKeys | None] = {}
        self.cache: dict[tuple[str, str, Any], Any] = {}

    def keys(self, version: int | None) -> ReadingKeys | None:
        """The keys of stored version ``version`` (``None``: unknown or invalid)."""
        if version not in self._keys:
            body = self._bodies.get(version) if version is not None else None
            try:
                self._keys[version] = reading_keys(parse_policy(body)) if body else None
            except PolicyError:
                self._keys[version] = None
        return self._keys[version]


class _Replayer:
    """Replays conversations under ``policy``. ``stored``: the version whose stored
    decisions are the policy's own (the policy in force: those turns were judged by it,
    with the same signals, so they are not judged again)."""

    def __init__(self, policy: Policy, readings: _Readings, stored: int | None) -> None:
        self.policy = policy
        self.keys = reading_keys(policy)
        self.readings = readings
        self.stored = stored
        self._compiled: Any = None
        self._reads_visitor = reads_visitor(policy)
        self._visitor: tuple[str, dict[str, str]] = ("", {})

    def outcome(self, conv: list[AiTurnRow]) -> Outcome:
        """How the policy ends the conversation ``conv`` (its turns in order)."""
        previous: str | None = None
        for i, row in enumerate(conv):
            if row.exchange == 1:
                previous = None
            if row.policy_version is not None and row.policy_version == self.stored:
                action, trigger = row.action, row.trigger
            else:
                explicit = row.pressed or (row.said_yes and previous == "offer_handoff")
                s = self._signals(conv, i, explicit)
                if s is None:
                    continue
                verdict = judge(self.policy, s)
                action, trigger = verdict.action, verdict.trigger
            if action == "escalate":
                return Outcome(trigger or "rule", row)
            previous = action
        return Outcome(CONTAINED, conv[-1])

    def _signals(self, conv: list[AiTurnRow], i: int, explicit: bool) -> TurnSignals | None:
        row = conv[i]
        s = from_record(
            row,
            self.policy,
            explicit=explicit,
            visitor=self._flat_visitor(row),
            page_url=row.page_url,
        )
        if s is None:
            return None
        read_with = self.readings.keys(row.policy_version)
        if read_with != self.keys:
            self._reread(s, conv, i, read_with)
        return s

    def _flat_visitor(self, row: AiTurnRow) -> dict[str, str]:
        """The turn's visitor fields as rules read them; ``{}`` when no rule of the policy
        reads them (parsing every conversation's visitor would cost more than the replay)."""
        if not self._reads_visitor:
            return {}
        if self._visitor[0] != row.conversation_id:
            self._visitor = (row.conversation_id, flat_visitor(row.visitor))
        return self._visitor[1]

    def _reread(
        self, s: TurnSignals, conv: list[AiTurnRow], i: int, read_with: ReadingKeys | None
    ) -> None:
        """Read again the parts of ``s`` that ``self.policy`` reads differently."""
        from handoff_server.escalation import compile_policy
        from handoff_server.language.text import tokenize

        if self._compiled is None:
            self._compiled = compile_policy(self.policy)
        cp, text, cache, k = self._compiled, conv[i].text, self.readings.cache, self.keys

        def same(part: str) -> bool:
            return read_with is not None and getattr(read_with, part) == getattr(k, part)

        if not same("human"):
            h = _cached(cache, ("human", k.human, text), lambda: cp.human.detect(text))
            s.human_fired, s.human_about = h.fired, h.about_assistant
        if not same("keyword"):
            s.keywords = _cached(
                cache, ("keyword", k.keyword, text), lambda: tuple(cp.keywords.find(text))
            )
        if not same("intent"):
            s.intent = _cached(cache, ("intent", k.intent, text), lambda: cp.intents.best(text))
        if not same("sentiment"):
            earlier = _earlier(conv, i)
            s.sentiment = _cached(
                cache,
                ("sentiment", k.sentiment, (text, *earlier)),
                lambda: (
                    cp.sentiment.score(text, tokenize(text), [tokenize(t) for t in earlier]).score
                ),
            )


def _cached(cache: dict[tuple[str, str, Any], Any], key: tuple[str, str, Any], make: Any) -> Any:
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _earlier(conv: list[AiTurnRow], i: int) -> tuple[str, ...]:
    """The texts of the turns before ``conv[i]`` in its run (since the start or the last
    handoff), at most :data:`HISTORY_TEXTS`."""
    run = conv[i].exchange - 1
    start = max(0, i - min(run, HISTORY_TEXTS))
    return tuple(r.text for r in conv[start:i])


def _side(outcomes: list[Outcome], version: int | None) -> WhatIfSide:
    escalated = [o.result for o in outcomes if o.result != CONTAINED]
    n = len(outcomes)
    return WhatIfSide(
        policy_version=version,
        conversations=n,
        contained=n - len(escalated),
        escalated=len(escalated),
        containment_rate=(n - len(escalated)) / n if n else 0.0,
        by_trigger=dict(Counter(escalated).most_common()),
    )


def _summary(
    turns: int, before: list[Outcome], after: list[Outcome], version: int | None, examples: int
) -> SWhatIf:
    kinds: dict[str, list[WhatIfExample]] = {"to_contained": [], "to_escalated": [], "other": []}
    counts: Counter[str] = Counter()
    for b, a in zip(reversed(before), reversed(after), strict=True):
        if b.result == a.result:
            continue
        kind = (
            "to_contained"
            if a.result == CONTAINED
            else "to_escalated"
            if b.result == CONTAINED
            else "other"
        )
        counts[kind] += 1
        if len(kinds[kind]) < examples:
            turn = b.turn if kind == "to_contained" else a.turn
            kinds[kind].append(
                WhatIfExample(
                    conversation_id=turn.conversation_id,
                    seq=turn.seq,
                    text=turn.text,
                    before=b.result,
                    after=a.result,
                )
            )
    return SWhatIf(
        turns=turns,
        conversations=len(before),
        current=_side(before, version),
        proposed=_side(after, None),
        escalated_to_contained=counts["to_contained"],
        contained_to_escalated=counts["to_escalated"],
        trigger_changed=counts["other"],
        examples=[*kinds["to_contained"], *kinds["to_escalated"], *kinds["other"]],
    )
