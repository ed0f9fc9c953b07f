"""The question inside a visitor's message: greetings, thanks, apologies, polite
preambles, signatures and pasted log lines taken off before the KB match.

Visitors wrap questions ("Hi there! Could you please tell me how to set up my email on
my iPhone? Thank you"). To a bag-of-n-grams classifier every wrapper word dilutes the
question's vector and counts as a word the KB never uses, and the calibrated confidence
fell from 0.89 to 0.23 on that message (issue 12). :func:`question_text` keeps what
carries the question:

1. **Log lines** (timestamps, log levels, stack traces, access-log and shell output) are
   dropped when other text remains; a message made only of a log is kept whole.
2. **Signatures**: from a sign-off line ("Best regards", "Thanks,", "Sent from my
   iPhone", "--") to the end, when what follows is short lines without a question.
3. **Courtesy**: a sentence or comma clause made only of courtesy words ("Thank you",
   "sorry to bother you", "hope you're well") is dropped; polite preambles ("could you
   please tell me", "I was wondering if", "quick question:") and "please"/"kindly" are
   taken off a clause's start.

Closed vocabularies and patterns, so nothing that names a topic is removed; if nothing
would remain, the message is returned unchanged. Pure function, no state.
"""

from __future__ import annotations

import re

__all__ = ["question_text"]

_LOG_LINE = re.compile(
    r"""
    \d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}            # ISO timestamp
    | \[\d{1,2}/\w{3}/\d{4}:\d{2}:\d{2}            # access-log timestamp
    | ^\s*\w{3}\s+\d{1,2}\s+\d{2}:\d{2}:\d{2}\b    # syslog timestamp
    | ^\s*[\[(]?(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|SEVERE)
      [\])]?[\s:]                                  # log level first (upper case)
    | ^\s*Traceback\s\(most\srecent\scall\slast\)
    | ^\s+File\s"[^"]+",\sline\s\d+
    | ^\s+at\s[\w.$<>]+\(                          # Java/JS stack frame
    | ^\s*[\w.]+(?:Error|Exception):\s             # exception line
    | ^\s*[$>#]\s\S                                # a shell prompt and command
    | ^\s*\d+\sbytes\sfrom\s
    | ^\s*PING\s\S
    """,
    re.VERBOSE,
)
_SIGN_OFF = re.compile(
    r"""^\s*(?:
        (?:best|kind|warm|warmest|many)?\s*(?:regards|wishes|thanks)(?:\s+again)?
      | thanks?(?:\s+(?:you|again|in\s+advance|a\s+lot|so\s+much))*
      | cheers | sincerely(?:\s+yours)? | yours(?:\s+(?:sincerely|truly))?
      | best | thx | ty
      | sent\s+from\s+my\s+\w+.*
      | --+
    )[\s,.!]*$""",
    re.VERBOSE | re.IGNORECASE,
)
_COURTESY_WORDS = frozenset(
    """
    hi hello hey hiya heya howdy greetings morning afternoon evening good dear there team
    all everyone folks guys support people sir madam
    thanks thank thx ty cheers appreciate appreciated appreciation grateful
    many much so very lot lots a in advance again for your you you're youre your's you've
    sorry apologies apologise apologize apology excuse me bother bothering trouble
    disturb disturbing
    hope hoping well doing fine great good nice lovely wonderful day week weekend
    kind regards best wishes warm sincerely
    please kindly help helping assistance
    it this that is are was be would really truly i i'd id i'm im am we we'd
    the an and to of if as for with in advance question silly stupid dumb quick asked
    before already ok okay have
    """.split()
)
_PREAMBLE = re.compile(
    r"""^(?:
        (?:hi|hello|hey|hiya|greetings|dear|good\s(?:morning|afternoon|evening|day))
          (?:\s(?:there|team|all|everyone|folks|guys|support|again))?[\s,!.:-]+
      | (?:but|and|so|also|well|um|ok|okay|anyway|now)\b[\s,]*
      | (?:please|kindly|pls|plz)\b[\s,]*
      | quick\squestion[\s:,-]*
      | (?:unrelated|on\sanother\snote|side\snote|btw|by\sthe\sway)\b[\s,:-]*(?:but\s)?
      | (?:sorry|apologies)\s(?:to\sbother\syou|for\sthe\s(?:trouble|bother))[\s,]*(?:but\s)?
      | (?:i\s(?:was|am)|i'm|im)\s(?:just\s)?wondering\s(?:if|whether)?\s*
        (?:you\s(?:could|can)\s(?:please\s)?(?:help\sme|tell\sme|let\sme\sknow)\s*)?
      | (?:could|can|would|will)\s(?:you|u|someone|anyone)\s(?:please\s|kindly\s|possibly\s)?
        (?:help\sme(?:\sunderstand|\sfigure\sout)?|tell\sme|explain(?:\sto\sme)?|let\sme\sknow
          |advise(?:\sme)?(?:\son)?|show\sme)\s*
      | would\syou\sbe\sso\skind\sas\sto\s(?:tell\sme|explain|let\sme\sknow)\s*
      | (?:i\swould|i'd)\s(?:be\s(?:very\s)?grateful|appreciate\sit|like\sto\sknow|love\sto\sknow)
        \s*(?:if\syou\scould\s(?:please\s)?(?:explain|tell\sme|let\sme\sknow)\s*)?
      | (?:i\s(?:have|had)|i've\sgot|got)\sa\s(?:quick\s)?question[\s:,-]*
    )""",
    re.VERBOSE | re.IGNORECASE,
)
_PASTE_INTRO = re.compile(
    r"^(?:here(?:'s|\sis|\sare)|this\sis|that's|below\sis|see)\b[^.?!]{0,40}:$", re.IGNORECASE
)
"""A sentence that only introduces pasted output ("here is what I see:")."""
_SENTENCE = re.compile(r"(?<=[.!?…])\s+|\n+")
_CLAUSE = re.compile(r"\s*,\s*")
_WORD = re.compile(r"[a-z']+")


