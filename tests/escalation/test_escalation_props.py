"""Properties of the matchers: whole words only, negation, inflections, time zones, and the
fast TF-IDF path agreeing with scikit-learn."""

from __future__ import annotations

from datetime import UTC, datetime, time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handoff_server.escalation import Policy, TurnContext, decide
from handoff_server.escalation.engine import in_business_hours
from handoff_server.escalation.policy import BusinessHours
from handoff_server.escalation.vectors import TfidfFeatures
from handoff_server.language.text import PhraseMatcher, is_negated, tokenize

PHRASES = ["cancel account", "data breach", "speak to manager"]
matcher = PhraseMatcher(PHRASES)
letters = st.text(alphabet="bcdfghjklmnpqrtvwxz", min_size=1, max_size=6)
filler = st.sampled_from(["", "hello ", "please, ", "ok so ", "¿ ", "👋 "])


@given(prefix=letters, before=filler, after=filler, phrase=st.sampled_from(PHRASES))
def test_never_fires_glued_to_another_word(
    prefix: str, before: str, after: str, phrase: str
) -> None:
    """A phrase preceded by letters in the same word ("xcancel account") is not a match."""
    assert matcher.find(f"{before}{prefix}{phrase}{after}") == []


@given(
    suffix=st.text(alphabet="bcdfgjkpqvwxz", min_size=2, max_size=5),
    phrase=st.sampled_from(PHRASES),
)
def test_never_fires_when_the_last_word_runs_on(suffix: str, phrase: str) -> None:
    """Letters glued after the phrase's last word make another word ("cancel accountbq")."""
    assert matcher.find(f"please {phrase}{suffix} now") == []


@given(
    phrase=st.sampled_from(PHRASES),
    case=st.sampled_from([str.lower, str.upper, str.title, str.swapcase]),
    sep=st.sampled_from([" ", "   ", " - ", "\t", "... "]),
    before=filler,
    after=st.sampled_from(["", "!", "?!", " now.", " 🙏"]),
)
def test_fires_in_any_case_and_spacing(
    phrase: str, case, sep: str, before: str, after: str
) -> None:
    text = before + sep.join(case(w) for w in phrase.split()) + after
    found = matcher.find(text)
    assert [m.phrase for m in found] == [phrase]
    assert not found[0].negated
    assert found[0].text.lower().startswith(phrase.split()[0])
    assert found[0].text.lower().endswith(phrase.split()[-1])


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        ("I don't want to cancel my account", True),
        ("I dont want to cancel my account", True),
        ("I do NOT want to cancel my account", True),
        ("never cancel my account", True),
        ("I can't cancel my account", False),
        ("there's no way to cancel my account", False),
        ("no, cancel my account", False),
        ("I'm not sure, but cancel my account", False),
        ("not now. Cancel my account", False),
    ],
)
def test_negation(text: str, negated: bool) -> None:
    (match,) = PhraseMatcher(["cancel account"]).find(text)
    assert match.negated is negated


def test_is_negated_stops_at_clause_boundary() -> None:
    tokens = tokenize("not that; cancel")
    assert is_negated(tokens, 2) is False


@pytest.mark.parametrize(
    "text",
    ["canceled my account", "cancelling accounts", "Cancels the account", "CANCELLED ACCOUNT"],
)
def test_inflections(text: str) -> None:
    assert [m.phrase for m in matcher.find(text)] == ["cancel account"]


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (datetime(2025, 1, 6, 8, 0, tzinfo=UTC), True),  # Mon 09:00 Berlin (CET)
        (datetime(2025, 1, 6, 7, 59, tzinfo=UTC), False),  # 08:59
        (datetime(2025, 1, 6, 16, 0, tzinfo=UTC), False),  # 17:00, end exclusive
        (datetime(2025, 7, 7, 7, 30, tzinfo=UTC), True),  # 09:30 CEST
        (datetime(2025, 1, 4, 10, 0, tzinfo=UTC), False),  # Saturday
        (datetime(2025, 12, 24, 10, 0, tzinfo=UTC), False),  # holiday
        (datetime(2025, 1, 6, 10, 0), True),  # naive means UTC
    ],
)
def test_business_hours(utc: datetime, expected: bool) -> None:
    hours = BusinessHours(timezone="Europe/Berlin", holidays=["2025-12-24"])
    assert in_business_hours(hours, utc) is expected


def test_overnight_business_hours() -> None:
    night = BusinessHours(timezone="UTC", days=["fri"], start=time(22), end=time(6))
    assert in_business_hours(night, datetime(2025, 1, 10, 23, tzinfo=UTC))  # Fri 23:00
    assert in_business_hours(night, datetime(2025, 1, 11, 5, tzinfo=UTC))  # Sat 05:00, Fri's shift
    assert not in_business_hours(night, datetime(2025, 1, 11, 23, tzinfo=UTC))  # Sat 23:00


def test_fast_tfidf_matches_scikit_learn() -> None:
    texts = [
        "I was charged twice",
        "my site was hacked",
        "how do I reset my password",
        "agent please",
    ]
    f = TfidfFeatures()
    x = f.fit_transform(texts)
    for text in [*texts, "charged twice for my hacked site", "zzz"]:
        blocks = [vec.transform([text]).toarray()[0] for vec in f._vecs]
        expected = np.concatenate(blocks) / np.sqrt(2)
        got = np.zeros(f.n_features)
        idx, val = f.vector(text)
        got[idx] = val
        np.testing.assert_allclose(got, expected, atol=1e-12)
    assert x.shape == (len(texts), f.n_features)


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=300))
def test_decide_never_raises_and_always_explains(text: str) -> None:
    """Any text at all, including control characters and surrogates-free unicode."""
    d = decide(Policy(), TurnContext(text=text, now=datetime(2025, 1, 6, tzinfo=UTC)))
    assert len(d.evaluations) == 8
    assert all(e.detail for e in d.evaluations)
