"""Labeled visitor messages and short conversations → the expected decision and reason.

Each case names the policy it runs under, the turn (text, the AI's confidence, history,
visitor fields, page, time) and what the policy must decide: the action, the trigger that
decided, and a piece of the human-readable detail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from handoff_server.ai.base import Answer, Candidate
from handoff_server.escalation import Decision, Policy, PriorTurn, TurnContext, decide

MONDAY_10_UTC = datetime(2025, 1, 6, 10, 0, tzinfo=UTC)

# The table is data: one case per line or two, aligned by hand.
# fmt: off
INTENTS = [
    {
        "name": "billing_dispute",
        "team": "billing",
        "examples": [
            "I was charged twice", "this charge on my card is wrong",
            "I want a refund for this invoice", "I dispute this payment",
            "you billed me for something I didn't order",
        ],
    },
    {
        "name": "legal_threat",
        "team": "legal",
        "priority": 3,
        "examples": [
            "I will sue you", "my lawyer will contact you", "I am taking legal action",
            "see you in court", "I'm reporting you to the authorities",
        ],
    },
    {
        "name": "security_incident",
        "team": "security",
        "priority": 3,
        "examples": [
            "my site was hacked", "someone broke into my account", "there is malware on my server",
            "my password was stolen", "suspicious logins on my account",
        ],
    },
    {
        "name": "sales_lead",
        "team": "sales",
        "escalate": False,
        "examples": [
            "we want to move 200 sites to you", "do you have an enterprise plan",
            "pricing for a large team", "we need dedicated servers for our company",
        ],
    },
]


def _rules(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    """Operator rules first, then the recommended defaults."""
    defaults = [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in Policy().rules]
    return [*extra, *defaults]


POLICIES: dict[str, Policy] = {
    "default": Policy(),
    "intents": Policy(intent={"categories": INTENTS}),
    "threshold0": Policy(threshold=0.0),
    "threshold1": Policy(threshold=1.0),
    "keywords_off": Policy(keyword={"enabled": False}),
    "human_off": Policy(human_request=False),
    "unresolved2": Policy(unresolved_exchanges={"count": 2}, low_confidence={"enabled": False}),
    "rules": Policy(
        intent={"categories": INTENTS},
        business_hours={"timezone": "America/New_York", "holidays": ["2025-12-25"]},
        rules=_rules(
            {"name": "enterprise", "when": {"all": [{"visitor": {"field": "plan", "eq": "enterprise"}},
                                                     {"confidence": {"lt": 0.85}}]},
             "priority": 5, "team": "enterprise"},
            {"name": "vip domain", "when": {"visitor": {"field": "email", "matches": r"@bigcorp\.example$"}},
             "action": "escalate", "priority": 4, "team": "vip"},
            {"name": "trial users", "when": {"visitor": {"field": "plan", "in": ["trial", "free"]}},
             "action": "continue"},
            {"name": "docs pages", "when": {"all": [{"page_url": "*/docs/*"}, {"confidence": {"ge": 0.5}}]},
             "action": "continue"},
            {"name": "pricing page lead", "when": {"all": [{"page_url": {"regex": r"/pricing(/|$|\?)"}},
                                                            {"intent": "sales_lead"}]},
             "team": "sales", "priority": 2},
            {"name": "after hours offer", "when": {"all": [{"business_hours": False},
                                                            {"confidence": {"lt": 0.7}}]},
             "action": "offer_handoff"},
            {"name": "angry and stuck", "when": {"any": [{"sentiment": {"lt": -0.3}},
                                                          {"unresolved": {"ge": 2}}]},
             "action": "offer_handoff"},
            {"name": "long chat", "when": {"exchanges": {"ge": 8}}, "action": "offer_handoff"},
            {"name": "breach to security", "when": {"keyword": "data breach"}, "team": "security",
             "priority": 4},
            {"name": "no company", "when": {"all": [{"not": {"visitor": {"field": "company", "exists": True}}},
                                                     {"visitor": {"field": "plan", "ne": "enterprise"}},
                                                     {"visitor": {"field": "note", "contains": "urgent"}}]},
             "action": "offer_handoff"},
        ),
    ),
}


@dataclass
class Case:
    id: str
    text: str
    action: str
    trigger: str | None
    detail: str = ""
    policy: str = "default"
    conf: float | None = 0.9
    history: list[tuple[str, float | None, bool | None]] = field(default_factory=list)
    ai_error: str | None = None
    explicit: bool = False
    visitor: dict[str, str] = field(default_factory=dict)
    page_url: str | None = None
    now: datetime = MONDAY_10_UTC
    entry_escalate: bool = False
    team: str | None = None
    priority: int | None = None
    rule: str | None = None
    entry: tuple[str, str] | None = None
    """The answer's top KB entry as (id, title), marked escalate: true with team billing."""
    known_miss: str = ""
    """Why the policy still gets this case wrong (a known limitation, pinned as such)."""


