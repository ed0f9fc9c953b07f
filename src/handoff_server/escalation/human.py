"""Does the visitor ask for a person? A small classifier plus high-precision patterns.

The classifier is scikit-learn logistic regression over TF-IDF word 1–2-grams and
character 2–5-grams (within word boundaries, so typos like "agnet pls" still share most
n-grams), trained on the example phrasings below: requests for a person, and ordinary
support questions that merely mention agents, people or humans ("my user agent string",
"add another person to my account"). The patterns catch the canonical forms ("talk to a
human", a bare "agent"); negated requests ("I don't need a human") do not fire.

A message is read sentence by sentence (:func:`~handoff_server.language.text.sentences`,
the whole of it up to 4,000 characters) and the strongest sentence decides, so a request in
the middle of a long message is seen. Two kinds of sentence never fire: one that only asks
about the assistant ("am I talking to a bot?", :mod:`.identity`; in a longer sentence such
a question is left out before classifying), and one with no word the classifier was
trained on ("a", "aaaa", "asdfgh"): character n-grams alone carry no evidence, and the
classifier's answer to them is only its prior (about 0.6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from handoff_server.escalation.vectors import TfidfFeatures
from handoff_server.language.identity import about_assistant, without_questions_about_assistant
from handoff_server.language.text import (
    ORDINARY_QUESTIONS,
    is_negated,
    sentences,
    stem,
    tokenize,
)

__all__ = ["HumanRequestDetector", "HumanRequestResult", "POSITIVE_EXAMPLES", "NEGATIVE_EXAMPLES"]

POSITIVE_EXAMPLES: tuple[str, ...] = (
    "I want to talk to a human",
    "can I speak to a person",
    "let me talk to someone real",
    "agent please",
    "human please",
    "representative",
    "operator",
    "live agent",
    "real person please",
    "get me a human",
    "connect me with an agent",
    "transfer me to a representative",
    "put me through to customer service",
    "I need to speak with someone from support",
    "can someone from your team call me",
    "I'd like to chat with a support agent",
    "speak to a rep",
    "talk to support staff",
    "can I get a real person on the line",
    "I want a human not a bot",
    "stop the bot and give me a person",
    "no more bots, get me an actual human",
    "please escalate this to a human",
    "escalate to your support team",
    "I need a human being to look at this",
    "let me speak to your supervisor",
    "can a staff member help me",
    "is there anybody I can talk to",
    "I would like to talk to someone",
    "need to talk to somebody",
    "hand me over to an agent",
    "pass me to a person",
    "customer service rep please",
    "give me an operator",
    "get a person on chat",
    "want to speak to a live person",
    "real human",
    "talk to human",
    "speak to agent",
    "can i talk to an employee",
    "contact a real support person",
    "can you have someone contact me",
    "can you have an engineer look at this",
    "can someone from your team check my server",
    "have a technician check the logs for me",
    "please have a person reach out to me",
    "I prefer talking to a person",
    "is a live agent available",
    "I'm done with the chatbot, person please",
    "get me someone who can actually help",
    "I want to talk to your team",
    "can I chat with a technician",
    "I need a support engineer to help me",
    "let me talk to tech support",
    "phone support please",
    "can I call someone",
    "I want to open a ticket with a human",
    "human agent",
    "speak to someone in billing",
    "is there a human there?",
    "is anyone real there",
    "any humans around?",
    "hello? is a person reading this",
    "is there a person I can talk to",
    "is anyone available to help me",
    "can someone help me",
    "human pls",
    "agent plz",
    "quiero hablar con una persona",
    "je veux parler à un humain",
    "ich möchte mit einem Menschen sprechen",
)

NEGATIVE_EXAMPLES: tuple[str, ...] = (
    *ORDINARY_QUESTIONS,
    "what is my user agent string",
    "the monitoring agent on my server uses too much CPU",
    "how do I install the backup agent",
    "can another person access my account",
    "how do I add a person to my team account",
    "my real estate agent needs an email address",
    "is my data stored by a human-readable name",
    "how do I cancel my subscription",
    "what payment methods do you accept",
    "how many people can use one mailbox",
    "can my developer get FTP access",
    "how do I give my web designer access",
    "is there a limit on how many users I can add",
    "I don't need a human, just tell me the nameservers",
    "no need for an agent, how do I point my domain",
    "I do not want to talk to anyone, just answer",
    "thanks, that answered it",
    "great, that worked",
    "thank you so much",
    "ok",
    "hello",
    "hi there",
    "good morning",
    "what time is it in your data center",
    "how do I talk to my database from PHP",
    "can I speak Spanish on my website",
    "my site says 500 internal server error",
    "the site is slow for real users",
    "how do humans read DNS records",
    "does the agent support Windows",
    "what does the operator || mean in bash",
    "is the server a real machine or a VM",
    "how do I talk to the API",
    "is there a human readable log",
    "how do I contact my registrar",
    "where do I find the support documentation",
    "how do I create an email account for my employee",
    "my employee left, how do I remove her mailbox",
    "can I transfer my domain to you",
    "transfer my domain to another registrar",
    "how do I connect to my server over SSH",
    "connect my domain to my website",
    "can I speak to the server with telnet",
    "who is the representative contact on my whois record",
    "how do I set the administrative contact for my domain",
    "is there a phone number field in the contact form builder",
    "how do I call a PHP function from javascript",
    "my backup failed last night",
    "how do I restore a backup",
    "do you have a status page",
    "is there an outage right now",
    "what is the uptime guarantee",
    "someone is hacking my site",
    "someone changed my password",
    "notify me when someone logs in to my account",
    "what happens when somebody signs up on my site",
    "a person on my team lost access",
    "the chatbot widget on my site does not load",
    "how do I embed a chat widget for my customers",
    "my customers can't reach a person on my site",
    "i love your service",
    "this is great",
    "can I upgrade my plan",
    "how much storage do I have",
    "how do I point an A record",
    "why is my SSL certificate not trusted",
    "wordpress login loop",
    "how do i make a cron job",
    "the support article was helpful",
    "what is the support team's opinion on wordpress plugins",
    "is your team hiring",
    "how do I add a team member",
    "I was billed two times for one order",
    "you overcharged me last month",
    "refund me please",
    "send me the invoice again",
    "email me the receipt",
    "show me how to set up DKIM",
    "tell me how to change my nameservers",
    "help me move my wordpress site",
    "give me the IP of my server",
    "I'm going to report this to my bank",
    "my lawyer says the contract is void",
    "someone logged in to my mailbox",
    "you took money from me without asking",
    "can you remind me of my plan limits",
    "can I pay monthly",
    "can I use my own domain",
    "can I get a discount",
    "can I run python apps",
    "can I install a forum",
    "I need help with email",
    "I need help with my SSL",
    "need help moving my site",
    "help with wordpress please",
    "I need some help",
    "is there a way to chat with my visitors on my site",
    "can I have a live chat plugin on wordpress",
    "your support team was great last time",
    "I love your support",
)

# Canonical requests; word stems ("talk", "speak", "human", ...) keep them short.
_PATTERNS = (
    re.compile(
        r"\b(talk|speak|chat|connect|transfer|put|hand|pass|escalat\w*)\w*\s+(me\s+)?(to|with|through to|over to)\s+"
        r"(a|an|some|your|the|one|any)?\s*(real|live|actual|human|support|customer service)?\s*"
        r"(human|person|people|agent|representative|rep|someone|somebody|anyone|operator|staff|"
        r"employee|supervisor|manager|technician)\b",
        re.I,
    ),
    re.compile(
        r"^\W*(an?\s+)?(real|live|actual)?\s*(human|person|agent|representative|rep|operator)"
        r"(\s+(please|pls|plz|now|asap))?\W*$",
        re.I,
    ),
)
_PERSON_WORDS = frozenset(
    stem(w)
    for w in (
        "human",
        "person",
        "people",
        "agent",
        "representative",
        "rep",
        "someone",
        "somebody",
        "anyone",
        "operator",
        "staff",
        "employee",
        "supervisor",
        "manager",
        "technician",
    )
)


@dataclass(frozen=True, slots=True)
class HumanRequestResult:
    """What the strongest sentence of a message says.

    ``probability`` (0–1) from the classifier, the ``pattern`` text that matched (or
    ``None``), ``negated`` when every mention of a person in that sentence is negated,
    ``fired``, the deciding ``sentence`` (``None`` when no sentence was read),
    ``known_words`` false when the sentence had no word the classifier knows (so its
    probability is only the prior), and ``about_assistant`` when some sentence only asked
    about the assistant ("are you a bot?")."""

    probability: float
    pattern: str | None
    negated: bool
    fired: bool
    sentence: str | None = None
    known_words: bool = True
    about_assistant: bool = False


class HumanRequestDetector:
    """Classifies one message as a request for a person.

    ``examples``: operator phrasings added to the built-in positives; ``min_probability``:
    classifier probability (0–1) at or above which it fires. Training takes ~0.1 s and is
    cached per ``examples`` tuple (see :func:`detector_for`).
    """

    def __init__(self, examples: tuple[str, ...] = (), min_probability: float = 0.5) -> None:
        self.min_probability = min_probability
        texts = [*POSITIVE_EXAMPLES, *examples, *NEGATIVE_EXAMPLES]
        labels = np.array(
            [1] * (len(POSITIVE_EXAMPLES) + len(examples)) + [0] * len(NEGATIVE_EXAMPLES)
        )
        self._features = TfidfFeatures()
        x = self._features.fit_transform(texts)
        model = LogisticRegression(C=10.0, class_weight="balanced", max_iter=1000)
        with threadpool_limits(1):  # see intents.py: avoids BLAS oversubscription
            model.fit(x, labels)
        self._coef = model.coef_.ravel()
        self._intercept = float(model.intercept_[0])

    def probability(self, sentence: str) -> float:
        """Estimated probability (0–1) that ``sentence`` asks for a person."""
        idx, val = self._features.vector(sentence)
        return self._sigmoid(idx, val)

    def _sigmoid(self, idx: np.ndarray, val: np.ndarray) -> float:
        z = float(self._coef[idx] @ val) + self._intercept
        return float(1.0 / (1.0 + np.exp(-z)))

    def detect(self, text: str) -> HumanRequestResult:
        """Evaluate every sentence of ``text``; the strongest decides (a firing sentence
        before any other, then the most probable)."""
        best: HumanRequestResult | None = None
        about = False
        for sentence in dict.fromkeys(sentences(text)):
            if about_assistant(sentence):
                about = True
                continue
            res = self._sentence(sentence)
            if best is None or (res.fired, res.known_words, res.probability) > (
                best.fired,
                best.known_words,
                best.probability,
            ):
                best = res
        if best is None:
            return HumanRequestResult(0.0, None, False, False, about_assistant=about)
        return HumanRequestResult(
            best.probability,
            best.pattern,
            best.negated,
            best.fired,
            best.sentence,
            best.known_words,
            about,
        )

    def _sentence(self, original: str) -> HumanRequestResult:
        sentence = without_questions_about_assistant(original)
        tokens = tokenize(sentence)
        mentions = [i for i, t in enumerate(tokens) if t.key in _PERSON_WORDS]
        # A wider window than for keywords: "I do not want to speak to a manager".
        negated = bool(mentions) and all(is_negated(tokens, i, window=6) for i in mentions)
        pattern = None
        if not negated:
            for rx in _PATTERNS:
                m = rx.search(sentence)
                if m:
                    pattern = m.group().strip()
                    break
        idx, val = self._features.vector(sentence)
        prob = self._sigmoid(idx, val)
        known = self._features.knows_a_word(idx)
        fired = not negated and (pattern is not None or (known and prob >= self.min_probability))
        return HumanRequestResult(prob, pattern, negated, fired, original, known)


@lru_cache(maxsize=16)
def detector_for(examples: tuple[str, ...], min_probability: float) -> HumanRequestDetector:
    """A trained :class:`HumanRequestDetector`, shared by every policy with these settings."""
    return HumanRequestDetector(examples, min_probability)
