"""The wait-time estimate: how long until a person is with a queued visitor.

The model (``docs/routing.md``, with its reasoning): when all of a team's ``S`` slots
(concurrent conversations its online agents can hold) are busy and each conversation
takes ``H`` seconds of an agent on average, a slot frees every ``H / S`` seconds, and the
visitor with ``k`` conversations to be served before a slot is theirs waits about

    W = k × H / S,   k = ahead − free + 1

where ``ahead`` counts the live conversations before theirs in the team's line and
``free`` the slots free now (``W = 0`` when ``k ≤ 0``: a slot is free for them now). This
is the expected wait of the M/M/c queue given the number ahead (each of the ``S`` busy
slots frees at rate ``1/H``, so ``k`` departures take ``k·H/S`` on average; e.g.
M. Harchol-Balter, *Performance Modeling and Design of Computer Systems*, 2013,
ch. 14), without Erlang C's steady-state assumptions: the queue we see is the one we
estimate for. ``H`` is the median of recent handling times (:class:`HandlingTimes`),
bounded; ``S`` is the free slots plus the team's assigned conversations, at least one per
online agent. Nobody online: no estimate (``None``).

Figures are told honestly rounded (:func:`rounded`): "under a minute", "about N
minutes" (to the minute up to 10, to 5 minutes up to 30), ranges of a quarter or half
hour past 30 minutes, "more than two hours" past that.

Time passing. The formula reads the line, not the clock: while the line stands still it
gives the same figure on every refresh, so a visitor told "under a minute" (a free slot
of a pull team's agent who does not claim, say) or "about 4 minutes" (a conversation
ahead that runs long) read it for ever. Once a visitor has waited past the estimate told
(:func:`overrun`: its upper end), the model is evidently missing something for them, and
from then until a person comes their estimate is *late* (:func:`estimate_wait`'s
``waited``): never less than the time they have already waited, and the sentence says
it is taking longer than expected and how long they have waited. With nothing else
known, a wait that has lasted ``t`` is as likely to end within another ``t`` as after
it: the median of what remains is ``t`` (J. R. Gott, "Implications of the Copernican
principle for our future prospects", *Nature* 363, 1993). So the figure grows with the
wait, told again by the usual rule (:func:`materially_changed`: about every third),
and the gate's ``wait_too_long`` sees it.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "HandlingTimes",
    "WaitEstimate",
    "estimate_wait",
    "materially_changed",
    "overrun",
    "rounded",
    "wait_sentence",
]

MIN_HANDLING_SECONDS = 60.0
"""Shortest handling time used: a claim released at once is no measure of the work."""
MAX_HANDLING_SECONDS = 3600.0
"""Longest handling time used: a conversation left assigned overnight is not either."""
LONG_WAIT_MINUTES = 120
"""Past this the estimate says only "more than two hours"."""


@dataclass(frozen=True)
class WaitEstimate:
    """A wait estimate: ``seconds`` (``None``: nobody online), ``minutes`` and
    ``max_minutes`` as told (:func:`rounded`), ``ahead`` (live conversations before
    this one), ``text``, the sentence for the visitor, and ``waited``: for a late one
    (module docstring), the seconds the visitor has waited (``None``: not late)."""

    seconds: float | None
    minutes: int | None
    max_minutes: int | None
    ahead: int
    text: str
    waited: float | None = None


def rounded(seconds: float) -> tuple[int, int | None]:
    """``seconds`` as told: ``(minutes, max_minutes)``. Under a minute is ``(0, None)``;
    to the minute up to 10 minutes, to 5 minutes up to 30; past 30 minutes a range of a
    quarter hour (under an hour) or half an hour (under two); from two hours
    ``(120, None)`` ("more than two hours")."""
    minutes = seconds / 60
    if minutes < 1:
        return 0, None
    if minutes <= 10:
        return max(1, round(minutes)), None
    if minutes <= 30:
        return 5 * round(minutes / 5), None
    if minutes >= LONG_WAIT_MINUTES:
        return LONG_WAIT_MINUTES, None
    step = 15 if minutes < 60 else 30
    low = step * math.floor(minutes / step)
    return low, low + step


_DURATIONS = {60: "an hour", 90: "an hour and a half", 120: "two hours"}


def _range(low: int, high: int) -> str:
    if high < 60:
        return f"{low} to {high} minutes"
    return f"{_DURATIONS.get(low, f'{low} minutes')} to {_DURATIONS[high]}"


def _waited_words(seconds: float) -> str:
    """How long a visitor has waited, in whole minutes as measured (no rounding up)."""
    minutes = int(seconds // 60)
    if minutes >= LONG_WAIT_MINUTES:
        return "more than two hours"
    return "a minute" if minutes <= 1 else f"{minutes} minutes"


def wait_sentence(
    minutes: int | None, max_minutes: int | None, ahead: int, waited: float | None = None
) -> str:
    """The sentence for the visitor: where they are in line and about how long; for a
    late estimate (``waited``: seconds waited so far) that it is taking longer than
    expected and how long they have waited."""
    if minutes is None:
        return (
            "Nobody from the team is online right now, so I can't say how long it will "
            "take; you'll keep your place in the queue."
        )
    line = (
        "You're next in line."
        if ahead == 0
        else f"{ahead} conversation{'s are' if ahead != 1 else ' is'} ahead of you."
    )
    if minutes == 0:
        when = "A person should be with you in under a minute."
    elif max_minutes is not None:
        when = f"A person should be with you in {_range(minutes, max_minutes)}."
    elif minutes >= LONG_WAIT_MINUTES:
        when = "The wait is more than two hours right now."
    elif minutes == 1:
        when = "A person should be with you in about a minute."
    else:
        when = f"A person should be with you in about {minutes} minutes."
    if waited is not None:
        sorry = "Sorry, this is taking longer than we expected: you've been waiting"
        return f"{line} {sorry} {_waited_words(waited)}. {when}"
    return f"{line} {when}"


def estimate_wait(
    ahead: int,
    online: int,
    free: int,
    busy: int,
    handling_seconds: float,
    waited: float | None = None,
) -> WaitEstimate:
    """The estimate for a visitor with ``ahead`` live conversations before them, when
    ``online`` agents of the team are online with ``free`` free slots and ``busy``
    conversations assigned in the team; ``handling_seconds``: the typical handling time
    (``H``). ``waited``: for a visitor who has waited past an estimate told
    (:func:`overrun`), the seconds they have waited: the estimate is late, at least
    that (``None``: the formula alone). See the module docstring."""
    if online <= 0:
        return WaitEstimate(None, None, None, ahead, wait_sentence(None, None, ahead), waited)
    slots = max(online, free + busy)
    waiting_for = ahead - free + 1
    seconds = max(0.0, waiting_for * handling_seconds / slots, waited or 0.0)
    minutes, top = rounded(seconds)
    text = wait_sentence(minutes, top, ahead, waited)
    return WaitEstimate(seconds, minutes, top, ahead, text, waited)


def overrun(minutes: int | None, max_minutes: int | None, told_at: datetime, now: datetime) -> bool:
    """Whether a visitor told ``minutes`` (``max_minutes``: the top of a range) at
    ``told_at`` has waited past it by ``now``: past its upper end, a minute for "under a
    minute". "Nobody is online" (``minutes`` ``None``) promised no time."""
    if minutes is None:
        return False
    limit = max(1, max_minutes or minutes) * 60.0
    return (now - told_at).total_seconds() >= limit