def _is_log(line: str) -> bool:
    if _LOG_LINE.search(line):
        return True
    # Machine output: few letters among the non-space characters.
    chars = [c for c in line if not c.isspace()]
    return len(chars) >= 20 and sum(c.isalpha() for c in chars) / len(chars) < 0.5


def _without_logs(lines: list[str]) -> list[str]:
    kept, in_trace = [], False
    for line in lines:
        if _is_log(line):
            in_trace = "Traceback" in line or line.lstrip().startswith("File ")
            continue
        # The source line a Python traceback quotes under each frame is indented.
        if in_trace and line.startswith((" ", "\t")):
            continue
        in_trace = False
        kept.append(line)
    return kept if any(_words(x) for x in kept) else lines


def _without_signature(lines: list[str]) -> list[str]:
    for i, line in enumerate(lines):
        if i and _SIGN_OFF.match(line):
            rest = [x for x in lines[i + 1 :] if x.strip()]
            if all(len(x.split()) <= 10 and "?" not in x for x in rest):
                return lines[:i]
    return lines


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def _is_courtesy(text: str) -> bool:
    words = _words(text)
    return all(w.strip("'") in _COURTESY_WORDS for w in words)


def _clause(text: str) -> str:
    """``text`` without polite preambles at its start (repeatedly)."""
    while True:
        stripped = _PREAMBLE.sub("", text, count=1).lstrip(" ,:;-")
        if stripped == text:
            return text
        text = stripped


def _sentence(text: str) -> str:
    if _PASTE_INTRO.match(text):
        return ""
    clauses = [_clause(c) for c in _CLAUSE.split(text) if not _is_courtesy(c)]
    return ", ".join(c for c in clauses if c)


def question_text(message: str) -> str:
    """``message`` without its padding (see the module docstring); ``message`` itself when
    nothing else would remain. Always a ``str``, never longer than ``message``."""
    lines = _without_signature(_without_logs(message.splitlines()))
    parts = []
    for line in lines:
        for sentence in _SENTENCE.split(line.strip()):
            kept = _sentence(sentence.strip())
            if _words(kept):
                parts.append(kept)
    out = " ".join(parts).strip()
    return out if _words(out) else message
