"""The confidence of a generated answer, from evidence outside the generated words.

    confidence = entry × faithful

- ``entry``: the probability that the entry the answer rests on is the right one: the
  retrieval engine's calibrated confidence (:class:`~handoff_server.ai.retrieval.
  RetrievalAnswerer`) when the answer cites its top entry; when it cites only other
  retrieved entries, the lower of that confidence and the best cited entry's retrieval
  score (no calibrated number exists for a runner-up, so the conservative one is used).
- ``faithful``: the probability that the text says only what the cited entries say, a
  logistic model (:class:`Calibration`) of the weakest sentence's support, the share of
  supported sentences (:mod:`.grounding`) and, when the server returns them, the mean
  token log-probability of the answer. Fitted on held-out questions of the demo KB with
  a deterministic scripted model (``benchmarks/bench_llm_calibration.py``); weights are
  kept non-negative, so more support or likelier tokens never lower it.

Because ``faithful`` ≤ 1, the confidence is never above the retrieval confidence: the
generated text can lower it, never raise it. The visitor's words reach it only through
retrieval (as for the default engine); the model's words only through support (where a
claim of certainty has no content to support, and is dropped before measuring, see
:func:`~.grounding.drop_certainty_claims`) and the server's log-probabilities of the
tokens kept.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from handoff_server.ai.base import Candidate

__all__ = ["Calibration", "Evidence", "entry_probability", "mean_logprob"]

SHIPPED = Path(__file__).with_name("calibration.json")
"""The calibration fitted on the demo KB with the scripted model server."""

LOGPROB_FLOOR = -5.0
"""Mean token log-probabilities are clipped to [LOGPROB_FLOOR, 0] (natural log)."""


@dataclass(frozen=True)
class Evidence:
    """What the confidence is computed from, all 0–1 except ``mean_logprob`` (natural
    log, ≤ 0, ``None`` when the server returned none)."""

    retrieval: float
    entry: float
    support_min: float
    support_share: float
    mean_logprob: float | None

    def features(self) -> list[float]:
        """The faithfulness model's inputs: weakest support, share supported, and the
        mean log-probability rescaled to 0–1 (0: the floor; 1: certain tokens)."""
        lp = [] if self.mean_logprob is None else [1.0 - self.mean_logprob / LOGPROB_FLOOR]
        return [self.support_min, self.support_share, *lp]


@dataclass(frozen=True)
class Calibration:
    """Logistic weights of the faithfulness model: ``with_logprobs`` (bias, support_min,
    support_share, logprob) and ``without_logprobs`` (bias, support_min, support_share)."""

    with_logprobs: tuple[float, ...]
    without_logprobs: tuple[float, ...]
    source: str = ""

    @classmethod
    def load(cls, path: Path | None = None) -> Calibration:
        """Read a calibration JSON (default :data:`SHIPPED`). Raises ``OSError`` or
        ``ValueError`` for a missing or malformed file."""
        p = path or SHIPPED
        data = json.loads(p.read_text(encoding="utf-8"))
        w, wo = tuple(data["with_logprobs"]), tuple(data["without_logprobs"])
        if len(w) != 4 or len(wo) != 3:
            raise ValueError(f"{p}: expected 4 and 3 weights")
        return cls(
            tuple(float(x) for x in w), tuple(float(x) for x in wo), str(data.get("source", ""))
        )

    def faithful(self, ev: Evidence) -> float:
        """P(the text is faithful to its cited entries | evidence), 0–1."""
        x = ev.features()
        w = self.without_logprobs if ev.mean_logprob is None else self.with_logprobs
        z = w[0] + sum(max(0.0, wi) * xi for wi, xi in zip(w[1:], x, strict=True))
        return 1.0 / (1.0 + math.exp(-z))

    def confidence(self, ev: Evidence) -> float:
        """entry × faithful, 0–1."""
        return max(0.0, min(1.0, ev.entry * self.faithful(ev)))


def entry_probability(
    retrieval: float, candidates: Sequence[Candidate], cited: Sequence[str]
) -> float:
    """The ``entry`` factor: ``retrieval`` when the top candidate is cited, else the lower
    of ``retrieval`` and the best cited candidate's score (0 when none is cited)."""
    if not candidates or not cited:
        return 0.0
    if candidates[0].entry_id in cited:
        return retrieval
    scores = [c.score for c in candidates if c.entry_id in cited]
    return min(retrieval, max(scores, default=0.0))


def mean_logprob(
    text: str, tokens: Sequence[tuple[str, float]], dropped: Sequence[tuple[int, int]]
) -> float | None:
    """The mean log-probability of the tokens of ``text`` outside the ``dropped`` spans
    (the certainty claims), clipped to [:data:`LOGPROB_FLOOR`, 0]; ``None`` with no
    tokens. When the tokens do not spell ``text`` (a server that sends none of their
    strings), every token counts."""
    if not tokens:
        return None
    spelled = "".join(t for t, _ in tokens) == text
    kept: list[float] = []
    at = 0
    for tok, lp in tokens:
        if not (spelled and any(a <= at < b for a, b in dropped)):
            kept.append(lp)
        at += len(tok)
    if not kept:
        return None
    return max(LOGPROB_FLOOR, min(0.0, sum(kept) / len(kept)))