LONG = "I have a question about my hosting. " * 150  # ~5,400 characters

CASES = [
    # --- low_confidence: the exact boundary --------------------------------------------
    Case("conf-below", "how do I point my domain", "escalate", "low_confidence",
         "confidence 0.41 < threshold 0.70", conf=0.41),
    Case("conf-equal-threshold", "how do I point my domain", "continue", None, conf=0.70),
    Case("conf-just-below", "how do I point my domain", "escalate", "low_confidence",
         "< threshold 0.70", conf=0.6999),
    Case("conf-high", "how do I point my domain", "continue", None, conf=0.95),
    Case("threshold0-conf0", "how do I point my domain", "continue", None, policy="threshold0", conf=0.0),
    Case("threshold1-conf-high", "how do I point my domain", "escalate", "low_confidence",
         "confidence 0.99 < threshold 1.00", policy="threshold1", conf=0.99),
    Case("threshold1-conf1", "how do I point my domain", "continue", None, policy="threshold1", conf=1.0),
    # --- ai_error: never disguised as low confidence -------------------------------------
    Case("ai-timeout", "how do I point my domain", "escalate", "ai_error",
         "answerer failed: took longer than 10s", conf=None, ai_error="took longer than 10s"),
    Case("ai-error-with-keyword", "cancel my account", "escalate", "ai_error",
         "answerer failed", conf=None, ai_error="IndexError: boom", priority=2),
    Case("ai-error-trial-continue-rule", "hello", "escalate", "ai_error", policy="rules",
         conf=None, ai_error="engine crashed", visitor={"plan": "trial"}),
    # --- keyword ---------------------------------------------------------------------------
    Case("kw-inflected", "Cancel my account", "escalate", "keyword",
         "keyword 'cancel account' matched 'Cancel my account'"),
    Case("kw-shouted", "CANCEL ACCOUNT!", "escalate", "keyword", "matched 'CANCEL ACCOUNT'"),
    Case("kw-extra-spaces", "please   cancel    the   account", "escalate", "keyword",
         "matched 'cancel    the   account'"),
    Case("kw-punctuation", "cancel -- account??", "escalate", "keyword", "cancel account"),
    Case("kw-past-tense", "you cancelled my account without asking", "escalate", "keyword",
         "matched 'cancelled my account'"),
    Case("kw-cancelling", "I'm cancelling my accounts today", "escalate", "keyword",
         "matched 'cancelling my accounts'"),
    Case("kw-negated", "I don't want to cancel my account", "continue", None),
    Case("kw-negated-typo", "i dont want to cancel my account, just change plan", "continue", None),
    Case("kw-do-not", "I do not want to speak to manager, just fix it", "continue", None),
    Case("kw-no-breach", "there was no data breach, I just forgot my password", "continue", None),
    Case("kw-cant-is-a-problem", "why can't I cancel my account?", "escalate", "keyword",
         "cancel account"),
    Case("kw-no-way", "there is no way to cancel my account", "escalate", "keyword"),
    Case("kw-negation-other-clause", "No, I want to cancel my account", "escalate", "keyword"),
    Case("kw-inside-word", "how do I precancel accountancy software", "continue", None),
    Case("kw-data-breach", "I think we had a data breach", "escalate", "keyword",
         "keyword 'data breach' matched 'data breach'"),
    Case("kw-breaches-plural", "are there any DATA-BREACHES on my server?", "escalate", "keyword",
         "matched 'DATA-BREACHES'"),
    Case("kw-speak-manager", "Let me speak to your manager!", "escalate", "keyword",
         "keyword 'speak to manager' matched 'speak to your manager'", priority=2),
    Case("kw-non-ascii", "Bonjour — cancel my account s’il vous plaît", "escalate", "keyword"),
    Case("kw-too-far-apart", "cancel the order for my old account", "continue", None),
    Case("kw-disabled", "cancel my account", "continue", None, policy="keywords_off"),
    Case("kw-long-message", LONG + " Please cancel my account.", "escalate", "keyword"),
    # --- human_request ----------------------------------------------------------------------
    Case("hr-someone-real", "can I talk to someone real", "escalate", "human_request",
         "visitor asked for a person"),
    Case("hr-agent-please", "agent please", "escalate", "human_request"),
    Case("hr-representative", "representative", "escalate", "human_request"),
    # Asking who answers is not asking for a person: an honest answer and the offer
    # (issue 12; these two were expected to escalate before).
    Case("hr-is-there-human", "is there a human there?", "offer_handoff", None,
         "the AI says it is an AI assistant and offers a person"),
    Case("hr-mixed-case", "CAN I SPEAK WITH A PERSON", "escalate", "human_request"),
    Case("hr-long-sentence", "Hi, I need to speak with a real person about my invoice from May",
         "escalate", "human_request"),
    Case("hr-typo", "can i talk to a humna plz", "escalate", "human_request"),
    Case("hr-bot-question", "am i chatting with a bot?", "offer_handoff", None),
    Case("hr-staff", "could somebody from your staff help me with this", "escalate", "human_request"),
    Case("hr-first-message-history-empty", "live agent", "escalate", "human_request", history=[]),
    Case("hr-indirect-engineer", "Can you have an engineer look at why my SSL certificate failed to renew?",
         "escalate", "human_request"),
    Case("hr-low-conf-still-human", "get me a real human being", "escalate", "human_request",
         conf=0.1),
    Case("hr-explicit-button", "hello", "escalate", "human_request",
         "visitor pressed 'talk to a person'", explicit=True),
    Case("hr-explicit-even-if-off", "thanks", "escalate", "human_request", policy="human_off",
         explicit=True),
    Case("hr-off", "agent please", "continue", None, policy="human_off"),
    Case("hr-negated", "I don't need a human, just tell me the nameservers", "continue", None),
    Case("hr-user-agent", "what is the user agent of your uptime checker", "continue", None),
    Case("hr-add-person", "how do I add another person to my account", "continue", None),
    Case("hr-talk-to-db", "how do I talk to my database from python", "continue", None),
    Case("hr-emoji", "human please 🙏", "escalate", "human_request"),
    # --- sentiment ---------------------------------------------------------------------------
    Case("sent-useless", "this is useless", "escalate", "sentiment",
         "signals: phrase 'useless'"),
    Case("sent-frustrated", "I am so frustrated with this hosting", "escalate", "sentiment"),
    Case("sent-sarcasm", "Great, thanks for nothing 🙄", "escalate", "sentiment",
         "phrase 'thanks for nothing'"),
    Case("sent-sarcasm-useless", "Oh wonderful, another useless answer. Just great.", "escalate",
         "sentiment"),
    Case("sent-emoji", "😡😡😡", "escalate", "sentiment", "angry emoji x3"),
    Case("sent-shout-repeat", "WHERE IS MY INVOICE", "escalate", "sentiment",
         "shouting, repeated question", history=[("where is my invoice", 0.9, None)]),
    Case("sent-shout-alone", "WHERE IS MY INVOICE", "continue", None),
    Case("sent-waste", "What a waste of time, you are not helping at all", "escalate", "sentiment"),
    Case("sent-not-bad", "not bad", "continue", None),
    Case("sent-no-problems", "no problems at all, thanks!", "continue", None),
    Case("sent-thanks", "Thank you so much, that helped!", "continue", None),
    Case("sent-thanks-emoji", "thanks 😊👍", "continue", None),
    Case("sent-not-useless", "the guide was not useless, I just need the next step", "continue", None),
    Case("sent-problem-neutral", "my site shows an error 500", "continue", None),
    Case("sent-non-ascii", "¡Gracias! Todo funciona 👍", "continue", None),
    # --- intent and kb_entry --------------------------------------------------------------------
    Case("intent-billing", "You charged me twice this month!", "escalate", "intent",
         "intent 'billing_dispute'", policy="intents", team="billing", priority=1),
    Case("intent-legal", "I will take you to court over this", "escalate", "intent",
         "intent 'legal_threat'", policy="intents", team="legal", priority=3),
    Case("intent-security", "someone logged into my account from another country", "escalate",
         "intent", "security_incident", policy="intents", team="security"),
    Case("intent-none", "how do I set up a cron job", "continue", None, policy="intents"),
    Case("intent-route-only", "do you have an enterprise plan for 500 people?", "continue", None,
         policy="intents"),
    Case("intent-route-team-on-escalation", "pricing for a large team", "escalate", "low_confidence",
         policy="intents", conf=0.3, team="sales"),
    Case("kb-entry", "my server disk failed", "escalate", "kb_entry",
         "KB entry 'server-hardware' is marked escalate: true", entry_escalate=True, team="senior"),
    # A low-confidence guess at an escalate-only entry is not a reason to claim that topic
    # (or to route to its team): low confidence hands it off honestly.
    Case("kb-entry-unsure", "our shop is losing sales", "escalate", "low_confidence",
         "confidence 0.33 < threshold 0.70", entry_escalate=True, conf=0.33),
    # Naming the fault is not frustration (VADER alone scores "ERROR ... failed" at -0.7).
    Case("sentiment-technical-words", "HTTP ERROR 500: the upload failed and my site is broken",
         "continue", None),
    Case("sentiment-technical-attacks", "How do I stop spam attacks on my contact form? Getting hundreds of junk emails",
         "continue", None),
    Case("sentiment-technical-killing", "The cron job is killing my uploads, the white screen of death again",
         "continue", None),
    # The default policy's own intents: legal threats and billing disputes go to people.
    Case("default-intent-legal", "I will sue you if my data isn't returned. My lawyer is in cc.",
         "escalate", "intent", "legal_threat", team="legal", priority=2),
    Case("default-intent-chargeback", "If this isn't fixed today I'm disputing the charge with my bank",
         "escalate", "intent", "billing_dispute", team="billing", priority=1),
    Case("default-intent-near-miss", "my card was declined", "continue", None),
    # --- unresolved_exchanges ---------------------------------------------------------------------
    Case("unres-three", "that didn't help either, how do I fix my dns", "escalate", "unresolved_exchanges",
         "3 unresolved AI turn(s) in a row >= 2",
         history=[("how do I fix dns", 0.95, None), ("that did not help. how do I fix my dns", 0.95, None)],
         conf=0.5, policy="unresolved2"),
    Case("unres-repeat-question", "how do I fix my dns records", "escalate", "unresolved_exchanges",
         "2 unresolved", history=[("how do I fix my dns records", 0.9, None)], conf=0.9, policy="unresolved2"),
    Case("unres-reset-after-resolved", "and how do I add an MX record", "continue", None,
         history=[("x", 0.2, False), ("y", 0.3, False), ("how do I add a CNAME", 0.9, True)],
         policy="unresolved2"),
    Case("unres-default-three", "still not working", "escalate", "unresolved_exchanges",
         "3 unresolved AI turn(s) in a row >= 3",
         history=[("how do I fix email", 0.9, False), ("what about spam", 0.9, False)], conf=0.5),
    Case("unres-two-of-three", "still not working", "continue", None,
         history=[("how do I fix email", 0.9, True), ("what about spam", 0.9, False)], conf=0.9),
    # --- rules: every operator -----------------------------------------------------------------------
    Case("rule-all-visitor-eq-conf", "how do I migrate", "escalate", "rule",
         "rule 'enterprise': (visitor plan 'Enterprise' (eq 'enterprise') and confidence 0.80",
         policy="rules", conf=0.8, visitor={"plan": "Enterprise"}, team="enterprise", priority=5),
    Case("rule-all-fails-one", "how do I migrate", "continue", None, policy="rules", conf=0.9,
         visitor={"plan": "enterprise"}),
    Case("rule-visitor-matches", "hello", "escalate", "rule", "visitor email", policy="rules",
         visitor={"email": "cto@bigcorp.example"}, team="vip", priority=4),
    Case("rule-visitor-in-continue", "how do I migrate", "continue", None, policy="rules", conf=0.2,
         visitor={"plan": "trial"}, rule="trial users"),
    Case("rule-glob-docs-continue", "how do I migrate", "continue", None, policy="rules", conf=0.55,
         page_url="https://host.example/docs/migrate"),
    Case("rule-glob-docs-too-low", "how do I migrate", "escalate", "low_confidence", policy="rules",
         conf=0.45, page_url="https://host.example/docs/migrate", now=datetime(2025, 1, 6, 15, tzinfo=UTC)),
    Case("rule-regex-pricing-intent", "pricing for a large team", "escalate", "rule",
         "page URL 'https://host.example/pricing?x=1'", policy="rules",
         page_url="https://host.example/pricing?x=1", team="sales", priority=2),
    Case("rule-after-hours-offer", "how do I migrate", "offer_handoff", "rule",
         "outside business hours (America/New_York)", policy="rules", conf=0.5,
         now=datetime(2025, 1, 6, 23, 30, tzinfo=UTC)),
    Case("rule-business-hours-low-conf", "how do I migrate", "escalate", "low_confidence",
         policy="rules", conf=0.5, now=datetime(2025, 1, 6, 15, 0, tzinfo=UTC)),
    Case("rule-holiday-is-after-hours", "how do I migrate", "offer_handoff", "rule", policy="rules",
         conf=0.5, now=datetime(2025, 12, 25, 15, 0, tzinfo=UTC)),
    Case("rule-dst-morning", "how do I migrate", "escalate", "low_confidence", policy="rules",
         conf=0.5, now=datetime(2025, 7, 7, 13, 30, tzinfo=UTC)),  # 09:30 EDT
    Case("rule-weekend", "how do I migrate", "offer_handoff", "rule", policy="rules", conf=0.5,
         now=datetime(2025, 1, 5, 15, 0, tzinfo=UTC)),
    Case("rule-any-sentiment", "I am annoyed, how do I migrate", "offer_handoff", "rule",
         "sentiment", policy="rules", conf=0.9),
    Case("rule-any-unresolved", "how do I migrate my site", "offer_handoff", "rule", "unresolved 3 (ge 2)",
         policy="rules", conf=0.9, history=[("x", 0.3, None), ("how do I migrate my site", 0.9, None)]),
    Case("rule-exchanges", "how do I migrate", "offer_handoff", "rule", "exchanges 8",
         policy="rules", conf=0.9, history=[(f"question {i}", 0.9, True) for i in range(7)]),
    Case("rule-keyword-team", "we had a data breach", "escalate", "rule",
         "rule 'breach to security': keyword 'data breach' (matched 'data breach')", policy="rules",
         team="security", priority=4),
    Case("rule-not-exists-contains", "hello there", "offer_handoff", "rule",
         "not visitor company None", policy="rules", visitor={"note": "URGENT: site down", "plan": "basic"}),
    Case("rule-not-exists-fails", "hello there", "continue", None, policy="rules",
         visitor={"note": "urgent", "plan": "basic", "company": "ACME"}),
]
# fmt: on


