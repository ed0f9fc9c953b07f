"""The escalation policy: which triggers are on, their thresholds, and the operator's rules.

A :class:`Policy` is plain data (TOML ``[policy]`` table, JSON from ``handoff policy
export``); :func:`parse_policy` validates it and raises :class:`PolicyError` (code
``bad_policy``) listing every problem with its location, e.g.
``rules.2.when.confidence.lt: Input should be less than or equal to 1``.

How a turn is decided (see :func:`handoff_server.escalation.decide`):

1. Every trigger is evaluated and explained (value, threshold, fired).
2. Two facts escalate whatever the rules say: the answerer failed (``ai_error``; the AI has
   nothing to say) and the visitor pressed "talk to a person" (``explicit_human_request``).
3. The rules run in order; the first whose ``when`` holds decides the action.
4. No rule matched: the AI answers (``continue``); when the visitor only asked whether they
   talk to a bot, it answers and offers a person (``offer_handoff``).

The default rules (:func:`default_rules`) reproduce the recommended setup: human requests,
the keywords "cancel account" (routed to team billing), "data breach" and "speak to
manager", KB entries marked ``escalate: true``, operator intents (by default legal threats,
billing disputes and security incidents), frustration, 3 unresolved exchanges in a row, and
confidence below 0.70.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from handoff_server.errors import PolicyError
from handoff_server.escalation.fallback_policy import FallbackPolicy
from handoff_server.escalation.models import FiringTrigger
from handoff_server.escalation.patterns import check_pattern
from handoff_server.escalation.policy_numbers import PolicyFloat, PolicyInt, Probability
from handoff_server.protocol import TeamName

__all__ = [
    "MAX_CONDITION_DEPTH",
    "BusinessHours",
    "Comparison",
    "Condition",
    "HumanRequestTrigger",
    "IntentCategory",
    "IntentTrigger",
    "KeywordTrigger",
    "LowConfidenceTrigger",
    "Policy",
    "Rule",
    "SentimentLexicon",
    "SentimentTrigger",
    "UnresolvedTrigger",
    "VisitorTest",
    "default_rules",
    "parse_policy",
]


def _with_words(value: list[str]) -> list[str]:
    """``value``, or ``ValueError`` naming the phrases that contain no word at all."""
    bad = [p for p in value if not re.search(r"\w", p)]
    if bad:
        raise ValueError(f"phrases must contain at least one word: {bad!r}")
    return value


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


DEFAULT_KEYWORDS = ["cancel account", "data breach", "speak to manager"]
DEFAULT_KEYWORD_TEAMS = {"cancel account": "billing"}
"""Teams of the default keywords; kept for those of them a policy's ``phrases`` keep."""


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LowConfidenceTrigger(_Data):
    """Fires when the answer's confidence (probability 0–1) is strictly below ``Policy.threshold``.

    Threshold 0 never fires (no confidence is < 0); threshold 1 fires on every AI turn
    whose confidence is below 1, i.e. every real answer.
    """

    enabled: bool = True


class KeywordTrigger(_Data):
    """The operator's risk phrases; a match escalates at once, whatever the confidence.

    Matching is on whole words, case-insensitive, ignoring extra spaces and punctuation;
    each word also matches its inflections (Snowball English stemmer: "cancelled" →
    "cancel"); up to ``max_gap`` filler words (my, the, a, your, ...) may sit between the
    phrase's words ("cancel my account"). A match preceded in the same clause by a negation
    ("I don't want to cancel my account") does not fire.

    ``teams`` routes a phrase's escalations to a team (phrase → team); every key must be
    one of ``phrases`` (any case). Left out, the default phrases a policy keeps keep their
    default team ("cancel account" → billing).
    """

    enabled: bool = True
    phrases: list[str] = Field(default_factory=lambda: list(DEFAULT_KEYWORDS))
    max_gap: PolicyInt = Field(default=2, ge=0, le=5)
    """Filler words allowed between two words of a phrase."""
    teams: dict[str, TeamName] = Field(default_factory=dict)
    """Phrase → the team its matches route to (unless the deciding rule names a team)."""

    @model_validator(mode="before")
    @classmethod
    def _default_teams(cls, data: Any) -> Any:
        if isinstance(data, dict) and "teams" not in data:
            phrases = data.get("phrases", DEFAULT_KEYWORDS)
            kept = {str(p).casefold() for p in phrases} if isinstance(phrases, list) else set()
            data = {**data, "teams": {p: t for p, t in DEFAULT_KEYWORD_TEAMS.items() if p in kept}}
        return data

    @field_validator("phrases")
    @classmethod
    def _phrases_have_words(cls, value: list[str]) -> list[str]:
        return _with_words(value)

    def team_for(self, phrase: str) -> str | None:
        """The team a match of ``phrase`` routes to, if ``teams`` names one."""
        wanted = phrase.casefold()
        return next((t for p, t in self.teams.items() if p.casefold() == wanted), None)


