"""A turn's decision inputs, kept so the policy can decide the turn again later.

:func:`~handoff_server.escalation.engine.decide` works in two stages: reading the
message (the costly part: the human-request, intent and sentiment classifiers, keyword
matching; :class:`Reading`) and judging what was read against the policy's thresholds
and rules (:func:`~handoff_server.escalation.judge.judge`, microseconds). What the
judging stage needs is a :class:`TurnSignals`; the server stores it with every AI turn
(:func:`to_record`), so a what-if replay judges stored turns under another policy without
running the AI or the classifiers again (:func:`from_record`).

A reading depends on parts of the policy (the keyword phrases, the human-request
examples, the intents, the sentiment lexicon): :func:`reading_keys` fingerprints each
part, and a stored reading is reused only for a policy whose part has the same
fingerprint; otherwise that part is read again from the stored text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handoff_server.escalation.human import HumanRequestResult
from handoff_server.escalation.intents import IntentMatch
from handoff_server.escalation.policy import Policy
from handoff_server.escalation.sentiment import SentimentResult
from handoff_server.language.text import PhraseMatch

__all__ = [
    "Reading",
    "ReadingKeys",
    "TurnSignals",
    "from_record",
    "reading_keys",
    "to_record",
]

RECORD_VERSION = 1
"""Layout of :func:`to_record`'s dict; a stored record of another layout is not replayed."""


@dataclass(frozen=True, slots=True)
class Reading:
    """What the policy's matchers read in one message: the strongest ``human`` request
    sentence, every ``keywords`` phrase found (negated ones too), the best ``intent``
    (``None``: none resembles it) and the ``mood``. Each part is read whether or not its
    trigger is on, so a stored reading serves a policy that turns it on."""

    human: HumanRequestResult
    keywords: tuple[PhraseMatch, ...]
    intent: IntentMatch | None
    mood: SentimentResult


@dataclass(slots=True)
class TurnSignals:
    """Everything the judging stage reads about one turn.

    - ``confidence``: the answer's (0–1), ``None`` when the answerer failed (``ai_error``).
    - ``explicit``: the visitor pressed "talk to a person" (or accepted an offer of one).
    - ``courtesy``: the answer is to a thanks or hello; ``entry_escalate``: the top KB
      entry is marked ``escalate: true``; ``topic_negated``: the message negates that
      entry's topic; ``answer_team``: the top entry's team.
    - ``exchanges``: visitor turns so far, this one included; ``history``: for each of
      the last 20 earlier turns, oldest first, ``(confidence, resolved, failed)`` where
      ``failed`` says the next message repeats it or says it did not help; ``repeat``:
      this message repeats the previous one.
    - ``visitor`` (flat fields), ``page_url``, ``now`` (UTC).
    - What the matchers read (:class:`Reading`): ``human_fired`` and ``human_about``
      (the message asks for a person; only asks whether it talks to a bot), the
      ``keywords`` found (negated ones too), the best ``intent``, the ``sentiment`` score
      (−1…1); ``reading`` itself when the turn was read now (``None`` when replayed).
    """

    confidence: float | None
    ai_error: bool
    explicit: bool
    courtesy: bool
    entry_escalate: bool
    topic_negated: bool
    answer_team: str | None
    exchanges: int
    history: list[tuple[float | None, bool | None, bool]]
    repeat: bool
    visitor: dict[str, str]
    page_url: str | None
    now: datetime
    human_fired: bool
    human_about: bool
    keywords: tuple[PhraseMatch, ...]
    intent: IntentMatch | None
    sentiment: float
    reading: Reading | None = None


@dataclass(frozen=True, slots=True)
class ReadingKeys:
    """Fingerprints (hex) of the policy parts each part of a :class:`Reading` depends on."""

    human: str
    keyword: str
    intent: str
    sentiment: str


def _key(data: Any) -> str:
    raw = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def reading_keys(policy: Policy) -> ReadingKeys:
    """The fingerprints of ``policy``'s parts that readings depend on."""
    data = policy.to_data()
    human = data["human_request"]
    keyword = data["keyword"]
    sentiment = data["sentiment"]
    return ReadingKeys(
        human=_key([human["examples"], human["min_probability"]]),
        keyword=_key([keyword["phrases"], keyword["max_gap"]]),
        intent=_key(data["intent"]["categories"]),
        sentiment=_key([sentiment["phrases"], sentiment["lexicon"]]),
    )


def to_record(s: TurnSignals) -> dict[str, Any]:
    """The stored columns of ``s`` (see :class:`~handoff_server.store.AiTurnRow`): plain
    values, and the variable parts as JSON text. Left out: what the stored turn keeps
    anyway (``confidence``, ``exchanges``, ``now``), the conversation's (``visitor``,
    ``page_url``), and ``explicit``, which a replay decides again from whether the visitor
    pressed "talk to a person" and said yes to an offer (the caller stores those)."""
    intent = s.intent
    return {
        "layout": RECORD_VERSION,
        "ai_error": s.ai_error,
        "courtesy": s.courtesy,
        "entry_escalate": s.entry_escalate,
        "topic_negated": s.topic_negated,
        "answer_team": s.answer_team,
        "repeat": s.repeat,
        "human_fired": s.human_fired,
        "human_about": s.human_about,
        "sentiment": s.sentiment,
        "history": _json([list(h) for h in s.history]),
        "keywords": _json([[m.phrase, m.text, m.negated] for m in s.keywords]),
        "intent": None
        if intent is None
        else _json([intent.category.name, intent.probability, intent.matched]),
    }


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def from_record(
    row: Any,
    policy: Policy,
    *,
    explicit: bool,
    visitor: dict[str, str],
    page_url: str | None,
) -> TurnSignals | None:
    """The signals of a stored turn ``row`` (an :class:`~handoff_server.store.AiTurnRow`,
    columns as :func:`to_record` makes them), to judge under ``policy``; ``explicit`` as
    the replay decides it. The intent is looked up in ``policy``'s intents (``None`` when
    it has no such intent: then its intents differ from those the turn was read with, see
    :func:`reading_keys`, and the caller reads the intent again). ``None`` for a row of
    another layout."""
    if row.layout != RECORD_VERSION:
        return None
    intent = None
    if row.intent is not None:
        name, probability, matched = json.loads(row.intent)
        category = next((c for c in policy.intent.categories if c.name == name), None)
        if category is not None:
            intent = IntentMatch(category, probability, "", matched)
    history = json.loads(row.history) if row.history != "[]" else []
    keywords = json.loads(row.keywords) if row.keywords != "[]" else ()
    return TurnSignals(
        row.confidence,
        row.ai_error,
        explicit,
        row.courtesy,
        row.entry_escalate,
        row.topic_negated,
        row.answer_team,
        row.exchange,
        history,
        row.repeat,
        visitor,
        page_url,
        row.at,
        row.human_fired,
        row.human_about,
        tuple(PhraseMatch(p, t, n) for p, t, n in keywords),
        intent,
        row.sentiment,
    )