# --- issue 12: triggers that misread messages --------------------------------------------
# Written fresh for issue 12; the messages the issue quotes are marked "quoted".

_SETUP = (
    "Our shop runs on WordPress with WooCommerce and about forty plugins. ",
    "We moved it to your servers in March from another host. ",
    "The theme was built by an agency that we no longer work with. ",
    "Most of our orders come in on weekday evenings. ",
    "We use the PHP 8.2 setting and the default database size. ",
    "Backups run every night according to the control panel. ",
    "The domain is registered with you and uses your nameservers. ",
    "Email for the team is on your mail servers with six mailboxes. ",
    "Last week we added a newsletter plugin and a cookie banner. ",
    "The staging copy lives on a subdomain that only we use. ",
)


def _long(middle: str, chars: int = 1500) -> str:
    """About ``chars`` characters of ordinary context with ``middle`` halfway through."""
    half: list[str] = []
    i = 0
    while sum(map(len, half)) < (chars - len(middle)) // 2:
        half.append(_SETUP[i % len(_SETUP)])
        i += 1
    rest = [_SETUP[(i + j) % len(_SETUP)] for j in range(len(half))]
    text = "".join(half) + middle + " " + "".join(rest)
    return text[: text.rfind(". ", 0, chars) + 1]


_RUN_ON = (
    "so we have been trying to get the new checkout page working since monday and the "
    "payment step keeps timing out for some customers but not all of them and we changed "
    "the php version twice and cleared every cache we could find "
)
ACCOUNT_CLOSE = ("account-close", "Cancelling services or closing your account")

