"""The operator's model, words and request routing, without Textual: the policy in words,
the draft's edits, a policy changed elsewhere, and answers routed by ``request_id``."""

from __future__ import annotations

from handoff_server.protocol_operator import (
    OPolicyValidate,
    PolicyChange,
    PolicyProblem,
    SPolicyHistory,
)
from handoff_tui.messages import OperatorRefused, OperatorReply
from handoff_tui.model import OperatorModel
from handoff_tui.model.operator import get_at, norm_loc, set_at
from handoff_tui.model.policy_text import (
    change_text,
    condition_text,
    flat_changes,
    inline_toml,
    parse_inline_toml,
    rule_text,
)
from handoff_tui.services.client import parse_frame
from handoff_tui.services.operator import OperatorRequests
from tests.operator_fixtures import history, policy


def test_conditions_read_as_words() -> None:
    cond = {
        "all": [
            {"trigger": "keyword"},
            {"confidence": {"ge": 0.3, "lt": 0.7}},
            {"not": {"visitor": {"field": "plan", "in": ["pro", "agency"]}}},
            {"any": [{"page_url": "*/pricing*"}, {"business_hours": False}]},
        ]
    }
    assert condition_text(cond) == (
        "(a keyword matched and confidence ≥ 0.3 and confidence < 0.7 and "
        'not visitor plan is one of ["pro", "agency"] and '
        "(page URL like '*/pricing*' or outside business hours))"
    )
    assert condition_text({"intent": "billing_dispute"}) == "intent is 'billing_dispute'"
    assert condition_text({"keyword": "*"}) == "any keyword matched"
    assert condition_text({"exchanges": {"ge": 3}}) == "exchanges ≥ 3"
    rule = {"name": "vip", "when": {"visitor": {"field": "plan", "eq": "vip"}}, "priority": 3,
            "team": "vip", "action": "escalate"}  # fmt: skip
    assert rule_text(rule) == "when visitor plan = 'vip' → escalate (priority 3, team vip)"


def test_an_unknown_condition_shows_as_its_json() -> None:
    assert condition_text({"weather": "rain"}) == '{"weather": "rain"}'
    assert condition_text({"a": 1, "b": 2}) == '{"a": 1, "b": 2}'


def test_inline_toml_round_trips_a_condition() -> None:
    cond = {"all": [{"trigger": "keyword"}, {"visitor": {"field": "plan", "in": ["a b", 'q"']}}]}
    text = inline_toml(cond)
    assert text == (
        '{ all = [{ trigger = "keyword" }, { visitor = { field = "plan", in = ["a b", "q\\""] } }] }'
    )
    assert parse_inline_toml(text) == cond


def test_bad_inline_toml_says_why() -> None:
    try:
        parse_inline_toml("{ trigger = keyword }")
    except ValueError as exc:
        assert "not a TOML value" in str(exc)
    else:
        raise AssertionError("accepted a bare word")


def test_changes_between_two_policies() -> None:
    before = {"threshold": 0.7, "keyword": {"phrases": ["a"]}, "rules": [{"name": "x"}]}
    after = {"threshold": 0.6, "keyword": {"phrases": ["a", "b"]}, "rules": [{"name": "y"}]}
    changes = flat_changes(before, after)
    assert [change_text(c) for c in changes] == [
        "threshold: 0.7 → 0.6",
        'keyword.phrases: ["a"] → ["a", "b"]',
        "rules[0].name: 'x' → 'y'",
    ]
    assert change_text(PolicyChange(path="keyword.teams.x", after="billing")) == (
        "+ keyword.teams.x: 'billing'"
    )


def test_locations_and_edits() -> None:
    assert norm_loc(["rules", "2", "when", "all_", 0, "not_"]) == (
        "rules",
        2,
        "when",
        "all",
        0,
        "not",
    )
    body: dict = {"human_request": False, "rules": [{"name": "a"}]}
    set_at(body, ("human_request", "min_probability"), 0.9)
    set_at(body, ("rules", 0, "team"), "vip")
    set_at(body, ("business_hours", "days"), ["mon"])
    assert body == {
        "human_request": {"enabled": False, "min_probability": 0.9},
        "rules": [{"name": "a", "team": "vip"}],
        "business_hours": {"days": ["mon"]},
    }
    assert get_at(body, ("rules", 0, "team")) == "vip"
    assert get_at(body, ("rules", 5, "team"), "none") == "none"


