"""Questions about the assistant itself: "am I talking to a bot?", "are you human?".

Such a question is not a request for a person: the visitor wants to know who answers. It
gets an honest reply (an AI assistant, with a person one step away,
:mod:`handoff_server.ai.courtesy`) and the offer of a person; the conversation is handed
off only if the visitor then asks (``decide`` returns ``offer_handoff``).

A sentence counts only when it is *nothing but* such a question, give or take fillers
("hi", "just curious", "honestly", "lol"): "is it a bot that is attacking my site?" and
"am I talking to a bot? get me a human" are read as usual, without the question about the
assistant (:func:`without_questions_about_assistant`), which is no evidence of a request.
"""

from __future__ import annotations

import re

__all__ = ["about_assistant", "asks_about_assistant", "without_questions_about_assistant"]

_WHO = (
    r"(?:(?:real|actual|live|genuine|human|automated|virtual)\s+)?"
    r"(?:bot|robot|chat\s?bot|machine|computer|program|ai|a\.i\.|human(?:\s+being)?|person|"
    r"people|someone\s+real|(?:live\s+|real\s+)?agent|assistant)s?"
)
_ART = r"(?:(?:a|an|just\s+a|some)\s+)?"

_QUESTIONS = re.compile(
    "|".join(
        (
            # am I talking to a bot / are we chatting with a real person
            rf"\b(?:am\s+i|are\s+we|i'?m|im|do\s+i)\s+(?:talking|chatting|speaking|texting|writing|"
            rf"messaging|talk|chat|speak)\s+(?:to|with)\s+{_ART}{_WHO}\b",
            # who am I talking to / what am I chatting with
            r"\b(?:who|what)\s+(?:am\s+i|are\s+we)\s+(?:talking|chatting|speaking|texting|writing)"
            r"\s+(?:to|with)\b",
            # are you a bot / r u human / are you real / you're a bot
            rf"\b(?:are|r)\s+(?:you|u|ya)\s+{_ART}(?:{_WHO}|real|for\s+real|automated)\b",
            rf"\b(?:you'?re|you\s+are|ur)\s+{_ART}(?:{_WHO}|real)\b",
            rf"^\W*(?:you|u)\s+{_ART}(?:real\s+)?(?:bot|robot|human|person|ai)\b",
            # is this a real person / is this automated / is it a bot
            rf"\bis\s+(?:this|it|that)\s+(?:chat\s+|conversation\s+)?{_ART}(?:{_WHO}|automated|"
            rf"automatic|live\s+chat)\b",
            # is there a human there / is anyone reading this / is someone real there
            r"\bis\s+(?:there\s+(?:(?:a|an|any)\s+)?(?:(?:real|actual|live)\s+)?(?:human|person|"
            r"people|anyone|anybody|someone|somebody)|anyone|anybody|someone|somebody)\s+"
            r"(?:(?:real|actual|live)\s+)?(?:there|here|reading|typing|"
            r"on\s+the\s+other\s+(?:end|side)|behind\s+(?:this|the\s+screen))\b",
            r"\bis\s+(?:a|an|any)\s+(?:real\s+)?(?:human|person)\s+(?:reading|there|here|typing)\b",
            r"^\W*any\s+(?:real\s+)?(?:humans?|people|persons?)\s+(?:around|here|there|reading)\b",
            # human or bot? / bot or person?
            r"\b(?:human|person|people|real)\s+or\s+(?:a\s+|an\s+)?(?:bot|robot|machine|ai|computer)\b",
            r"\b(?:bot|robot|machine|ai|computer)\s+or\s+(?:a\s+|an\s+)?(?:real\s+)?(?:human|person)\b",
            # who are you / what are you / bot?
            r"^\W*(?:who|what)\s+are\s+(?:you|u)\b",
            r"^\W*(?:a\s+)?(?:bot|robot|ai)\s*\?",
        )
    ),
    re.I,
)

# Every question above names one of these words; a sentence without any is not searched.
_HINT = re.compile(
    r"\b(?:bot|robot|chat\s?bot|machine|computer|program|ai|a\.i|human|humans|person|persons|"
    r"people|agent|assistant|real|automated|automatic|anyone|anybody|someone|somebody|who|"
    r"what|chat)\b",
    re.I,
)

_FILLERS = frozenset(
    """hi hello hey hiya yo ok okay so just wait um uh hmm lol quick question curious curiosity
    honestly seriously really sorry excuse me i im i'm wonder wondering was am or and please by
    the way btw out of actually still there here anyone tell can you be honest truthfully truth
    right now aren't arent you a an bot robot human person machine ai real actual live being
    chatbot or not this""".split()
)


def about_assistant(sentence: str) -> bool:
    """Whether ``sentence`` is only a question about the assistant ("are you a bot?"),
    fillers aside; ``False`` when it also says anything else."""
    if not _HINT.search(sentence):
        return False
    rest, found = _QUESTIONS.subn(" ", sentence)
    if not found:
        return False
    return all(w.strip("'") in _FILLERS for w in re.findall(r"[a-z']+", rest.lower()))


def asks_about_assistant(sentences: list[str]) -> bool:
    """Whether any of ``sentences`` (see :func:`.text.sentences`) is only a question about
    the assistant."""
    return any(about_assistant(s) for s in sentences)


def without_questions_about_assistant(sentence: str) -> str:
    """``sentence`` with its questions about the assistant blanked out ("am I talking to a
    bot, because I need help with DNS" → ", because I need help with DNS")."""
    return _QUESTIONS.sub(" ", sentence) if _HINT.search(sentence) else sentence