class HumanRequestTrigger(_Data):
    """The visitor asks for a person ("agent please", "is there a human there?").

    A logistic-regression classifier over word and character n-grams of example phrasings
    (built in, plus ``examples``) combined with high-precision patterns; fires when the
    estimated probability is ≥ ``min_probability`` or a pattern matches outside a negation.
    """

    enabled: bool = True
    min_probability: PolicyFloat = Field(default=0.5, gt=0.0, le=1.0)
    examples: list[str] = Field(default_factory=list)
    """Extra phrasings that mean "I want a person" in this operator's audience."""


class SentimentLexicon(_Data):
    """The operator's additions to the sentiment rules for support chat.

    Each list or table is added to the built-in one in
    :mod:`handoff_server.escalation.sentiment` (the one place where VADER's lexicon and
    rules are adjusted); a ``words`` entry also overrides a built-in or VADER value.

    - ``words``: word or emoticon → valence on VADER's scale (−4…4); 0 makes it neutral
      (a word that names the product or the fault, not a mood: ``"kill" = 0``).
    - ``neutral_phrases``: politeness markers and hedges, read as neutral ("kindly",
      "no rush", "sorry to bother you").
    - ``frowns``: emoticons or emoji that show displeasure (``":-/"``); each lowers the
      score by 0.3, at most two.
    - ``sarcasm``: praise that is frustration when the message also names a fault
      ("oh great ... broke again").
    """

    words: dict[str, Annotated[PolicyFloat, Field(ge=-4.0, le=4.0)]] = Field(default_factory=dict)
    neutral_phrases: list[str] = Field(default_factory=list)
    frowns: list[str] = Field(default_factory=list)
    sarcasm: list[str] = Field(default_factory=list)

    @field_validator("words")
    @classmethod
    def _single_tokens(cls, value: dict[str, float]) -> dict[str, float]:
        bad = [w for w in value if not w or len(w) > 40 or re.search(r"\s", w)]
        if bad:
            raise ValueError(f"words are single tokens of 1-40 characters without spaces: {bad!r}")
        return value

    @field_validator("frowns")
    @classmethod
    def _short_marks(cls, value: list[str]) -> list[str]:
        bad = [f for f in value if not f or len(f) > 16 or re.search(r"\s", f)]
        if bad:
            raise ValueError(
                f"frowns are emoticons or emoji of 1-16 characters without spaces: {bad!r}"
            )
        return value

    @field_validator("neutral_phrases", "sarcasm")
    @classmethod
    def _phrases_have_words(cls, value: list[str]) -> list[str]:
        return _with_words(value)


class SentimentTrigger(_Data):
    """Frustration or anger.

    ``score`` (−1…1) is VADER's compound valence (Hutto & Gilbert 2014, "VADER: A
    Parsimonious Rule-based Model for Sentiment Analysis of Social Media Text", ICWSM) of
    the most negative sentence, read with the support-chat adjustments of ``lexicon``,
    then adjusted by conversation signals: when any signal is present a positive reading is
    not trusted and each signal lowers the score by its weight — frustration phrases
    ("this is useless") and sarcasm ("oh great, it broke again") 0.55, angry emoji and
    frowning emoticons 0.3 each (two at most of each), shouting (mostly capitals) 0.3, the
    same question again 0.3. Fires when ``score < threshold``.
    """

    enabled: bool = True
    threshold: PolicyFloat = Field(default=-0.5, ge=-1.0, le=1.0)
    phrases: list[str] = Field(default_factory=list)
    """Extra frustration phrases, matched like keywords."""
    lexicon: SentimentLexicon = Field(default_factory=SentimentLexicon)
    """Extra words, neutral phrases, frowns and sarcasm cues (see :class:`SentimentLexicon`)."""


