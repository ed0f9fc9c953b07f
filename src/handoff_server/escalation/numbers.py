"""Numbers in sentences for people: a printed comparison must read true.

Rounding both sides to two decimals can print a false sentence: a confidence of 0.4999
against a threshold of 0.5 reads "confidence 0.50 < threshold 0.50". These helpers print
two decimals as a rule and more where rounding would mislead.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable

__all__ = ["compared", "distinct"]

_MAX_DECIMALS = 4

_TESTS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def compared(value: float, op: str, bound: float, decimals: int = 2) -> tuple[str, str]:
    """``value`` and ``bound`` printed for the sentence ``"<value> <op> <bound>"``, so that
    it reads true: ``decimals`` decimals, more (up to four) when rounding would print a
    false comparison (0.4999 < 0.5 → ``("0.4999", "0.5000")``), else the shortest exact
    forms (``repr``).

    ``op`` is ``<``, ``<=``, ``>`` or ``>=`` and must hold for the raw numbers (callers
    take it from the test they made). Raises ``KeyError`` for another ``op``.
    """
    test = _TESTS[op]
    value, bound = float(value), float(bound)
    for d in range(decimals, _MAX_DECIMALS + 1):
        a, b = f"{value:.{d}f}", f"{bound:.{d}f}"
        if test(float(a), float(b)):
            return a, b
    return repr(value), repr(bound)


def distinct(value: float, bounds: Iterable[float], decimals: int = 2) -> str:
    """``value`` printed so that it compares with each of ``bounds`` (printed with
    ``:g``) as the raw value does: 0.4999 next to a bound of 0.5 is ``"0.4999"``, not
    ``"0.50"``. ``decimals`` decimals as a rule, up to four, else ``repr``."""
    value = float(value)
    shown = [(float(f"{b:g}"), _sign(value - float(b))) for b in bounds]
    for d in range(decimals, _MAX_DECIMALS + 1):
        a = f"{value:.{d}f}"
        if all(_sign(float(a) - b) == sign for b, sign in shown):
            return a
    return repr(value)


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)