def test_the_draft_keeps_edits_when_the_policy_changes_elsewhere() -> None:
    op = OperatorModel()
    assert op.policy_arrived(policy(4)) == "loaded"
    assert op.draft.base_version == 4 and not op.draft.dirty
    assert not op.draft.set(("threshold",), 0.7)  # the same value is no edit
    assert op.draft.set(("threshold",), 0.6)
    assert op.draft.dirty and not op.draft.checked
    # Another operator applies version 5: the edit is kept and the newer version noted.
    assert op.policy_arrived(policy(5, threshold=0.8)) == "kept_edits"
    assert op.draft.body["threshold"] == 0.6 and op.draft.newer is not None
    assert op.draft.newer.version == 5
    assert op.policy_arrived(policy(5, threshold=0.8)) == "same"
    assert op.generation == 2 and op.history is None and op.what_if is None
    assert op.reload()
    assert op.draft.body["threshold"] == 0.8 and op.draft.base_version == 5
    assert not op.draft.dirty and op.draft.newer is None
    # Without edits a new version simply replaces what is shown.
    assert op.policy_arrived(policy(6, threshold=0.5)) == "loaded"
    assert op.draft.body["threshold"] == 0.5


def test_problems_are_found_under_their_location() -> None:
    op = OperatorModel()
    op.policy_arrived(policy())
    op.validated(
        [
            PolicyProblem(loc=["threshold"], message="too big"),
            PolicyProblem(loc=["rules", "1", "when", "intent"], message="unknown intent"),
        ]
    )
    assert op.draft.problems_under(("rules",)) == [
        (("rules", 1, "when", "intent"), "unknown intent")
    ]
    assert op.draft.problems_under(("threshold",)) == [(("threshold",), "too big")]


class _Asker:
    """Records what is posted to it, as a widget's message queue would."""

    def __init__(self) -> None:
        self.got: list[object] = []

    def post_message(self, message: object) -> bool:
        self.got.append(message)
        return True


def test_answers_go_back_to_whoever_asked() -> None:
    sent: list[object] = []
    up = [True]
    requests = OperatorRequests(sent.append, lambda: up[0])
    first, second = _Asker(), _Asker()
    rid1 = requests.ask(first, OPolicyValidate, type="policy_validate", policy={})
    rid2 = requests.ask(second, OPolicyValidate, type="policy_validate", policy={})
    assert rid1 != rid2 and [f.request_id for f in sent] == [rid1, rid2]
    answer = SPolicyHistory(versions=[], request_id=rid2)
    assert requests.answered(rid2, answer)
    assert not requests.answered(rid2, answer)  # answered once
    assert not requests.answered("op-999", answer)  # not ours
    assert requests.refused(rid1, "forbidden", "operators only")
    assert isinstance(second.got[0], OperatorReply) and second.got[0].frame is answer
    assert isinstance(first.got[0], OperatorRefused) and first.got[0].code == "forbidden"
    # Requests in flight when the link drops are refused; none are sent while it is down.
    rid3 = requests.ask(first, OPolicyValidate, type="policy_validate", policy={})
    assert requests.fail_all("connection lost") == 1
    up[0] = False
    requests.ask(first, OPolicyValidate, type="policy_validate", policy={})
    assert len(sent) == 3
    codes = [(m.request_id, m.code) for m in first.got[1:]]
    assert codes[0] == (rid3, "not_connected") and codes[1][1] == "not_connected"


def test_the_client_reads_operator_frames_and_skips_unknown_ones() -> None:
    frame = parse_frame(policy().model_dump_json())
    assert frame == policy()
    error = parse_frame(
        '{"type": "error", "code": "conflict", "detail": "x", "request_id": "op-1"}'
    )
    assert error is not None and error.request_id == "op-1"  # type: ignore[attr-defined]
    assert parse_frame('{"type": "from_the_future"}') is None
    assert parse_frame("not json") is None


def test_history_pages_add_up_and_stale_pages_are_dropped() -> None:
    versions = history().versions  # 4, 3, 2, 1
    op = OperatorModel()
    op.history_asked("op-1", first=True)
    assert "history" in op.loading
    assert op.history_page(SPolicyHistory(versions=versions[:2], more=True), "op-1") == 3
    op.history_asked("op-2", first=False)
    assert op.history_page(SPolicyHistory(versions=versions[:2], more=True), "op-1") is None
    assert op.history_page(SPolicyHistory(versions=versions[2:], more=False), "op-2") is None
    assert [v.version for v in op.history or []] == [4, 3, 2, 1]
    assert "history" not in op.loading and op.history_wait is None
    # A reload starts the list again; a new policy drops the pages still coming.
    op.history_asked("op-3", first=True)
    assert op.history_page(SPolicyHistory(versions=versions[:1], more=True), "op-3") == 4
    op.history_asked("op-4", first=False)
    op.policy_arrived(policy(version=5))
    assert op.history is None and "history" not in op.loading
    assert op.history_page(SPolicyHistory(versions=versions[1:], more=False), "op-4") is None
    assert op.history is None
