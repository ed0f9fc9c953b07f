"""Frustration: VADER valence, fitted to support chat, adjusted by what the conversation shows.

VADER (Hutto & Gilbert 2014, "VADER: A Parsimonious Rule-based Model for Sentiment
Analysis of Social Media Text", ICWSM; package ``vaderSentiment``) scores one sentence's
valence as ``compound`` in −1…1 and already handles negation ("not bad"), intensifiers
and capitals. Read as is, it misreads support chat; this module is the one place where
its lexicon and rules are adjusted (operators add to every list in the policy's
``[policy.sentiment.lexicon]``, :class:`~handoff_server.escalation.policy.SentimentLexicon`):

=========================  ===========================================================
adjustment                 what and why
=========================  ===========================================================
neutral words              :data:`DOMAIN_NEUTRAL_WORDS` leave VADER's lexicon: they name
                           the fault or the service ("ERROR 500", "support", "spam"),
                           not a mood
neutral phrases            :data:`NEUTRAL_PHRASES`, politeness markers and hedges
                           ("kindly", "not sure", "no problem if not"), are not read:
                           "kindly stop wasting my time" scores as without "kindly"
emoticons                  read here, not by VADER, whose negation flips them ("nothing
                           works :(" read +0.34): :data:`FROWNS` are a signal, smiles
                           are politeness
negated praise             a positive word in a negation's scope (6 words, the clause)
                           counts −0.74 × its valence (VADER's own factor), also where
                           VADER's 3-word window misses it or boosts it ("I wouldn't
                           call this helpful", "far from helpful", "hardly helpful")
=========================  ===========================================================

Signals seen on top lower the score:

=====================  ======  ================================================
signal                 weight  seen when
=====================  ======  ================================================
frustration phrase     0.55    "this is useless", "wasting my time", ... (negation-aware)
sarcasm                0.55    praise cue (:data:`SARCASM_CUES`: "oh great", "just
                               wonderful") in a message that names a fault ("broke
                               again") and no success ("that fixed it")
angry emoji            0.30    😡 🤬 😠 😤 💢 👎 🙄 😒 🖕 ... (each, at most two)
frown                  0.30    :( :-( >:( :/ ... (each, at most two)
shouting               0.30    a sentence of ≥ 8 letters, ≥ 70 % of them capitals
repeated question      0.30    the message repeats an earlier one (word-stem Jaccard ≥ 0.7)
=====================  ======  ================================================

A message is read sentence by sentence (:func:`~handoff_server.language.text.sentences`,
the whole of it up to 4,000 characters); its ``compound`` is its most negative sentence's.
``score = min(compound, 0) − Σ weights`` when any signal is present (a positive reading is
not trusted then), else ``compound``; clamped to −1…1.
"""

from __future__ import annotations

import copy
import math
import re
import string
from dataclasses import dataclass
from functools import lru_cache

from vaderSentiment.vaderSentiment import N_SCALAR, SentimentIntensityAnalyzer, normalize

from handoff_server.escalation.policy import SentimentLexicon
from handoff_server.language.text import (
    NEGATION_CUES,
    PhraseMatcher,
    Token,
    negation_mask,
    sentences,
    stem,
    tokenize,
)

__all__ = [
    "DOMAIN_NEUTRAL_WORDS",
    "FROWNS",
    "FRUSTRATION_PHRASES",
    "NEUTRAL_PHRASES",
    "SARCASM_CUES",
    "SentimentResult",
    "SentimentScorer",
    "same_question",
]

