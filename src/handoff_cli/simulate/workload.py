"""What to simulate and when: the conversations of a scenario or a question set, and the
arrival processes that start them.

- One *pass* is the scenario's visitors (each ``count`` times) or every question of the
  set once, in file order. :class:`ScriptFeed` hands out passes one after the other
  (the scenario's visitors shuffled within each pass by the seed).
- Open loop (``--rate``): conversations start at the times of a Poisson process of that
  rate, however many are still running (:func:`poisson_gaps`).
- Closed loop (``--concurrency N``): N visitors, each starting a new conversation when
  the last one ends.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

from handoff_cli.simulate.record import Script
from handoff_cli.simulate.scenario import ConversationExpect, Scenario, Turn, TurnExpect
from handoff_server import analytics  # lazy: NumPy loads on first use
from handoff_server.kb.loader import OOS_LABEL, label_to_id
from handoff_server.protocol import VisitorInfo

__all__ = ["ScriptFeed", "poisson_gaps", "question_scripts", "scenario_scripts"]


def scenario_scripts(scenario: Scenario) -> list[Script]:
    """One pass of ``scenario``: each visitor ``count`` times (copies named ``Ada #2``…)."""
    out = []
    for spec in scenario.visitors:
        for n in range(spec.count):
            out.append(
                Script(
                    name=spec.name if n == 0 else f"{spec.name} #{n + 1}",
                    visitor=spec.info(),
                    turns=tuple(spec.turns),
                    expect=spec.expect,
                    linger=spec.linger,
                )
            )
    return out


def question_scripts(path: Path) -> list[Script]:
    """One conversation per question of a ``text,label`` CSV: the visitor asks it once.

    Label ``oos`` expects a handoff; any other label expects the answer of the KB entry
    of that label (its id as ``handoff kb build`` makes it). Raises
    :class:`~handoff_server.errors.QuestionsError` for an unreadable or malformed file."""
    texts, labels = analytics.read_questions(path)
    out = []
    for n, (text, label) in enumerate(zip(texts, labels, strict=True), start=1):
        if label == OOS_LABEL:
            expect = TurnExpect(escalated=True)
        else:
            expect = TurnExpect(answered_from=label_to_id(label))
        out.append(
            Script(
                name=f"question {n}",
                visitor=VisitorInfo(name=f"Visitor {n}"),
                turns=(Turn(say=text, think_time=None, expect=expect),),
                expect=ConversationExpect(),
                label=label,
            )
        )
    return out


class ScriptFeed:
    """Hands out the conversations to run: passes of ``scripts`` one after another
    (shuffled within each pass when ``shuffle``), at most ``count`` in all (``None``:
    no limit)."""

    def __init__(
        self, scripts: list[Script], count: int | None, rng: random.Random, shuffle: bool
    ) -> None:
        self.scripts = scripts
        self.count = count
        self.rng = rng
        self.shuffle = shuffle
        self.given = 0
        self._pass: Iterator[Script] = iter(())

    def next(self) -> Script | None:
        """The next conversation, or ``None`` once ``count`` were handed out."""
        if self.count is not None and self.given >= self.count:
            return None
        script = next(self._pass, None)
        if script is None:
            order = list(self.scripts)
            if self.shuffle:
                self.rng.shuffle(order)
            self._pass = iter(order)
            script = next(self._pass)
        self.given += 1
        return script


def poisson_gaps(rate: float, rng: random.Random) -> Iterator[float]:
    """Seconds between arrivals of a Poisson process of ``rate`` per second
    (exponentially distributed, mean ``1 / rate``)."""
    while True:
        yield rng.expovariate(rate)