# fmt: off
ISSUE12_CASES = [
    # Nonsense is low confidence and nothing else (quoted: "a", "aaa", long runs of one letter).
    Case("i12-nonsense-a", "a", "escalate", "low_confidence", conf=0.12),
    Case("i12-nonsense-aaa", "aaa", "escalate", "low_confidence", conf=0.12),
    Case("i12-nonsense-run", "aaaaaaaaaaaa", "escalate", "low_confidence", conf=0.12),
    Case("i12-nonsense-long-run", "h" * 60, "escalate", "low_confidence", conf=0.1),
    Case("i12-nonsense-caps", "AAAAAAAAAAAAAAAA", "escalate", "low_confidence", conf=0.1),
    Case("i12-nonsense-mash", "asdfghjkl", "escalate", "low_confidence", conf=0.1),
    Case("i12-nonsense-mash-2", "jkjkjk sdfsdf", "escalate", "low_confidence", conf=0.1),
    Case("i12-nonsense-one-letter", "k", "escalate", "low_confidence", conf=0.1),
    Case("i12-nonsense-spaced", "a a a a", "escalate", "low_confidence", conf=0.1),
    Case("i12-nonsense-punct", "???", "escalate", "low_confidence", conf=0.1),
    Case("i12-nonsense-high-conf", "aaa", "continue", None, conf=0.9),
    Case("i12-real-word-agent", "agent", "escalate", "human_request", conf=0.1),
    # Questions about the assistant: the honest answer and the offer (quoted: "am I talking
    # to a bot?"); a request next to one still escalates.
    Case("i12-identity-bot", "am I talking to a bot?", "offer_handoff", None,
         "offers a person", conf=1.0),
    Case("i12-identity-real-person", "Is this a real person?", "offer_handoff", None, conf=1.0),
    Case("i12-identity-human", "are you human?", "offer_handoff", None, conf=1.0),
    Case("i12-identity-ru", "r u a bot lol", "offer_handoff", None, conf=1.0),
    Case("i12-identity-anyone", "hello? is anyone there?", "offer_handoff", None, conf=1.0),
    Case("i12-identity-who", "Who am I chatting with?", "offer_handoff", None, conf=1.0),
    Case("i12-identity-automated", "Just curious, is this chat automated?", "offer_handoff", None,
         conf=1.0),
    Case("i12-identity-or-ai", "Are you a real person or an AI?", "offer_handoff", None, conf=1.0),
    Case("i12-identity-tag", "you're a bot, aren't you?", "offer_handoff", None, conf=1.0),
    Case("i12-identity-then-question", "Is this a bot? How do I add an MX record?", "offer_handoff",
         None, conf=0.92),
    Case("i12-identity-then-request", "Am I talking to a bot? Get me a real person.", "escalate",
         "human_request", "in 'Get me a real person.'"),
    Case("i12-identity-then-keyword", "are you a bot? cancel my account", "escalate", "keyword"),
    Case("i12-identity-low-conf-question", "Is this automated? My DNS zone will not save.",
         "escalate", "low_confidence", conf=0.3),
    Case("i12-identity-human-off", "are you human?", "continue", None, policy="human_off",
         conf=1.0),
    Case("i12-near-bot-attacking", "is it a bot that is attacking my login page?", "continue",
         None),
    Case("i12-near-are-you-able", "are you able to move my site for me?", "continue", None),
    # Long messages: the classifiers read every sentence (quoted: a request for a person or
    # a legal threat in the middle of 1,500 characters).
    Case("i12-long-request", _long("Can I please speak to a real person about this?"),
         "escalate", "human_request", "speak to a real person"),
    Case("i12-long-legal", _long("If our order data is lost I will sue you, and my lawyer will be in touch."),
         "escalate", "intent", "legal_threat", team="legal", priority=2),
    Case("i12-long-request-4000", _long("Honestly I would rather have a human look at it.", 4000),
         "escalate", "human_request"),
    Case("i12-long-security", _long("Yesterday an unknown device signed in to our hosting account and added an admin user."),
         "escalate", "intent", "security_incident", team="security"),
    Case("i12-long-billing", _long("You charged our card twice for the same renewal this month."),
         "escalate", "intent", "billing_dispute", team="billing"),
    Case("i12-long-sarcasm", _long("Oh great, the product import broke again."), "escalate",
         "sentiment", "sarcasm"),
    Case("i12-long-negated-request", _long("I don't need a person for this, a link to the guide is enough."),
         "continue", None),
    Case("i12-long-plain", _long("Where do I change the PHP memory limit?"), "continue", None),
    Case("i12-run-on-request", _RUN_ON * 3 + "can someone from your team call me " + _RUN_ON * 3,
         "escalate", "human_request"),
    Case("i12-long-keyword-middle", _long("We have decided to cancel the account at the end of the month."),
         "escalate", "keyword"),
    # Politeness and hedges are neutral (quoted: "kindly stop wasting my time", and "I'm not
    # sure… no problem if…").
    Case("i12-kindly-stop-wasting", "kindly stop wasting my time", "escalate", "sentiment",
         "phrase 'wasting my time'"),
    Case("i12-stop-wasting", "stop wasting my time", "escalate", "sentiment"),
    Case("i12-kindly-useless", "Kindly note that your answers are useless", "escalate", "sentiment"),
    Case("i12-hedge-not-sure", "I'm not sure if this is the right place to ask, no problem if not, but can I add a second domain?",
         "continue", None),
    Case("i12-hedge-sorry", "Sorry to bother you, I hope you're well. Kindly advise how to add a subdomain.",
         "continue", None),
    Case("i12-hedge-no-rush", "No rush at all, whenever you get a chance: how do I renew SSL?",
         "continue", None),
    Case("i12-hedge-apologies", "Apologies if this is a silly question, but where are my invoices?",
         "continue", None),
    Case("i12-near-not-a-problem", "not a problem", "continue", None),
    Case("i12-near-great-time", "I had a great time, thanks", "continue", None),
    # Sarcasm is frustration (quoted: "Oh great, checkout broke again. Just wonderful.").
    Case("i12-sarcasm-quoted", "Oh great, checkout broke again. Just wonderful.", "escalate",
         "sentiment", "sarcasm"),
    Case("i12-sarcasm-ssl", "Just wonderful, the SSL expired again", "escalate", "sentiment"),
    Case("i12-sarcasm-surprise", "what a surprise, the backup failed again", "escalate", "sentiment"),
    Case("i12-sarcasm-love-how", "I love how the login page crashes every single time", "escalate",
         "sentiment"),
    Case("i12-sarcasm-oh-perfect", "Oh perfect, now the emails are down too", "escalate", "sentiment"),
    Case("i12-sarcasm-said-no-one", "Best support ever, said no one", "escalate", "sentiment"),
    Case("i12-sarcasm-yeah-right", "Yeah right, it is fixed. The page is still blank.", "escalate",
         "sentiment"),
    Case("i12-sarcasm-here-we-go", "Here we go again, the site is offline", "escalate", "sentiment"),
    Case("i12-near-sincere-fixed", "Oh great, that fixed it, thanks!", "continue", None),
    Case("i12-near-sincere-works", "Great, it works again!", "continue", None),
    Case("i12-near-sincere-perfect", "That worked, just perfect!", "continue", None),
    Case("i12-near-sincere-nice", "Oh nice, the new plan looks good", "continue", None),
    # Emoticons are read, never flipped by a negation (quoted: "nothing works :(").
    Case("i12-frown-quoted", "nothing works :(", "continue", None),
    Case("i12-frowns-two", "my mails bounce :( :(", "escalate", "sentiment", "frown x2"),
    Case("i12-frowns-angry", "why is this so slow >:( >:(", "escalate", "sentiment"),
    Case("i12-frown-plus-phrase", "this is pointless and useless :-(", "escalate", "sentiment"),
    Case("i12-near-url", "see https://example.com/help for the error", "continue", None),
    Case("i12-near-label", "ID: 4432, order 55 never arrived", "continue", None),
    Case("i12-near-smile-negated", "nothing broke :)", "continue", None),
    # Negated praise is negative.
    Case("i12-negated-praise-at-all", "not helpful at all", "escalate", "sentiment"),
    Case("i12-negated-praise-far", "honestly this was far from helpful, I give up", "escalate",
         "sentiment"),
    Case("i12-negated-praise-mild", "I wouldn't call this helpful", "continue", None),
    Case("i12-near-not-bad", "not bad at all, thank you", "continue", None),
    # A negated topic fires no keyword, intent or KB entry (quoted: "I don't want to cancel
    # my account, just update my email", against the account-closing entry).
    Case("i12-negated-account-close", "I don't want to cancel my account, just update my email",
         "continue", None, entry=ACCOUNT_CLOSE),
    Case("i12-negated-close-upgrade", "I don't want to close my account, I want to upgrade it",
         "continue", None, entry=ACCOUNT_CLOSE, conf=0.8),
    Case("i12-kb-close-not-negated", "I'm not happy, close my account now", "escalate",
         "kb_entry", "account-close", entry=ACCOUNT_CLOSE, team="billing"),
    Case("i12-kb-close-plain", "please close my hosting account", "escalate", "kb_entry",
         entry=ACCOUNT_CLOSE, team="billing"),
    Case("i12-negated-sue", "I'm not going to sue you, I just need a copy of my invoice",
         "continue", None),
    Case("i12-negated-chargeback", "We won't be filing a chargeback, just tell us when the refund arrives",
         "continue", None),
    Case("i12-negated-hacked", "Nobody hacked us, we just want a security review", "continue",
         None),
    Case("i12-negated-hacked-2", "my account was not hacked, I only forgot my password",
         "continue", None),
    Case("i12-negated-manager", "I never asked to speak to a manager", "continue", None),
    Case("i12-negated-human", "I don't want a human, just the SMTP port", "continue", None),
    Case("i12-negation-ends-at-and", "I don't use this anymore and want to cancel my account",
         "escalate", "keyword"),
    Case("i12-negation-ends-at-clause", "If this isn't sorted today I'm filing a chargeback",
         "escalate", "intent", "billing_dispute", team="billing"),
    # Risk phrases are an intent with team security, not only a keyword.
    Case("i12-security-foreign-login", "Someone in another country logged into our admin account last night",
         "escalate", "intent", "security_incident", team="security", priority=2),
    Case("i12-security-forum", "We just found our customers' emails and addresses posted on a forum",
         "escalate", "intent", "security_incident", team="security"),
    Case("i12-security-dumped", "Our shop database was dumped by an attacker", "escalate", "intent",
         "security_incident", team="security"),
    Case("i12-security-new-admin", "My password was changed by someone else and they added a new admin",
         "escalate", "intent", "security_incident", team="security"),
    Case("i12-security-unknown-device", "I got an alert that an unknown device signed in to my hosting account",
         "escalate", "intent", "security_incident", team="security"),
    # Sign-ins by devices nobody recognises, in words none of the examples use; and
    # ordinary questions about devices, sessions and alerts, which are no incident.
    Case("i12-security-device-notification", "we got a notification about a sign-in from a device we don't recognise",
         "escalate", "intent", "security_incident", team="security"),
    Case("i12-security-device-phone", "there's a login from a phone none of us owns", "escalate",
         "intent", "security_incident", team="security"),
    Case("i12-security-device-ipad", "we had a sign in from an iPad we have never seen before",
         "escalate", "intent", "security_incident", team="security"),
    Case("i12-near-device-remove", "how do I remove an old device from my account", "continue", None),
    Case("i12-near-device-was-me", "the unknown device login was just me on my new laptop", "continue",
         None),
    Case("i12-near-alert-intern", "the new login alert was my intern, sorry for the noise", "continue",
         None),
    Case("i12-near-alert-ssl", "I got an alert that my SSL certificate expires soon", "continue", None),
    Case("i12-near-sessions", "how do I see my active sessions", "continue", None),
    Case("i12-near-alert-email", "can I get an email alert when someone logs in", "continue", None),
    Case("i12-security-mailbox", "Somebody broke into the mailbox of our CEO", "escalate", "intent",
         "security_incident", team="security"),
    Case("i12-security-unauthorized", "there has been unauthorised access to our database",
         "escalate", "intent", "security_incident", team="security"),
    Case("i12-security-low-conf", "our admin panel was accessed by a stranger", "escalate",
         "intent", "security_incident", conf=0.2, team="security"),
    Case("i12-security-keyword-still", "I think we had a data breach", "escalate", "keyword",
         priority=2),
    Case("i12-near-spam-attacks", "how do I stop spam attacks", "continue", None),
    Case("i12-near-team-access", "can a person on my team get access", "continue", None),
    Case("i12-near-accountant", "how do I give my accountant access to our invoices", "continue",
         None),
    Case("i12-near-login-list", "where can I see the list of recent logins", "continue", None),
    Case("i12-near-2fa", "how do I turn on two factor authentication", "continue", None),
    Case("i12-near-encrypt", "do you encrypt customer data at rest", "continue", None),
    Case("i12-near-gdpr-export", "how do I export all customer data for a GDPR request", "continue",
         None),
    Case("i12-near-reset-mail", "my password reset email never arrived", "continue", None),
    Case("i12-near-chat-widget", "the chat agent on our site is not loading", "continue", None),
    Case("i12-near-support-person", "our support person left, how do I change the contact email",
         "continue", None),
]
# fmt: on
CASES += ISSUE12_CASES


