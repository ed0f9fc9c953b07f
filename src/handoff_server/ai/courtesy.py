"""Courtesy turns ("thanks, that worked", "hello", "bye") and questions about the assistant.

A KB answers questions; a visitor who only says thanks or hello asked none, and handing
that to a person (the KB match is low, so confidence is low) wastes an agent's time. A
message made only of courtesy words gets a short reply with confidence 1.0; anything with
one word more ("hi, my site is down") goes to the answerer as usual.

A visitor who only asks who answers ("am I talking to a bot?", "are you human?",
:mod:`handoff_server.language.identity`) gets the honest answer: an AI assistant, with a
person one step away. The policy then offers the handoff (``decide`` returns
``offer_handoff``), and the conversation goes to a person only if the visitor says so.

The checks are deliberately closed-vocabulary: every word of the message must be a
courtesy word (at most :data:`MAX_WORDS`), or every sentence a question about the assistant
or a courtesy, so neither can swallow a real question.
"""

from __future__ import annotations

import re

from handoff_server.ai.base import Answer
from handoff_server.language.identity import about_assistant
from handoff_server.language.text import sentences

__all__ = ["IDENTITY_REPLY", "MAX_WORDS", "courtesy_answer", "courtesy_kind"]

MAX_WORDS = 12

_THANKS = {"thanks", "thank", "thx", "ty", "cheers", "thankyou", "appreciated", "appreciate"}
_HELLO = {"hi", "hello", "hey", "hiya", "morning", "afternoon", "evening", "greetings"}
_BYE = {"bye", "goodbye", "cya"}
_FILLER = set(
    """you so much very a lot again for the your help helping that this it worked works
    helped fixed solved did sorted all now perfect perfectly great ok okay awesome brilliant
    cool nice excellent wonderful amazing good guys are you're youre is was there everyone
    team many have day i a question quick just wanted to say
    """.split()
)

_REPLIES = {
    "thanks": "You're welcome, glad that helped! If anything else comes up, just ask here.",
    "hello": (
        "Hi! Ask me anything about your domains, DNS, email, SSL, billing, backups or your "
        "website, or ask for a person at any time."
    ),
    "bye": "Thanks for chatting. Have a good day!",
}

IDENTITY_REPLY = (
    "I'm an AI assistant, not a person: I answer from this site's help articles. A person "
    "from the support team is one step away whenever you want one."
)
"""The honest answer to "am I talking to a bot?"."""


def courtesy_kind(text: str) -> str | None:
    """What small talk ``text`` is: ``"identity"`` when it only asks whether the visitor
    talks to a bot (with or without a greeting or thanks), ``"thanks"``, ``"hello"`` or
    ``"bye"`` when it is only that, ``None`` for anything else (a question to answer)."""
    parts = sentences(text)
    asks = [about_assistant(p) for p in parts]
    if any(asks) and all(a or _kind(p) is not None for a, p in zip(asks, parts, strict=True)):
        return "identity"
    return _kind(text)


def courtesy_answer(text: str) -> Answer | None:
    """An :class:`Answer` (confidence 1.0, no KB source) when ``text`` is only a thanks,
    a greeting or a goodbye, or only asks whether the visitor talks to a bot (with or
    without a greeting); ``None`` otherwise (see :func:`courtesy_kind`)."""
    kind = courtesy_kind(text)
    if kind is None:
        return None
    if kind == "identity":
        return Answer(
            text=IDENTITY_REPLY,
            confidence=1.0,
            analysis="Question about the assistant: answered that it is an AI; a person is offered.",
        )
    return Answer(
        text=_REPLIES[kind],
        confidence=1.0,
        analysis=f"Courtesy message ({kind}); no question to answer.",
    )


def _kind(text: str) -> str | None:
    """``thanks``, ``hello`` or ``bye`` when every word of ``text`` is a courtesy word."""
    words = re.findall(r"[a-z']+", text.lower())
    if not words or len(words) > MAX_WORDS:
        return None
    kind = None
    for word in words:
        word = word.strip("'")
        if word in _THANKS:
            kind = kind or "thanks"
        elif word in _BYE:
            kind = "bye" if kind in (None, "hello") else kind
        elif word in _HELLO:
            kind = kind or "hello"
        elif word not in _FILLER:
            return None
    return kind