class IntentCategory(_Data):
    """An operator-defined intent: a name and example phrases.

    A message matches when a classifier trained on every category's examples (against a
    background of ordinary support questions) gives this category the highest probability
    and it is ≥ ``min_probability`` (0–1). ``escalate`` false only routes: the intent's
    ``team`` is used if something else escalates the turn.
    """

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    examples: list[str] = Field(min_length=1)
    escalate: bool = True
    team: TeamName | None = None
    priority: PolicyInt = Field(default=0, ge=0, le=10)
    min_probability: PolicyFloat = Field(default=0.5, gt=0.0, le=1.0)


class IntentTrigger(_Data):
    """Operator intents (``categories``) and KB entries marked ``escalate: true`` (``kb_entry``)."""

    enabled: bool = True
    kb_entry: bool = True
    """Escalate when the answer's top entry is marked ``escalate: true`` in the KB."""
    categories: list[IntentCategory] = Field(default_factory=lambda: default_intents())


LEGAL_THREAT_EXAMPLES: tuple[str, ...] = (
    "I will sue you",
    "my lawyer will be in touch",
    "I am taking legal action against you",
    "see you in court",
    "I'm contacting my attorney about this",
    "this is a breach of contract and I will take you to court",
    "I'll report you to the consumer protection authority",
    "expect to hear from my solicitor",
)

BILLING_DISPUTE_EXAMPLES: tuple[str, ...] = (
    "I'm disputing the charge with my bank",
    "I will file a chargeback",
    "you charged me twice this month",
    "I was double charged",
    "there is a charge on my card I did not authorise",
    "you took money from my account without permission",
    "I want my money back for the duplicate payment",
    "why was I billed twice",
)

SECURITY_INCIDENT_EXAMPLES: tuple[str, ...] = (
    "we had a data breach",
    "we've been breached",
    "our customer data was leaked",
    "customer data leak",
    "my account was hacked",
    "hackers took over my account",
    "someone logged into my account without permission",
    "someone logged in to my email who was not me",
    "there was unauthorized access to our server",
    "an intruder accessed our files",
    "my customers' personal data was exposed",
    "personal information of our users is exposed publicly",
    "someone stole our database",
    "a dump of our user database is online",
    "an attacker got into our admin panel",
    "a hacker broke into our website",
    "our passwords were leaked online",
    "my login details were stolen",
    "someone else is using my account",
    "somebody has access to my account who shouldn't",
    "my email account has been compromised",
    "our server is compromised",
    "credit card numbers of our customers were stolen",
    "there are logins to my account that were not me",
    "someone signed in to our account who is not on our team",
    "my account email was changed and I didn't do it",
    "an unrecognised device logged into my account",
    "there's an unknown device in my login history",
    "we received an alert about a sign-in that was none of us",
    "there is a session open from a device we don't own",
    "a strange phone is signed in to our admin panel",
)


def default_intents() -> list[IntentCategory]:
    """Three intents every support desk wants a person for: a legal threat, a billing
    dispute (chargeback, double charge) and a security incident (breach, hacked account,
    unauthorized access, leaked data). Operators add their own or replace these.

    ``min_probability`` 0.8 for the first two: on a review of realistic messages the true
    matches scored 0.89–0.96 and the near misses ("my card was declined", "the guide was
    not useless") 0.55–0.59. 0.7 for security incidents, whose paraphrases vary more: in a
    review of 8 reports without the words of any example ("hackers got into our store and
    took the customer list"), 5 scored 0.79–0.93 and 3 missed (0.49, 0.68, no match for
    "the site was defaced by someone"); the near misses ("nobody hacked us, we just want a
    security audit", "my account wasn't hacked, I just need a new password", "how do I see
    who logged into my account") scored 0.56 at most."""
    return [
        IntentCategory(
            name="legal_threat",
            examples=list(LEGAL_THREAT_EXAMPLES),
            team="legal",
            priority=2,
            min_probability=0.8,
        ),
        IntentCategory(
            name="billing_dispute",
            examples=list(BILLING_DISPUTE_EXAMPLES),
            team="billing",
            priority=1,
            min_probability=0.8,
        ),
        IntentCategory(
            name="security_incident",
            examples=list(SECURITY_INCIDENT_EXAMPLES),
            team="security",
            priority=2,
            min_probability=0.7,
        ),
    ]


