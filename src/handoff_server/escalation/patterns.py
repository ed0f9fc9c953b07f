"""A policy's regular expressions, matched in bounded time against text a visitor wrote.

An operator writes the pattern (a rule's ``page_url.regex`` or ``visitor.matches``, a
page glob); the visitor writes the text it is searched in (their page URL, up to 2,000
characters; a form field, up to 500). With Python's :mod:`re` a pattern such as
``^(a|a)+$`` backtracks exponentially on ``"a" * 40 + "!"``: one turn then held the
event loop (and, :mod:`re` holding the GIL, every thread) for minutes, and a ``what_if``
over a history holding such a value did the same.

Patterns are compiled and matched with the `regex <https://pypi.org/project/regex/>`_
module (already a dependency; ``VERSION0``, :mod:`re`'s syntax): it avoids many of these
blow-ups outright, releases the GIL while it matches a ``str``, and stops a match after
:data:`MATCH_TIMEOUT` seconds. A match that runs out of time counts as **no match** (a
condition on the text is then false) and is logged, at most once a minute per pattern,
with the pattern, never the visitor's text.
"""

from __future__ import annotations

import fnmatch
import logging
import time
from functools import lru_cache

import regex

__all__ = ["MATCH_TIMEOUT", "Pattern", "check_pattern", "glob_pattern", "pattern", "searches"]

log = logging.getLogger(__name__)

MATCH_TIMEOUT = 0.02
"""Seconds one search of one pattern may take before it counts as no match."""

_WARN_EVERY = 60.0
"""Seconds between two warnings about the same pattern running out of time."""

Pattern = regex.Pattern[str]
"""A compiled pattern of this module."""

_warned: dict[str, float] = {}


def check_pattern(source: str) -> None:
    """Raise ``ValueError`` (with the pattern and the reason) unless ``source`` compiles
    as a pattern of this module."""
    try:
        pattern(source)
    except regex.error as exc:
        raise ValueError(f"bad regular expression {source!r}: {exc}") from None


@lru_cache(maxsize=256)
def pattern(source: str) -> Pattern:
    """``source`` compiled (cached). Raises ``regex.error`` for a bad pattern."""
    return regex.compile(source, regex.VERSION0)


def glob_pattern(glob: str) -> Pattern:
    """A page glob (``*`` any text, case-insensitive: matched against casefolded text)
    as a pattern matching the whole text."""
    return pattern(fnmatch.translate(glob.casefold()))


def searches(compiled: Pattern, text: str, *, whole: bool = False) -> bool:
    """Whether ``compiled`` is found in ``text`` (``whole``: matches from the start, as
    :meth:`re.Pattern.match`), within :data:`MATCH_TIMEOUT` seconds; past that, False
    (logged, see the module's docstring)."""
    try:
        if whole:
            return compiled.match(text, timeout=MATCH_TIMEOUT) is not None
        return compiled.search(text, timeout=MATCH_TIMEOUT) is not None
    except TimeoutError:
        _warn(compiled.pattern)
        return False


def _warn(source: str) -> None:
    now = time.monotonic()
    if now - _warned.get(source, -_WARN_EVERY) < _WARN_EVERY:
        return
    if len(_warned) > 1024:
        _warned.clear()
    _warned[source] = now
    # The pattern is the operator's: shown with %r, never as a format string; the
    # visitor's text is not logged.
    log.warning(
        "policy pattern %r took over %gs on a visitor's text: counted as no match",
        source,
        MATCH_TIMEOUT,
    )
