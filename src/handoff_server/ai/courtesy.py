"""Courtesy turns: "thanks, that worked", "hello", "bye".

A KB answers questions; a visitor who only says thanks or hello asked none, and handing
that to a person (the KB match is low, so confidence is low) wastes an agent's time. A
message made only of courtesy words gets a short reply with confidence 1.0; anything with
one word more ("hi, my site is down") goes to the answerer as usual.

The check is deliberately closed-vocabulary: every word of the message must be a courtesy
word (at most :data:`MAX_WORDS`), so it cannot swallow a real question.
"""

from __future__ import annotations

import re

from handoff_server.ai.base import Answer

__all__ = ["MAX_WORDS", "courtesy_answer"]

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


def courtesy_answer(text: str) -> Answer | None:
    """An :class:`Answer` (confidence 1.0, no KB source) when ``text`` is only a thanks,
    a greeting or a goodbye; ``None`` otherwise."""
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
    if kind is None:
        return None
    return Answer(
        text=_REPLIES[kind],
        confidence=1.0,
        analysis=f"Courtesy message ({kind}); no question to answer.",
    )