class UnresolvedTrigger(_Data):
    """``count`` AI turns in a row that did not resolve the visitor's need.

    A prior AI turn counts as unresolved when it was marked ``resolved=False``, when its
    confidence was below ``Policy.threshold`` (and it was not marked resolved), or when the
    visitor's next message says it did not help ("that didn't help") or repeats the question.
    The current turn counts when its own confidence is below the threshold, the answerer
    failed, or it repeats the previous question (the same answer would not help twice). A turn marked ``resolved=True`` resets the count.
    """

    enabled: bool = True
    count: PolicyInt = Field(default=3, ge=1, le=50)


class BusinessHours(_Data):
    """When agents work, in the team's time zone (IANA name, e.g. ``Europe/Berlin``).

    ``start``/``end`` are local wall-clock times, end exclusive; ``end`` earlier than
    ``start`` spans midnight. ``holidays`` are local dates with no business hours.
    ``start`` equal to ``end`` is refused (an empty span: never open).
    """

    timezone: str = "UTC"
    days: list[Weekday] = Field(default_factory=lambda: list(WORKDAYS))
    start: time = time(9, 0)
    end: time = time(17, 0)
    holidays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like 'Europe/Berlin')"
            ) from None
        return value

    @model_validator(mode="after")
    def _some_span(self) -> BusinessHours:
        if self.start == self.end:
            raise ValueError(
                f"start and end are both {self.start:%H:%M:%S}: the span is empty and the"
                " team would never be open (end is exclusive; an end earlier than start"
                " spans midnight)"
            )
        return self


class Comparison(_Data):
    """Numeric test; every bound given must hold (``{ge = 0.3, lt = 0.7}`` is a range)."""

    lt: PolicyFloat | None = None
    le: PolicyFloat | None = None
    gt: PolicyFloat | None = None
    ge: PolicyFloat | None = None
    eq: PolicyFloat | None = None
    ne: PolicyFloat | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Comparison:
        if all(v is None for v in self.model_dump().values()):
            raise ValueError("give at least one of lt, le, gt, ge, eq, ne")
        return self


class VisitorTest(_Data):
    """Test on one collected visitor field (``name``, ``email``, form fields like ``plan``).

    Exactly one operator: ``eq``/``ne`` (case-insensitive), ``in`` (one of), ``contains``,
    ``matches`` (Python regex, searched), ``exists``. A missing field fails every test but
    ``ne`` and ``exists = false``.
    """

    field: str = Field(min_length=1)
    eq: str | None = None
    ne: str | None = None
    in_: list[str] | None = Field(default=None, alias="in")
    contains: str | None = None
    matches: str | None = None
    exists: bool | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> VisitorTest:
        ops = [
            k
            for k in ("eq", "ne", "in_", "contains", "matches", "exists")
            if getattr(self, k) is not None
        ]
        if len(ops) != 1:
            raise ValueError("give exactly one of eq, ne, in, contains, matches, exists")
        if self.matches is not None:
            _check_regex(self.matches)
        return self


class UrlTest(_Data):
    """Page URL test: ``glob`` (``*`` any text, case-insensitive) or ``regex`` (searched)."""

    glob: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> UrlTest:
        if (self.glob is None) == (self.regex is None):
            raise ValueError("give exactly one of glob, regex")
        if self.regex is not None:
            _check_regex(self.regex)
        return self


def _check_regex(pattern: str) -> None:
    # Compiled by the engine that matches it (bounded in time: patterns.py).
    check_pattern(pattern)


MAX_CONDITION_DEPTH = 32
"""How deeply a rule's ``when`` may nest (tables/objects: ``{not = {trigger = ...}}`` is
2). Far more than any rule needs, and far less than what breaks a recursive reader or
writer (TOML export, JSON, what-if, the engine)."""

_CONDITION_KEYS = (
    "all_",
    "any_",
    "not_",
    "trigger",
    "confidence",
    "sentiment",
    "intent",
    "keyword",
    "exchanges",
    "unresolved",
    "visitor",
    "page_url",
    "business_hours",
)


