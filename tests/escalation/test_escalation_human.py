"""The human-request classifier on phrasings it was never trained on.

These lists were written after the training examples were fixed and are not used to tune
anything; the test pins the measured recall and false-positive rate. "are you a person or a
machine?" was a request here until issue 12: a question about the assistant is answered,
not handed off, so it moved to :data:`HELD_OUT_IDENTITY`.
"""

from __future__ import annotations

import pytest

from handoff_server.escalation.human import NEGATIVE_EXAMPLES, POSITIVE_EXAMPLES, detector_for

HELD_OUT_REQUESTS = [
    "could I be connected to a human agent?",
    "I demand to talk to a real person",
    "real people only please",
    "pls give me an agent",
    "Is there somebody I can speak to?",
    "I want to reach a member of your support staff",
    "Talk. To. A. Human.",
    "switch me to a person",
    "can your team take over this chat",
    "I'd like a human to review my case",
    "hey can i get a real rep",
    "need to talk with customer support directly",
    "Could you get a manager on the line",
    "a human, please!",
    "live support please",
    "I need to talk to someone at your company",
    "please have an engineer contact me",
    "can a person call me back",
    "chat with staff",
]
HELD_OUT_OTHERS = [
    "how do I add a second person as account owner",
    "my mailbox is full",
    "can I pay with PayPal",
    "what is the agent forwarding option in SSH",
    "my site got slower after the update",
    "how do humans verify domain ownership",
    "where do I set the reply-to address",
    "I need help setting up SPF",
    "can my web designer get access",
    "do you host Django apps",
    "my contact form emails never arrive",
    "how do I park a domain",
    "can I speak at your conference",
    "the staff page on my site is broken",
    "can I have more than one site on my plan",
    "what's the difference between shared and VPS",
    "how do I block a person from my forum",
    "is the live chat plugin compatible with your hosting",
    "my customers say the checkout fails",
    "how do I schedule a backup",
]
HELD_OUT_IDENTITY = [
    "are you a person or a machine?",
    "Am I talking to a bot?",
    "is this a real person?",
    "are you human?",
    "r u a bot",
    "hello? is anyone there?",
    "who am I chatting with?",
    "Just curious, is this chat automated?",
    "you're an AI, aren't you?",
    "human or bot?",
]
NONSENSE = [
    "a",
    "aaa",
    "aaaaaaaaaaaa",
    "A",
    "asdfghjkl",
    "jkjkjk",
    "qwertyuiop",
    "sdfsdf sdf",
    "zxcv",
    "k",
]


def test_held_out_lists_are_not_training_data() -> None:
    training = {t.casefold() for t in (*POSITIVE_EXAMPLES, *NEGATIVE_EXAMPLES)}
    assert not training & {t.casefold() for t in HELD_OUT_REQUESTS + HELD_OUT_OTHERS}


@pytest.mark.parametrize("text", HELD_OUT_IDENTITY)
def test_questions_about_the_assistant_are_not_requests(text: str) -> None:
    """Issue 12: "am I talking to a bot?" fired at p 0.97; it is answered and offered instead."""
    res = detector_for((), 0.5).detect(text)
    assert not res.fired and res.about_assistant


def test_a_question_about_the_assistant_next_to_a_request_still_fires() -> None:
    res = detector_for((), 0.5).detect("Am I talking to a bot? Get me a real person.")
    assert res.fired and res.about_assistant
    assert res.sentence == "Get me a real person."


@pytest.mark.parametrize("text", NONSENSE)
def test_nonsense_is_not_a_request(text: str) -> None:
    """Issue 12: "a" and "aaa" scored p 0.6 from character n-grams and the prior alone."""
    res = detector_for((), 0.5).detect(text)
    assert not res.fired and not res.known_words


def test_recall_and_false_positive_rate_on_held_out_phrasings() -> None:
    detector = detector_for((), 0.5)
    missed = [t for t in HELD_OUT_REQUESTS if not detector.detect(t).fired]
    false = [t for t in HELD_OUT_OTHERS if detector.detect(t).fired]
    recall = 1 - len(missed) / len(HELD_OUT_REQUESTS)
    fp_rate = len(false) / len(HELD_OUT_OTHERS)
    assert recall >= 0.9, missed
    assert fp_rate <= 0.1, false


def test_operator_examples_extend_the_classifier() -> None:
    """A hotel-style operator calls its people "concierges"; its examples teach that."""
    unseen = "ring the concierge"
    assert not detector_for((), 0.5).detect(unseen).fired
    examples = ("concierge desk", "I want my account concierge", "connect me to the concierge")
    assert detector_for(examples, 0.5).detect(unseen).fired
