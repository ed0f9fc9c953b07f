"""Sentiment fitted to support chat (issue 12): politeness, emoticons, sarcasm, negated
praise, hedges, and the operator's lexicon section of the policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from handoff_server.ai.base import Answer
from handoff_server.errors import PolicyError
from handoff_server.escalation import (
    Policy,
    TriggerEvaluation,
    TurnContext,
    decide,
    parse_policy,
)


def sentiment(text: str, policy: Policy | None = None) -> TriggerEvaluation:
    """The sentiment evaluation of one confident turn under ``policy`` (default policy)."""
    answer = Answer(text="an answer", confidence=0.9, entry_id="dns-basics")
    d = decide(
        policy or Policy(),
        TurnContext(text=text, answer=answer, now=datetime(2025, 1, 6, tzinfo=UTC)),
    )
    return next(e for e in d.evaluations if e.trigger == "sentiment")


@pytest.mark.parametrize(
    ("polite", "plain"),
    [
        ("kindly stop wasting my time", "stop wasting my time"),  # quoted: +0.13 vs -0.40
        ("Please, kindly fix this useless form", "fix this useless form"),
        ("Dear support, this is unacceptable. Regards, Ann", "this is unacceptable. Ann"),
    ],
)
def test_politeness_markers_are_neutral(polite: str, plain: str) -> None:
    assert sentiment(polite).value == sentiment(plain).value
    assert sentiment(polite).fired


@pytest.mark.parametrize(
    "text",
    [
        "nothing works :(",
        "my emails bounce :-(",
        "why is this so slow >:(",
        "hmm the docs say otherwise :/",
    ],
)
def test_frowning_emoticons_score_negative(text: str) -> None:
    """Quoted: "nothing works :(" read +0.34 (VADER's negation flipped the frown)."""
    e = sentiment(text)
    assert e.value < 0 and "frown x1" in e.detail


@pytest.mark.parametrize(
    "text",
    ["see https://example.com/help", "ID: 4432", "the path is C:\\Users\\me", "nothing broke :)"],
)
def test_no_frown_in_urls_labels_or_smiles(text: str) -> None:
    e = sentiment(text)
    assert e.value >= 0 and "frown" not in e.detail


@pytest.mark.parametrize(
    "text",
    [
        "Oh great, checkout broke again. Just wonderful.",  # quoted: +0.72
        "Just wonderful, the SSL expired again",
        "what a surprise, the backup failed again",
        "I love how the login page crashes every single time",
    ],
)
def test_sarcasm_is_frustration(text: str) -> None:
    e = sentiment(text)
    assert e.fired and "sarcasm" in e.detail


@pytest.mark.parametrize(
    "text",
    ["Oh great, that fixed it, thanks!", "Great, it works again!", "That worked, just perfect!"],
)
def test_sincere_praise_is_not_sarcasm(text: str) -> None:
    e = sentiment(text)
    assert e.value > 0 and "sarcasm" not in e.detail


@pytest.mark.parametrize(
    "text",
    [
        "not helpful at all",
        "this isn't great",
        "I wouldn't call this helpful",  # VADER: +0.50 ("this" boosts instead of negating)
        "this was far from helpful",  # +0.42
        "hardly helpful",  # +0.36
        "your support is not good",  # +0.08 ("support" scored as praise)
        "I can't say this is helpful",  # +0.42
    ],
)
def test_negated_praise_is_negative(text: str) -> None:
    assert sentiment(text).value < 0


@pytest.mark.parametrize(
    "text",
    [
        "I'm not sure… no problem if you can't, but could you check my DNS?",  # quoted
        "I'm not sure if this is the right place to ask, no problem if not, but can I add a domain?",
        "Sorry to bother you, I hope you're well. Kindly advise how to add a subdomain.",
        "No rush at all, no worries if it takes a while.",
    ],
)
def test_polite_hedges_are_neutral(text: str) -> None:
    """Quoted: polite hedging ("I'm not sure… no problem if…") could read as frustration."""
    assert sentiment(text).value == 0.0


def test_strongest_sentence_decides() -> None:
    calm = "We moved our shop to you in March. The theme is custom. Orders come in at night. "
    text = calm * 14 + "This is useless and I am furious. " + calm * 14
    assert len(text) > 2000
    e = sentiment(text)
    assert e.fired and "phrase 'useless'" in e.detail


def test_operator_lexicon_extends_the_built_in_one() -> None:
    policy = parse_policy(
        {
            "sentiment": {
                "lexicon": {
                    "words": {"janky": -3.0, "killer": 0},
                    "neutral_phrases": ["no offence"],
                    "frowns": ["🙁"],
                    "sarcasm": ["top notch"],
                }
            }
        }
    )
    assert sentiment("janky").value == 0 > sentiment("janky", policy).value
    assert sentiment("a killer feature", policy).value == 0 > sentiment("a killer feature").value
    assert sentiment("no offence, how do I add DKIM", policy).value == 0.0
    assert "frown x1" in sentiment("the upload stopped 🙁", policy).detail
    e = sentiment("top notch, the site is down again", policy)
    assert e.fired and "sarcasm 'top notch'" in e.detail
    assert parse_policy(policy.to_data()) == policy


@pytest.mark.parametrize(
    ("lexicon", "problem"),
    [
        ({"words": {"two words": -1.0}}, "sentiment.lexicon.words"),
        ({"words": {"awful": -9.0}}, "sentiment.lexicon.words.awful"),
        ({"frowns": [""]}, "sentiment.lexicon.frowns"),
        ({"sarcasm": ["!!!"]}, "sentiment.lexicon.sarcasm"),
        ({"neutral_phrases": [" "]}, "sentiment.lexicon.neutral_phrases"),
        ({"smiles": [":)"]}, "sentiment.lexicon.smiles"),
    ],
)
def test_bad_lexicon_is_refused_with_its_location(lexicon: dict, problem: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy({"sentiment": {"lexicon": lexicon}})
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems
