"""The operator's frames as a contract: what they accept and refuse."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from handoff_server.protocol_operator import (
    OperatorFrame,
    OperatorServerFrame,
    OPolicyApply,
    SPolicyValidation,
    SWhatIf,
)

_requests: TypeAdapter[OperatorFrame] = TypeAdapter(OperatorFrame)
_answers: TypeAdapter[OperatorServerFrame] = TypeAdapter(OperatorServerFrame)


def test_a_policy_apply_carries_the_policy_as_its_toml_object() -> None:
    frame = _requests.validate_python(
        {
            "type": "policy_apply",
            "request_id": "r1",
            "client_msg_id": "c1",
            "base_version": 3,
            "policy": {"threshold": 0.6, "rules": [{"when": {"confidence_below": 0.5}}]},
        }
    )
    assert isinstance(frame, OPolicyApply)
    assert frame.policy["threshold"] == 0.6
    assert frame.base_version == 3


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "policy_apply", "client_msg_id": "c1", "policy": {}},  # no base_version
        {"type": "policy_get", "extra": 1},
        {"type": "what_if", "policy": {}, "examples": 51},
        {"type": "policy_rollback", "client_msg_id": "c", "version": 0, "base_version": 1},
        {"type": "policy_get", "request_id": "has space"},
        {
            "type": "kb_entry_create",
            "client_msg_id": "c",
            "entry": {"id": "../etc", "title": "t", "questions": ["q"], "answer": "a"},
        },
        {
            "type": "kb_entry_create",
            "client_msg_id": "c",
            "entry": {"id": "ok", "title": "t", "questions": [], "answer": "a"},
        },
        {"type": "analytics", "team": "bad team"},
    ],
)
def test_malformed_operator_requests_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _requests.validate_python(bad)


def test_answers_round_trip_through_json() -> None:
    answer = SWhatIf(
        request_id="r9",
        turns=10,
        conversations=4,
        current={
            "conversations": 4,
            "contained": 3,
            "escalated": 1,
            "containment_rate": 0.75,
            "by_trigger": {"low_confidence": 1},
        },
        proposed={
            "conversations": 4,
            "contained": 4,
            "escalated": 0,
            "containment_rate": 1.0,
            "by_trigger": {},
        },
        escalated_to_contained=1,
        contained_to_escalated=0,
        examples=[],
    )
    again = _answers.validate_json(answer.model_dump_json())
    assert again == answer
    invalid = SPolicyValidation(ok=False, problems=[{"loc": ["rules", 2, "team"], "message": "x"}])
    assert _answers.validate_json(invalid.model_dump_json()) == invalid