def _ctx(case: Case) -> TurnContext:
    answer = None
    if case.entry is not None and case.conf is not None:
        entry_id, title = case.entry
        answer = Answer(
            text="an answer",
            confidence=case.conf,
            entry_id=entry_id,
            entry_escalate=True,
            team="billing",
            candidates=[Candidate(entry_id=entry_id, title=title, score=case.conf)],
        )
    elif case.conf is not None:
        answer = Answer(
            text="an answer",
            confidence=case.conf,
            entry_id="server-hardware" if case.entry_escalate else "dns-basics",
            entry_escalate=case.entry_escalate,
            team="senior" if case.entry_escalate else None,
        )
    return TurnContext(
        text=case.text,
        answer=answer,
        ai_error=case.ai_error,
        history=[PriorTurn(text=t, confidence=c, resolved=r) for t, c, r in case.history],
        explicit_human_request=case.explicit,
        visitor=case.visitor,
        page_url=case.page_url,
        now=case.now,
    )


def test_long_cases_are_as_long_as_the_issue_says() -> None:
    """Issue 12: a request in the middle of 1,500 characters (the limit is 4,000)."""
    lengths = {
        c.id: len(c.text) for c in ISSUE12_CASES if c.id.startswith(("i12-long", "i12-run-on"))
    }
    assert all(1300 <= n <= 4000 for n in lengths.values()), lengths
    assert lengths["i12-long-request-4000"] > 3900


