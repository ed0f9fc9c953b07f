"""Operator intents: which category, if any, does a message belong to?

A multinomial logistic regression (scikit-learn) over TF-IDF features (word 1–2-grams,
character 2–5-grams; see :mod:`.vectors`) is trained on the operator's example phrases,
one class per category, plus an ``other`` class of ordinary support questions
(:data:`BACKGROUND`), with balanced class weights. A message belongs to the most probable
category when its probability (0–1) reaches the category's ``min_probability``; the
explanation quotes the category's example closest to the message (cosine similarity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from handoff_server.escalation.policy import IntentCategory
from handoff_server.escalation.vectors import TfidfFeatures
from handoff_server.language.text import ORDINARY_QUESTIONS, SENTENCE_CHARS, sentences

__all__ = ["BACKGROUND", "IntentMatch", "IntentMatcher"]

BACKGROUND: tuple[str, ...] = (
    *ORDINARY_QUESTIONS,
    "what payment methods do you accept",
    "how many mailboxes can I create",
    "can my developer get FTP access",
    "how do I point an A record",
    "why is my SSL certificate not trusted",
    "wordpress login loop",
    "how do I make a cron job",
    "how do I restore a backup",
    "do you have a status page",
    "what is the uptime guarantee",
    "can I upgrade my plan",
    "how much storage do I have",
    "how do I add a team member",
    "how do I connect to my server over SSH",
    "can I transfer my domain to you",
    "my site says 500 internal server error",
    "how do I install wordpress",
    "how do I change my nameservers",
    "where do I find my invoices",
    "what is my IP address",
    "how do I update my credit card",
    "how do I create a subdomain",
    "is PHP 8 supported",
    "my emails go to spam",
    "how do I add an MX record",
    "thanks, that answered it",
    "hello",
    "ok thanks",
    "can I get a bigger database",
    "how do I enable two factor login",
    "what is my account number",
    "how do I change my billing address",
    "i love your service",
    "how do I give my web developer access",
    "how do I see the login history of my account",
    "how do I make my site more secure",
    "how do I stop spam on my contact form",
    "is my data safe with you",
    "what personal data do you store about me",
    "how do I export my customer list",
    "how do I add a user to my account",
    "I want to cancel my account",
    "how do I close my account",
    "how do I change the email address on my account",
    "update my account details",
    "my account is suspended",
    "I can't log into my account",
    "how do I remove a user from my account",
    "is there an outage",
    "our site went down during the sale",
    "the server is very slow today",
    "our checkout page is broken",
    "how do I add a new device to my account",
    "how do I sign out of all my devices",
    "how do I turn on login alerts",
    "my storage is almost full, I got a warning",
)
"""Ordinary support questions: the ``other`` class every message is compared against."""


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """The most probable category for a message: its ``category``, the ``probability``
    (0–1), the category's ``example`` closest to the message, whether the probability
    reaches ``category.min_probability`` (``matched``), and the ``sentence`` that scored it."""

    category: IntentCategory
    probability: float
    example: str
    matched: bool
    sentence: str = ""


class IntentMatcher:
    """Precompiled classifier for a list of :class:`IntentCategory` (built once per policy;
    training takes ~50 ms for a few categories)."""

    def __init__(self, categories: list[IntentCategory]) -> None:
        self._categories = categories
        self._examples = [(i, ex) for i, c in enumerate(categories) for ex in c.examples]
        self._features = TfidfFeatures()
        if not categories:
            return
        texts = [ex for _, ex in self._examples]
        x = self._features.fit_transform([*texts, *BACKGROUND])
        y = np.array([i for i, _ in self._examples] + [len(categories)] * len(BACKGROUND))
        # One BLAS thread: on a busy 2-core box the default thread pool makes this small
        # fit take seconds instead of ~50 ms.
        with threadpool_limits(1):
            model = LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000).fit(x, y)
        self._coef = model.coef_
        self._intercept = model.intercept_
        self._example_matrix = x[: len(texts)].toarray()
        self._other = len(categories)
        rows = x[: len(texts)].tocsr()
        self._category_words = [
            frozenset(
                col
                for r, (i, _) in enumerate(self._examples)
                if i == k
                for col in self._features.content_words(rows[r].indices)
            )
            for k in range(len(categories))
        ]

    def best(self, text: str) -> IntentMatch | None:
        """The strongest sentence's category (matched or not): a matched escalating intent
        before a matched route-only one before an unmatched one, then the most probable.
        ``None`` without categories, or when in every sentence ``other`` is most probable
        or no word seen in training occurs."""
        if not self._categories:
            return None
        readings = sentences(text)
        if len(readings) > 1 and len(text) <= SENTENCE_CHARS:
            # A short message is also read whole: "I will sue you if my data isn't
            # returned. My lawyer is in cc." says more than either sentence.
            readings.append(text.strip())
        found: IntentMatch | None = None
        for sentence in dict.fromkeys(readings):
            match = self._sentence(sentence)
            if match is not None and (found is None or _strength(match) > _strength(found)):
                found = match
        return found

    def _sentence(self, sentence: str) -> IntentMatch | None:
        idx, val = self._features.vector(sentence)
        if not self._features.knows_a_word(idx):
            return None
        z = self._coef[:, idx] @ val + self._intercept
        p = np.exp(z - z.max())
        p /= p.sum()
        k = int(p.argmax())
        # A category needs a content word in common with its examples: "Most of our orders
        # come in on weekday evenings" shares only "our", "of", "on" with breach reports.
        if k == self._other or not self._features.content_words(idx) & self._category_words[k]:
            return None
        category = self._categories[k]
        sims = self._example_matrix[:, idx] @ val
        rows = [r for r, (i, _) in enumerate(self._examples) if i == k]
        example = self._examples[max(rows, key=lambda r: sims[r])][1]
        prob = float(p[k])
        return IntentMatch(category, prob, example, prob >= category.min_probability, sentence)


def _strength(m: IntentMatch) -> tuple[bool, bool, float]:
    return (m.matched, m.matched and m.category.escalate, m.probability)
