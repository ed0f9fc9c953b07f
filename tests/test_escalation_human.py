"""The human-request classifier on phrasings it was never trained on.

These lists were written after the training examples were fixed and are not used to tune
anything; the test pins the measured recall and false-positive rate.
"""

from __future__ import annotations

from handoff_server.escalation.human import NEGATIVE_EXAMPLES, POSITIVE_EXAMPLES, detector_for

HELD_OUT_REQUESTS = [
    "could I be connected to a human agent?", "I demand to talk to a real person",
    "real people only please", "pls give me an agent", "Is there somebody I can speak to?",
    "I want to reach a member of your support staff", "Talk. To. A. Human.",
    "switch me to a person", "can your team take over this chat",
    "I'd like a human to review my case", "are you a person or a machine?",
    "hey can i get a real rep", "need to talk with customer support directly",
    "Could you get a manager on the line", "a human, please!", "live support please",
    "I need to talk to someone at your company", "please have an engineer contact me",
    "can a person call me back", "chat with staff",
]
HELD_OUT_OTHERS = [
    "how do I add a second person as account owner", "my mailbox is full", "can I pay with PayPal",
    "what is the agent forwarding option in SSH", "my site got slower after the update",
    "how do humans verify domain ownership", "where do I set the reply-to address",
    "I need help setting up SPF", "can my web designer get access", "do you host Django apps",
    "my contact form emails never arrive", "how do I park a domain", "can I speak at your conference",
    "the staff page on my site is broken", "can I have more than one site on my plan",
    "what's the difference between shared and VPS", "how do I block a person from my forum",
    "is the live chat plugin compatible with your hosting", "my customers say the checkout fails",
    "how do I schedule a backup",
]


def test_held_out_lists_are_not_training_data() -> None:
    training = {t.casefold() for t in (*POSITIVE_EXAMPLES, *NEGATIVE_EXAMPLES)}
    assert not training & {t.casefold() for t in HELD_OUT_REQUESTS + HELD_OUT_OTHERS}


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
