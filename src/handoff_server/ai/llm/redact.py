"""Personal data out of text before it leaves the machine.

:func:`redact` replaces email addresses, phone numbers and payment card numbers with
placeholders (``[email]``, ``[phone]``, ``[card]``):

- email: a pragmatic ``local@domain.tld`` pattern (not RFC 5322's full grammar, which
  also accepts strings nobody types in a chat);
- phone: ``phonenumbers.PhoneNumberMatcher`` (Google's libphonenumber port) at leniency
  ``VALID``: a number is replaced when it is a valid number of its region (``region`` for
  numbers written without ``+``);
- card: 13 to 19 digits, spaces or dashes between them allowed, that pass the Luhn check
  (ISO/IEC 7812-1 annex B), so order numbers and dates are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers

from handoff_server.ai.llm.settings import PIIKind

__all__ = ["luhn_valid", "redact"]

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")


def luhn_valid(digits: str) -> bool:
    """Whether the digit string ``digits`` passes the Luhn (mod 10) check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _cards(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group())
        return "[card]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else m.group()

    return _CARD.sub(sub, text)


def _phones(text: str, region: str) -> str:
    matches = list(
        phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
    )
    for m in reversed(matches):
        text = text[: m.start] + "[phone]" + text[m.end :]
    return text


def redact(text: str, kinds: Iterable[PIIKind], region: str = "US") -> tuple[str, list[str]]:
    """``text`` with the personal data of ``kinds`` replaced, and the kinds found (each
    once, in the order applied: card, email, phone; cards first so a card number is not
    read as a phone number)."""
    wanted = set(kinds)
    found: list[str] = []
    steps = (
        ("card", _cards),
        ("email", lambda t: _EMAIL.sub("[email]", t)),
        ("phone", lambda t: _phones(t, region)),
    )
    for kind, step in steps:
        if kind in wanted:
            after = step(text)
            if after != text:
                found.append(kind)
            text = after
    return text, found