def materially_changed(old_seconds: float | None, new_seconds: float | None) -> bool:
    """Whether a new estimate is worth telling the visitor again: it became known or
    unknown, or it moved by a third of the last one told and by a minute at least (a
    change of a third of "under a minute" is no news; a minute on a two-hour wait is
    none either)."""
    if (old_seconds is None) != (new_seconds is None):
        return True
    if old_seconds is None or new_seconds is None:
        return False
    return abs(new_seconds - old_seconds) >= max(60.0, old_seconds / 3)


class HandlingTimes:
    """Recent handling times (seconds an agent held a conversation: claim to resolve,
    release or handback), per team, for ``H``.

    ``default_seconds`` is used until a team (or, failing it, the whole desk) has
    ``min_samples`` times; the median of the last ``keep`` is used after, bounded to
    [:data:`MIN_HANDLING_SECONDS`, :data:`MAX_HANDLING_SECONDS`]. The median, not the
    mean: one conversation left open over lunch must not double every estimate."""

    def __init__(self, default_seconds: float, *, keep: int = 50, min_samples: int = 5) -> None:
        self.default_seconds = default_seconds
        self.keep = keep
        self.min_samples = min_samples
        self._by_team: dict[str | None, deque[float]] = {}
        self._all: deque[float] = deque(maxlen=keep)

    def record(self, team: str | None, seconds: float) -> None:
        """One conversation of ``team`` was held ``seconds``."""
        self._by_team.setdefault(team, deque(maxlen=self.keep)).append(seconds)
        self._all.append(seconds)

    def typical(self, team: str | None) -> float:
        """``H`` for ``team``: its median, else the desk's, else the default (seconds)."""
        for sample in (self._by_team.get(team, ()), self._all):
            if len(sample) >= self.min_samples:
                median = statistics.median(sample)
                return min(MAX_HANDLING_SECONDS, max(MIN_HANDLING_SECONDS, median))
        return self.default_seconds