class Condition(_Data):
    """One test in a rule's ``when``; exactly one key:

    - ``all = [...]``, ``any = [...]``, ``not = {...}``: combine conditions.
    - ``trigger = "keyword"``: that trigger fired on this turn.
    - ``confidence = {lt = 0.5}``: the answer's confidence (0–1); false when there is none.
    - ``sentiment = {lt = -0.3}``: the adjusted sentiment score (−1…1).
    - ``intent = "billing_dispute"`` or ``["a", "b"]``: the best-matching operator intent.
    - ``keyword = "cancel account"`` (or ``"*"`` for any): a keyword phrase matched.
    - ``exchanges = {ge = 3}``: visitor turns so far, this one included.
    - ``unresolved = {ge = 2}``: unresolved AI turns in a row (see ``UnresolvedTrigger``).
    - ``visitor = {field = "plan", eq = "enterprise"}``: a collected visitor field.
    - ``page_url = "*/pricing*"`` or ``{regex = "..."}``: where the visitor started.
    - ``business_hours = true``: ``now`` falls in ``Policy.business_hours``.
    """

    all_: list[Condition] | None = Field(default=None, alias="all", min_length=1)
    any_: list[Condition] | None = Field(default=None, alias="any", min_length=1)
    not_: Condition | None = Field(default=None, alias="not")
    trigger: FiringTrigger | None = None
    confidence: Comparison | None = None
    sentiment: Comparison | None = None
    intent: list[str] | None = Field(default=None, min_length=1)
    keyword: str | None = None
    exchanges: Comparison | None = None
    unresolved: Comparison | None = None
    visitor: VisitorTest | None = None
    page_url: UrlTest | None = None
    business_hours: bool | None = None

    @field_validator("intent", mode="before")
    @classmethod
    def _one_intent(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("page_url", mode="before")
    @classmethod
    def _glob_shorthand(cls, value: Any) -> Any:
        return {"glob": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        given = [k.rstrip("_") for k in _CONDITION_KEYS if getattr(self, k) is not None]
        if len(given) != 1:
            names = ", ".join(k.rstrip("_") for k in _CONDITION_KEYS)
            found = ", ".join(given) or "none"
            raise ValueError(f"a condition has exactly one key of: {names} (found: {found})")
        return self

    def key(self) -> str:
        """The condition's single key (``all``, ``trigger``, ``visitor``, ...)."""
        return next(k.rstrip("_") for k in _CONDITION_KEYS if getattr(self, k) is not None)


class Rule(_Data):
    """An ordered rule: when ``when`` holds, take ``action``; the first matching rule wins.

    ``priority`` (0–10, higher is served first) and ``team`` apply to ``escalate``.
    """

    name: str = Field(min_length=1)
    when: Condition
    action: Literal["escalate", "offer_handoff", "continue"] = "escalate"
    priority: PolicyInt = Field(default=0, ge=0, le=10)
    team: TeamName | None = None

    @field_validator("when", mode="before")
    @classmethod
    def _not_too_deep(cls, value: Any) -> Any:
        depth = nesting_depth(value)
        if depth > MAX_CONDITION_DEPTH:
            raise ValueError(
                f"conditions nested {depth} levels deep; at most {MAX_CONDITION_DEPTH}"
                " (all, any, not and their tests)"
            )
        return value


def nesting_depth(value: Any) -> int:
    """How deeply ``value`` (JSON/TOML data) nests tables/objects, a list counting no
    level: ``{"not": {"trigger": "keyword"}}`` is 2. Measured without recursion, so
    data nested thousands deep is measured, not a ``RecursionError``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((child, depth) for child in item)
    return deepest


def default_rules() -> list[Rule]:
    """The recommended setup, one rule per trigger, most specific first."""

    def on(name: str, trigger: FiringTrigger, priority: int = 0) -> Rule:
        return Rule(name=name, when=Condition(trigger=trigger), priority=priority)

    return [
        on("risk keyword", "keyword", 2),
        on("visitor asked for a person", "human_request", 1),
        on("KB entry needs a human", "kb_entry", 1),
        on("operator intent", "intent", 1),
        on("frustrated visitor", "sentiment", 1),
        on("going in circles", "unresolved_exchanges"),
        on("low confidence", "low_confidence"),
    ]


class Policy(BaseModel):
    """Operator-tunable escalation settings (see the module docstring for how a turn is decided).

    ``threshold`` is the confidence (probability 0–1) below which an AI answer counts as
    low confidence. Threshold 0 never escalates on confidence; 1 escalates every AI turn.
    ``version`` is the stored version number (``None`` for a policy not yet stored).
    ``human_request = false`` is accepted as shorthand for ``{enabled = false}``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    version: PolicyInt | None = None
    threshold: Probability = 0.70
    low_confidence: LowConfidenceTrigger = Field(default_factory=LowConfidenceTrigger)
    keyword: KeywordTrigger = Field(default_factory=KeywordTrigger)
    human_request: HumanRequestTrigger = Field(default_factory=HumanRequestTrigger)
    sentiment: SentimentTrigger = Field(default_factory=SentimentTrigger)
    intent: IntentTrigger = Field(default_factory=IntentTrigger)
    unresolved_exchanges: UnresolvedTrigger = Field(default_factory=UnresolvedTrigger)
    ai_error_priority: PolicyInt = Field(default=1, ge=0, le=10)
    """Queue priority of turns escalated because the answerer failed (always escalated)."""
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    rules: list[Rule] = Field(default_factory=default_rules)
    fallbacks: FallbackPolicy = Field(default_factory=FallbackPolicy)
    """What a visitor is offered when nobody can come, and the queue gate (see
    :class:`~handoff_server.escalation.fallback_policy.FallbackPolicy`)."""

    @field_validator("human_request", mode="before")
    @classmethod
    def _bool_shorthand(cls, value: Any) -> Any:
        return {"enabled": value} if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _cross_references(self) -> Policy:
        problems: list[str] = []
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.name in seen:
                problems.append(f"rules.{i}.name: duplicate rule name {rule.name!r}")
            seen.add(rule.name)
        intents = {c.name for c in self.intent.categories}
        names = [c.name for c in self.intent.categories]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"intent.categories: duplicate intent name {name!r}")
        phrases = {p.casefold() for p in self.keyword.phrases}
        for phrase in self.keyword.teams:
            if phrase.casefold() not in phrases:
                problems.append(f"keyword.teams: {phrase!r} is not one of keyword.phrases")
        for i, rule in enumerate(self.rules):
            for where, cond in _walk(rule.when, f"rules.{i}.when"):
                if cond.intent is not None:
                    for name in cond.intent:
                        if name not in intents:
                            problems.append(
                                f"{where}.intent: unknown intent {name!r} (defined: {sorted(intents)})"
                            )
                if (
                    cond.keyword is not None
                    and cond.keyword != "*"
                    and cond.keyword.casefold() not in phrases
                ):
                    problems.append(
                        f"{where}.keyword: {cond.keyword!r} is not one of keyword.phrases"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def to_data(self) -> dict[str, Any]:
        """The policy as plain JSON/TOML-ready data (aliases, no ``None`` values, no version)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"version"})


def _walk(cond: Condition, where: str):
    yield where, cond
    for key in ("all_", "any_"):
        children = getattr(cond, key)
        if children:
            for j, child in enumerate(children):
                yield from _walk(child, f"{where}.{key.rstrip('_')}.{j}")
    if cond.not_ is not None:
        yield from _walk(cond.not_, f"{where}.not")


def parse_policy(data: Any, *, version: int | None = None) -> Policy:
    """Validate policy data (a dict from TOML or JSON) into a :class:`Policy`.

    ``version`` overrides any version in ``data`` (the store's number wins).
    Raises :class:`PolicyError` listing every problem as ``"location: message"``.
    """
    if not isinstance(data, dict):
        raise PolicyError([f"(root): a policy is a table/object, got {type(data).__name__}"])
    body = dict(data)
    if version is not None:
        body["version"] = version
    try:
        return Policy.model_validate(body)
    except ValidationError as exc:
        raise PolicyError(format_problems(exc)) from None


def format_problems(exc: ValidationError) -> list[str]:
    """Flatten a pydantic error into ``"location: message"`` lines, one per problem."""
    lines: list[str] = []
    for err in exc.errors():
        loc = ".".join(str(x).rstrip("_") if isinstance(x, str) else str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if not loc and "; " in msg:
            lines.extend(msg.split("; "))
        else:
            lines.append(f"{loc or '(root)'}: {msg}")
    return lines
