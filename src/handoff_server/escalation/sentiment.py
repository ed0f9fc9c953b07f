"""Frustration: VADER valence adjusted by what the conversation shows.

VADER (Hutto & Gilbert 2014, "VADER: A Parsimonious Rule-based Model for Sentiment
Analysis of Social Media Text", ICWSM; package ``vaderSentiment``) scores one message's
valence as ``compound`` in −1…1 and already handles negation ("not bad"), intensifiers
and capitals. It reads sarcasm ("Great, thanks for nothing") as positive and ignores
angry emoji, so conversation signals are added on top:

=====================  ======  ================================================
signal                 weight  seen when
=====================  ======  ================================================
frustration phrase     0.55    "this is useless", "waste of time", ... (negation-aware)
angry emoji            0.30    😡 🤬 😠 😤 💢 👎 🙄 😒 🖕 ... (each, at most two)
shouting               0.30    ≥ 8 letters, ≥ 70 % of them capitals
repeated question      0.30    the message repeats an earlier one (word-stem Jaccard ≥ 0.7)
=====================  ======  ================================================

VADER, the emoji and the shouting test read at most the first and last 500 characters
of a long message
(:func:`~handoff_server.escalation.vectors.clip`).

``score = min(compound, 0) − Σ weights`` when any signal is present (a positive reading is
not trusted then), else ``compound``; clamped to −1…1.
"""

from __future__ import annotations

from dataclasses import dataclass

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from handoff_server.escalation.text import PhraseMatcher, Token
from handoff_server.escalation.vectors import clip

__all__ = ["FRUSTRATION_PHRASES", "SentimentResult", "SentimentScorer", "same_question"]

FRUSTRATION_PHRASES: tuple[str, ...] = (
    "useless",
    "waste of time",
    "not helpful",
    "not helping",
    "no help",
    "unhelpful",
    "ridiculous",
    "pathetic",
    "terrible service",
    "awful service",
    "worst",
    "fed up",
    "sick of",
    "sick and tired",
    "thanks for nothing",
    "stupid bot",
    "dumb bot",
    "what a joke",
    "unacceptable",
    "i give up",
    "how many times",
    "already told you",
    "already asked",
    "are you kidding",
    "are you serious",
    "you people",
    "garbage",
    "rubbish",
    "nonsense",
    "infuriating",
    "frustrating",
    "frustrated",
    "angry",
    "furious",
    "annoyed",
    "not listening",
)

ANGRY_EMOJI = frozenset("😡🤬😠😤💢👎🙄😒🖕😾🤦😩😫")

_WEIGHTS = {"phrase": 0.55, "emoji": 0.30, "shouting": 0.30, "repeated_question": 0.30}

DOMAIN_NEUTRAL_WORDS = frozenset(
    """error errors fail failed failing failure problem problems broken crash crashed wrong
    denied refused blocked spam attack attacks attacked hacked lost lose losing missing stuck
    kill kills killed killing cancel reject rejected warning fatal critical panic suspended
    forbidden dead death die died dies exhausted stop stopped infected stolen trouble troubles
    fault faulty loss leak threat damage damaged""".split()
)
"""Words VADER scores as negative that, in a support conversation, name the problem
rather than the visitor's mood ("HTTP ERROR 500", "the upload failed", "wrong password"):
removed from its lexicon so describing a fault is not read as frustration."""

_analyzer: SentimentIntensityAnalyzer | None = None


def _vader() -> SentimentIntensityAnalyzer:
    global _analyzer
    if _analyzer is None:
        analyzer = SentimentIntensityAnalyzer()
        for word in DOMAIN_NEUTRAL_WORDS:
            analyzer.lexicon.pop(word, None)
        _analyzer = analyzer
    return _analyzer


@dataclass(frozen=True, slots=True)
class SentimentResult:
    """``compound``: VADER's valence (−1…1); ``score``: adjusted (−1…1); ``signals``:
    the conversation signals seen, e.g. ``["phrase 'useless'", "shouting"]``."""

    compound: float
    score: float
    signals: tuple[str, ...]


def same_question(a: list[Token], b: list[Token], min_jaccard: float = 0.7) -> bool:
    """Whether two messages ask the same thing: Jaccard overlap (0–1) of their word stems
    is ≥ ``min_jaccard``; messages under 3 words only match exactly."""
    ka, kb = {t.key for t in a}, {t.key for t in b}
    if not ka or not kb:
        return False
    if min(len(ka), len(kb)) < 3:
        return ka == kb and len(a) >= 2
    return len(ka & kb) / len(ka | kb) >= min_jaccard


class SentimentScorer:
    """Scores frustration in one message given earlier ones.

    ``extra_phrases``: the operator's frustration phrases, added to
    :data:`FRUSTRATION_PHRASES`.
    """

    def __init__(self, extra_phrases: tuple[str, ...] = ()) -> None:
        self._phrases = PhraseMatcher([*FRUSTRATION_PHRASES, *extra_phrases], max_gap=1)

    def score(self, text: str, tokens: list[Token], earlier: list[list[Token]]) -> SentimentResult:
        """Score ``text`` (``tokens`` its :func:`~handoff_server.escalation.text.tokenize`);
        ``earlier``: the tokens of the visitor's earlier messages, oldest first."""
        head_tail = clip(text)
        compound = float(_vader().polarity_scores(head_tail)["compound"])
        signals: list[str] = []
        penalty = 0.0
        phrases = [m for m in self._phrases.find(text, tokens) if not m.negated]
        if phrases:
            signals.append(f"phrase {phrases[0].text!r}")
            penalty += _WEIGHTS["phrase"]
        emoji = sum(ch in ANGRY_EMOJI for ch in head_tail)
        if emoji:
            signals.append(f"angry emoji x{emoji}")
            penalty += _WEIGHTS["emoji"] * min(emoji, 2)
        letters = [ch for ch in head_tail if ch.isalpha()]
        if len(letters) >= 8 and sum(ch.isupper() for ch in letters) >= 0.7 * len(letters):
            signals.append("shouting")
            penalty += _WEIGHTS["shouting"]
        if any(same_question(tokens, prev) for prev in earlier):
            signals.append("repeated question")
            penalty += _WEIGHTS["repeated_question"]
        score = min(compound, 0.0) - penalty if signals else compound
        return SentimentResult(compound, max(-1.0, min(1.0, score)), tuple(signals))
