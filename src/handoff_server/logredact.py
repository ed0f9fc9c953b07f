"""Secrets and visitor data never reach the logs, at any level.

At DEBUG, websockets logs every handshake header (``Authorization: Bearer ...``, the
request line with ``?token=...``) and every frame (an ``auth`` frame's token, a
``welcome``'s resume token, a visitor's email); httpx logs webhook URLs. A
:class:`RedactingFilter` rewrites each record before any handler writes it: the message
with its arguments filled in, and the traceback text.

What is replaced by ``[redacted]``: bearer and ``hnd_`` tokens, ``whsec_`` webhook
secrets, ``token=`` query parameters, the values of JSON or ``key=value`` fields named
``token``, ``resume_token``, ``secret``, ``authorization``, ``password``, ``email`` and
``phone``, the path of a Slack incoming-webhook URL and of any URL in httpx's
``HTTP Request:`` line (a webhook endpoint's path may be its secret), and anything shaped
like an email address.

:func:`install` puts the filter on the loggers that can carry them (``handoff_server``,
``handoff_cli``, ``websockets``, ``httpx``, ``httpcore`` and their children, which
:mod:`logging` does not filter through a parent's filters) and on every handler of the
root logger (which sees every propagated record).
"""

from __future__ import annotations

import logging
import re

__all__ = ["LOGGERS", "REDACTED", "RedactingFilter", "install", "redact"]

REDACTED = "[redacted]"

LOGGERS = (
    "handoff_server",
    "handoff_cli",
    "websockets",
    "websockets.server",
    "websockets.client",
    "httpx",
    "httpcore",
)
"""Loggers that may log a secret or visitor data: the filter goes on each."""

_KEYS = r"(?:token|resume_token|secret|authorization|password|email|phone)"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # JSON fields, also as escaped inside a repr: "email": "a@b.c" / \"email\": \"...\"
    (
        re.compile(
            r'(\\?["\']' + _KEYS + r'\\?["\']\s*:\s*\\?["\'])((?:[^"\'\\]|\\(?!["\']))*)', re.I
        ),
        r"\1" + REDACTED,
    ),
    (re.compile(r"(\bBearer\s+)\S+", re.I), r"\1" + REDACTED),
    (re.compile(r"(\bAuthorization:\s*)\S+(?:\s+\S+)?", re.I), r"\1" + REDACTED),
    (re.compile(r"([?&;]" + _KEYS + r"=)[^&\s'\"]*", re.I), r"\1" + REDACTED),
    (re.compile(r"\b(hnd|whsec)_[A-Za-z0-9_+/=-]+"), r"\1_" + REDACTED),
    # A Slack incoming-webhook URL's path is its secret.
    (re.compile(r"(hooks\.slack\.com/services/)[^\s'\"]+"), r"\1" + REDACTED),
    # httpx's line for every webhook try: any endpoint's path may be its secret (Slack
    # behind a proxy, Discord's /api/webhooks/<id>/<token>, Teams): method and host
    # are kept.
    (
        re.compile(r"(HTTP Request: [A-Z]+ [A-Za-z][A-Za-z0-9+.-]*://[^/\s'\"]+/)[^\s'\"]+"),
        r"\1" + REDACTED,
    ),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), REDACTED),
)


def redact(text: str) -> str:
    """``text`` with every secret and email address replaced (see the module)."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (arguments filled in) and traceback text through
    :func:`redact`; never drops a record. Applying it twice changes nothing more."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always ``True``."""
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what logging would print
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._redacted = True
        return True


_FILTER = RedactingFilter()


def install() -> RedactingFilter:
    """Put the one :class:`RedactingFilter` on :data:`LOGGERS` and on every handler of
    the root logger (call after configuring logging; calling again adds nothing twice).
    Returns the filter."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    return _FILTER