FRUSTRATION_PHRASES: tuple[str, ...] = (
    "useless",
    "waste time",
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
    "said no one",
    "said nobody",
    "yeah right",
    "here we go again",
    "not again",
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
"""Phrases that say the visitor is frustrated, matched like keywords (inflections, up to one
filler word between: "waste time" matches "a waste of time" and "wasting my time")."""

ANGRY_EMOJI = frozenset("😡🤬😠😤💢👎🙄😒🖕😾🤦😩😫")

FROWNS: tuple[str, ...] = (
    ":(",
    ":-(",
    ":((",
    ":'(",
    ">:(",
    ">:-(",
    ":/",
    ":-/",
    ":\\",
    ":-\\",
    ":[",
    ":-[",
    "D:",
    ":|",
    ":-|",
    "-_-",
    "-.-",
    ">_<",
)
"""Emoticons of displeasure; each is a signal (0.3, at most two)."""

_SMILES: tuple[str, ...] = (":)", ":-)", ":))", ":D", ":-D", ";)", ";-)", ":P", ":-P", ":p")
_SMILES += ("(:", "=)", ":]", "<3", "^_^", "^^", "xD", "XD")

NEUTRAL_PHRASES: tuple[str, ...] = (
    "kindly",
    "please",
    "pls",
    "plz",
    "dear",
    "regards",
    "sincerely",
    "respectfully",
    "cordially",
    "sorry",
    "sorry to bother",
    "sorry for bothering",
    "sorry to trouble",
    "sorry for the trouble",
    "thanks in advance",
    "thank you in advance",
    "hope you are well",
    "hope you're well",
    "hope you are doing well",
    "hope this finds you well",
    "i hope",
    "hoping",
    "have a nice day",
    "have a good day",
    "have a great day",
    "best wishes",
    "would appreciate",
    "i'd appreciate",
    "appreciate it if",
    "would be grateful",
    "i'd be grateful",
    "would like",
    "i'd like",
    "not sure",
    "no problem",
    "not a problem",
    "no worries",
    "no rush",
    "no hurry",
    "no pressure",
    "not urgent",
    "if not",
    "don't worry",
    "excuse me",
    "pardon",
    "if possible",
    "if you can",
    "i'm afraid",
    "i am afraid",
)
"""Politeness markers and hedges: a manner of speaking, not a mood."""

DOMAIN_NEUTRAL_WORDS = frozenset(
    """error errors fail failed failing failure problem problems broken crash crashed wrong
    denied refused blocked spam attack attacks attacked hacked lost lose losing missing stuck
    kill kills killed killing cancel reject rejected warning fatal critical panic suspended
    forbidden dead death die died dies exhausted stop stopped infected stolen trouble troubles
    fault faulty loss leak threat damage damaged support help free secure security safe safety
    trust trusted save share protect protected clean clear block abuse ban banned suspend
    emergency urgent""".split()
)
"""Words VADER scores that, in a support conversation, name the problem or the service
rather than the visitor's mood ("HTTP ERROR 500", "the upload failed", "your support",
"a free SSL certificate"): removed from its lexicon."""

SARCASM_CUES: tuple[str, ...] = (
    "oh great",
    "oh wonderful",
    "oh perfect",
    "oh brilliant",
    "oh fantastic",
    "oh lovely",
    "oh nice",
    "oh joy",
    "oh good",
    "oh awesome",
    "just great",
    "just wonderful",
    "just perfect",
    "just brilliant",
    "just fantastic",
    "just lovely",
    "just awesome",
    "just what i needed",
    "how wonderful",
    "how lovely",
    "how nice",
    "what a surprise",
    "surprise surprise",
    "big surprise",
    "as usual",
    "i love how",
    "love it when",
    "i just love",
)
"""Praise that, in a message naming a fault and no success, is frustration."""

_FAULTS = frozenset(
    stem(w)
    for w in """broke break breaks down outage outages bug bugs slow offline crash crashes
    error errors fail failed failing broken lost missing stuck dead wrong again""".split()
)
# Verbs that name a fault when negated or after "can't": "won't load", "can't log in".
_FAILING = frozenset(
    stem(w)
    for w in "work load open connect send respond start run save show arrive log login receive".split()
)
_UNABLE = frozenset({"cant", "cannot", "couldnt", stem("unable")})
_SUCCESS = frozenset("fixed works worked working solved resolved sorted helped fixes".split())

_PRAISE_CUES = NEGATION_CUES | {stem("hardly"), stem("barely"), stem("scarcely")}
_PRAISE_WINDOW = 6

_WEIGHTS = {
    "phrase": 0.55,
    "sarcasm": 0.55,
    "emoji": 0.30,
    "frown": 0.30,
    "shouting": 0.30,
    "repeated_question": 0.30,
}


def _praise_negator(tokens: list[Token], j: int) -> bool:
    """A negation cue for praise: the usual ones, "hardly", "far from", "can't say"."""
    key = tokens[j].key
    prev = tokens[j - 1].key if j else ""
    return (
        key in _PRAISE_CUES
        or (key == "from" and prev == "far")
        or (key in ("say", "call") and prev in _UNABLE)
    )


@lru_cache(maxsize=1)
def _base_vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def _vader(words: tuple[tuple[str, float], ...]) -> SentimentIntensityAnalyzer:
    """VADER with :data:`DOMAIN_NEUTRAL_WORDS` removed and the operator's ``words`` set
    (valence 0 removes a word)."""
    base = _base_vader()
    analyzer = copy.copy(base)
    analyzer.lexicon = dict(base.lexicon)
    for word in DOMAIN_NEUTRAL_WORDS:
        analyzer.lexicon.pop(word, None)
    for word, valence in words:
        if valence == 0:
            analyzer.lexicon.pop(word.lower(), None)
        else:
            analyzer.lexicon[word.lower()] = valence
    return analyzer


def _emoticons(marks: tuple[str, ...]) -> re.Pattern[str]:
    """Any of ``marks`` standing alone, or glued to the end of a word when it starts with
    punctuation ("works:("); never inside a URL ("https://") or a label ("ID:")."""

    def alternation(group: list[str]) -> str:
        return "|".join(re.escape(m) for m in sorted(group, key=len, reverse=True)) or "(?!)"

    wordy = [m for m in set(marks) if m[0].isalnum()]
    other = [m for m in set(marks) if not m[0].isalnum()]
    return re.compile(
        rf"(?:(?<!\S)(?:{alternation(wordy)})|(?<![^\s\w])(?:{alternation(other)}))"
        r"(?![^\s.,!?;)])"
    )


@dataclass(frozen=True, slots=True)
class SentimentResult:
    """``compound``: VADER's valence (−1…1) of the most negative sentence, with this
    module's adjustments; ``score``: adjusted by signals (−1…1); ``signals``: the
    conversation signals seen, e.g. ``["phrase 'useless'", "shouting"]``."""

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
    :data:`FRUSTRATION_PHRASES`; ``lexicon``: the operator's additions to the other
    lists (see :class:`~handoff_server.escalation.policy.SentimentLexicon`).
    """

    def __init__(
        self, extra_phrases: tuple[str, ...] = (), lexicon: SentimentLexicon | None = None
    ) -> None:
        lexicon = lexicon or SentimentLexicon()
        self._phrases = PhraseMatcher([*FRUSTRATION_PHRASES, *extra_phrases], max_gap=1)
        self._neutral = PhraseMatcher([*NEUTRAL_PHRASES, *lexicon.neutral_phrases], max_gap=0)
        self._sarcasm = PhraseMatcher([*SARCASM_CUES, *lexicon.sarcasm], max_gap=0)
        frowns = (*FROWNS, *lexicon.frowns)
        self._frowns = _emoticons(frowns)
        self._all_emoticons = _emoticons((*frowns, *_SMILES))
        self._vader = _vader(tuple(sorted(lexicon.words.items())))

    def score(self, text: str, tokens: list[Token], earlier: list[list[Token]]) -> SentimentResult:
        """Score ``text`` (``tokens`` its :func:`~handoff_server.language.text.tokenize`);
        ``earlier``: the tokens of the visitor's earlier messages, oldest first."""
        parts = list(dict.fromkeys(sentences(text)))
        compound = min((self._sentence(s) for s in parts), default=0.0)
        read = "\n".join(parts)
        signals: list[str] = []
        penalty = 0.0

        def seen(kind: str, label: str, times: int = 1) -> None:
            nonlocal penalty
            signals.append(label)
            penalty += _WEIGHTS[kind] * min(times, 2)

        phrases = [m for m in self._phrases.find(text, tokens) if not m.negated]
        if phrases:
            seen("phrase", f"phrase {phrases[0].text!r}")
        sarcasm = self._sarcasm_cue(text, tokens)
        if sarcasm is not None:
            seen("sarcasm", f"sarcasm {sarcasm!r}")
        emoji = sum(ch in ANGRY_EMOJI for ch in read)
        if emoji:
            seen("emoji", f"angry emoji x{emoji}", emoji)
        frowns = len(self._frowns.findall(read))
        if frowns:
            seen("frown", f"frown x{frowns}", frowns)
        if any(_shouted(s) for s in parts):
            seen("shouting", "shouting")
        if any(same_question(tokens, prev) for prev in earlier):
            seen("repeated_question", "repeated question")
        score = min(compound, 0.0) - penalty if signals else compound
        return SentimentResult(compound, max(-1.0, min(1.0, score)), tuple(signals))

    def _sentence(self, sentence: str) -> float:
        """VADER's compound of one sentence with the neutral phrases, the emoticons and the
        negated praise taken out, the negated praise added back with valence −0.74 × v."""
        tokens = tokenize(sentence)
        blank = [(m.start, m.end) for m in self._neutral.find(sentence, tokens)]
        blank += [m.span() for m in self._all_emoticons.finditer(sentence)]
        negated = negation_mask(tokens, _PRAISE_WINDOW, _praise_negator)
        shift = 0.0
        for tok, neg in zip(tokens, negated, strict=True):
            valence = self._vader.lexicon.get(sentence[tok.start : tok.end].lower(), 0.0)
            if neg and valence > 0 and not _inside(tok.start, blank):
                blank.append((tok.start, tok.end))
                shift += N_SCALAR * valence
        chars = list(sentence)
        for start, end in blank:
            chars[start:end] = " " * (end - start)
        # A comma left alone ("Please, kindly fix") would count as a word in VADER's
        # windows and change how it weighs the next ones.
        read = _ORPHAN_PUNCTUATION.sub(" ", "".join(chars))
        compound = (
            float(self._vader.polarity_scores(read)["compound"]) if self._moved(read) else 0.0
        )
        if shift:
            # Back to VADER's sum of valences (compound = x / sqrt(x² + 15)), add, renormalise.
            c = max(-0.9999, min(0.9999, compound))
            compound = float(normalize(c * math.sqrt(15) / math.sqrt(1 - c * c) + shift))
        return compound

    def _moved(self, text: str) -> bool:
        """Whether VADER can score ``text`` other than 0: it has a lexicon word, or emoji
        (which VADER reads as words). Most sentences of a long message have neither, and
        skipping VADER for them halves the cost of reading 4,000 characters."""
        if not text.isascii():
            return True
        lexicon = self._vader.lexicon
        return any(
            w.lower() in lexicon or w.strip(string.punctuation).lower() in lexicon
            for w in text.split()
        )

    def _sarcasm_cue(self, text: str, tokens: list[Token]) -> str | None:
        """The first praise cue, when the message names a fault and no success."""
        cues = [m for m in self._sarcasm.find(text, tokens) if not m.negated]
        if not cues:
            return None
        mask = negation_mask(tokens)
        fault = success = False
        for i, tok in enumerate(tokens):
            if mask[i]:
                fault = fault or tok.key in _FAILING
                continue
            prev = tokens[i - 1].key if i else ""
            fault = fault or tok.key in _FAULTS or (tok.key in _FAILING and prev in _UNABLE)
            success = success or text[tok.start : tok.end].lower() in _SUCCESS
        return cues[0].text if fault and not success else None


_ORPHAN_PUNCTUATION = re.compile(r"(?:^|(?<=\s))[,;:]+(?=\s|$)")


def _inside(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= pos < end for start, end in spans)


def _shouted(sentence: str) -> bool:
    letters = [ch for ch in sentence if ch.isalpha()]
    return len(letters) >= 8 and sum(ch.isupper() for ch in letters) >= 0.7 * len(letters)
