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

One search's limit does not bound a turn: a policy holding 300 such conditions took 6.6 s
a turn (every visitor waiting), 1,000 took 21 s. So the searches of one judging share
:data:`TURN_BUDGET` (:func:`turn_budget`, which :func:`~.judge.judge` opens): once it is
spent, the turn's remaining searches count as no match, logged as above. And a pattern
that ran out of time on a text is remembered (the last :data:`_MEMO_SIZE` such pairs),
so the same text, sent again or replayed by a what-if, costs nothing the next time.
"""

from __future__ import annotations

import fnmatch
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache

import regex

__all__ = [
    "MATCH_TIMEOUT",
    "TURN_BUDGET",
    "Pattern",
    "check_pattern",
    "glob_pattern",
    "pattern",
    "searches",
    "turn_budget",
]

log = logging.getLogger(__name__)

MATCH_TIMEOUT = 0.02
"""Seconds one search of one pattern may take before it counts as no match."""

TURN_BUDGET = 0.05
"""Seconds all the searches of one judging (one turn) may take together."""

_MEMO_SIZE = 1024
"""(Pattern, text) pairs remembered as having run out of time."""

_WARN_EVERY = 60.0
"""Seconds between two warnings about the same pattern running out of time."""

Pattern = regex.Pattern[str]
"""A compiled pattern of this module."""

_warned: dict[str, float] = {}
_timed_out: OrderedDict[tuple[str, bool, str], None] = OrderedDict()
_deadline: ContextVar[float | None] = ContextVar("pattern_deadline", default=None)


@contextmanager
def turn_budget(seconds: float = TURN_BUDGET) -> Iterator[None]:
    """Within this block, :func:`searches` together take at most ``seconds`` (in this
    thread or task; an enclosing budget's deadline is kept if it is sooner)."""
    deadline = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        _deadline.reset(token)


def check_pattern(source: str) -> None:
    """Raise ``ValueError`` (with the pattern and the reason) unless ``source`` compiles
    as a pattern of this module."""
    try:
        pattern(source)
    except regex.error as exc:
        raise ValueError(f"bad regular expression {source!r}: {exc}") from None


@lru_cache(maxsize=2048)
def pattern(source: str) -> Pattern:
    """``source`` compiled (cached). Raises ``regex.error`` for a bad pattern."""
    return regex.compile(source, regex.VERSION0)


def glob_pattern(glob: str) -> Pattern:
    """A page glob (``*`` any text, case-insensitive: matched against casefolded text)
    as a pattern matching the whole text."""
    return pattern(fnmatch.translate(glob.casefold()))


def searches(compiled: Pattern, text: str, *, whole: bool = False) -> bool:
    """Whether ``compiled`` is found in ``text`` (``whole``: matches from the start, as
    :meth:`re.Pattern.match`), within :data:`MATCH_TIMEOUT` seconds and what is left of
    the :func:`turn_budget`; past that, False (logged, see the module's docstring)."""
    key = (compiled.pattern, whole, text)
    if key in _timed_out:
        return False
    timeout = MATCH_TIMEOUT
    deadline = _deadline.get()
    if deadline is not None:
        timeout = min(timeout, deadline - time.monotonic())
        if timeout <= 0:
            _warn(compiled.pattern)
            return False
    try:
        if whole:
            return compiled.match(text, timeout=timeout) is not None
        return compiled.search(text, timeout=timeout) is not None
    except TimeoutError:
        if timeout >= MATCH_TIMEOUT:  # its own limit, not the turn's leftovers
            _timed_out[key] = None
            if len(_timed_out) > _MEMO_SIZE:
                _timed_out.popitem(last=False)
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