def test_table_is_big_enough() -> None:
    """Issue 8 asked for at least 80 labeled messages and conversations, issue 12 for 80
    more of the kinds its trigger paragraph names."""
    assert len(CASES) >= 80
    assert len(ISSUE12_CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=c.known_miss))
        if c.known_miss
        else c
        for c in CASES
    ],
    ids=[c.id for c in CASES],
)
def test_decision(case: Case) -> None:
    d: Decision = decide(POLICIES[case.policy], _ctx(case))
    assert (d.action, d.trigger) == (case.action, case.trigger), d.detail
    assert case.detail in d.detail
    assert d.escalate == (case.action == "escalate")
    if case.team is not None:
        assert d.team == case.team
    if case.priority is not None:
        assert d.priority == case.priority
    if case.rule is not None:
        assert d.rule == case.rule
    # The original confidence travels with the decision, never a substitute.
    assert d.confidence == case.conf
    kinds = [e.trigger for e in d.evaluations]
    assert kinds == [
        "ai_error",
        "human_request",
        "keyword",
        "kb_entry",
        "intent",
        "sentiment",
        "unresolved_exchanges",
        "low_confidence",
    ]
    if d.trigger not in (None, "rule"):
        assert next(e for e in d.evaluations if e.trigger == d.trigger).fired


def test_unsure_escalate_only_entry_routes_to_no_team() -> None:
    """The kb-entry-unsure case above: the entry's team ("senior", a guess) is not used."""
    case = next(c for c in CASES if c.id == "kb-entry-unsure")
    d = decide(POLICIES[case.policy], _ctx(case))
    assert d.team is None
    kb = next(e for e in d.evaluations if e.trigger == "kb_entry")
    assert not kb.fired and "not sure" in kb.detail
