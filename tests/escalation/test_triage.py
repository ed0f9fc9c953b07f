"""``handoff triage`` through typer's CliRunner, on the bundled demo KB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handoff_cli.main import app
from handoff_server.escalation import Policy
from handoff_server.store import SQLiteStore

runner = CliRunner()
TRIGGERS = {
    "low_confidence",
    "keyword",
    "human_request",
    "sentiment",
    "intent",
    "kb_entry",
    "unresolved_exchanges",
    "ai_error",
    "rule",
    None,
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir per module so the demo KB index is built once and cached."""
    return tmp_path_factory.mktemp("triage")


def triage(data_dir: Path, *args: str) -> dict:
    result = runner.invoke(app, ["triage", "--json", "--data-dir", str(data_dir), *args])
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_keyword_bypasses_confidence(data_dir: Path) -> None:
    out = triage(data_dir, "I want to CANCEL my account!")
    assert out["escalate"] is True
    assert out["trigger"] == "keyword"
    assert out["detail"] == "keyword 'cancel account' matched 'CANCEL my account'"
    assert 0.0 <= out["confidence"] <= 1.0
    assert out["candidates"] and out["entry_id"] == out["candidates"][0]["entry_id"]
    kinds = [e["trigger"] for e in out["evaluations"]]
    assert len(kinds) == 8 and "low_confidence" in kinds
    low = next(e for e in out["evaluations"] if e["trigger"] == "low_confidence")
    assert low["value"] == out["confidence"] and low["threshold"] == 0.7


def test_human_request_first_message(data_dir: Path) -> None:
    out = triage(data_dir, "can I talk to a person please?")
    assert (out["escalate"], out["trigger"]) == (True, "human_request")


@pytest.mark.parametrize(
    "question", ["am I talking to a bot?", "is this a real person?", "are you human?"]
)
def test_question_about_the_assistant_is_answered_and_offered(
    data_dir: Path, question: str
) -> None:
    """Issue 12: identity questions fired human_request (p 0.97). Triage answers them the
    way the server does: the honest reply, confidence 1.0, and the offer of a person."""
    out = triage(data_dir, question)
    assert (out["escalate"], out["action"], out["trigger"]) == (False, "offer_handoff", None)
    assert out["answer"].startswith("I'm an AI assistant, not a person")
    assert out["confidence"] == 1.0
    human = next(e for e in out["evaluations"] if e["trigger"] == "human_request")
    assert human["fired"] is False and "about the assistant" in human["detail"]


@pytest.mark.parametrize("question", ["a", "aaa", "aaaaaaaaaaaa", "asdfghjkl"])
def test_nonsense_is_low_confidence_and_nothing_else(data_dir: Path, question: str) -> None:
    """Issue 12: one-letter and mashed messages reached agents as "asked for a person"."""
    out = triage(data_dir, question)
    fired = [e["trigger"] for e in out["evaluations"] if e["fired"]]
    assert fired == ["low_confidence"]
    assert (out["trigger"], out["team"], out["priority"]) == ("low_confidence", None, 0)


def test_request_in_the_middle_of_a_long_message(data_dir: Path) -> None:
    """Issue 12: the classifiers read only the first and last 500 characters."""
    filler = "My store runs on WordPress with a few plugins and the theme is customised. "
    text = filler * 10 + "Honestly I would rather talk to a real person about this. " + filler * 10
    assert len(text) > 1500
    out = triage(data_dir, text)
    assert (out["escalate"], out["trigger"]) == (True, "human_request")
    assert "talk to a real person" in out["detail"]


def test_negated_topic_does_not_escalate_through_its_entry(data_dir: Path) -> None:
    """Issue 12: "I don't want to cancel my account, just update my email" must not
    escalate through the account-closing entry or the "cancel account" keyword."""
    out = triage(data_dir, "I don't want to cancel my account, just update my email")
    fired = {e["trigger"] for e in out["evaluations"] if e["fired"]}
    assert not fired & {"keyword", "kb_entry", "intent", "human_request", "sentiment"}
    assert out["team"] is None


def test_out_of_scope_question_is_low_confidence(data_dir: Path) -> None:
    out = triage(data_dir, "what's a good recipe for banana bread")
    assert out["escalate"] is True
    assert out["trigger"] == "low_confidence"
    assert out["detail"].startswith(f"confidence {out['confidence']:.2f} < threshold 0.70")


def test_every_trigger_name_is_from_the_contract(data_dir: Path) -> None:
    for q in ["how do I point my domain to you", "this is useless 😡", "agent please"]:
        out = triage(data_dir, q)
        assert out["trigger"] in TRIGGERS
        assert out["escalate"] == (out["action"] == "escalate")


def test_policy_file_and_visitor_fields(data_dir: Path, tmp_path: Path) -> None:
    pol = tmp_path / "p.toml"
    pol.write_text(
        "threshold = 0.0\n"
        '[[rules]]\nname = "enterprise"\naction = "escalate"\nteam = "enterprise"\npriority = 5\n'
        'when = { visitor = { field = "plan", eq = "enterprise" } }\n'
    )
    out = triage(
        data_dir,
        "what's a good recipe for banana bread",
        "--policy",
        str(pol),
        "--visitor",
        "plan=enterprise",
    )
    assert (out["trigger"], out["team"], out["priority"]) == ("rule", "enterprise", 5)
    assert out["policy"] == str(pol)
    out = triage(data_dir, "what's a good recipe for banana bread", "--policy", str(pol))
    assert out["escalate"] is False and out["action"] == "continue"


def test_stored_policy_is_used(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path)
    store.save_policy(Policy(keyword={"phrases": ["banana bread"]}).to_data(), "ops")
    store.close()
    out = triage(tmp_path, "a recipe for BANANA breads please")
    assert (out["trigger"], out["policy"], out["policy_version"]) == ("keyword", "store v1", 1)


def test_history_counts_repeats(data_dir: Path) -> None:
    q = "how do I set up email on my iphone"
    out = triage(data_dir, q, "--history", q, "--history", q)
    unresolved = next(e for e in out["evaluations"] if e["trigger"] == "unresolved_exchanges")
    assert unresolved["value"] == 3 and unresolved["fired"] is True


def test_readable_summary(data_dir: Path) -> None:
    result = runner.invoke(app, ["triage", "--data-dir", str(data_dir), "agent please"])
    assert result.exit_code == 0
    assert result.stdout.startswith("ESCALATE — human_request: visitor asked for a person")
    assert "FIRED human_request" in result.stdout
    assert "low_confidence" in result.stdout
    # The AI's answer is shown for the analysis, marked as never sent on a handoff.
    answer_line = next(x for x in result.stdout.splitlines() if x.startswith("answer ("))
    assert answer_line.endswith(", not sent: the conversation goes to a person):")


def test_an_answer_the_visitor_gets_is_not_marked_unsent(data_dir: Path) -> None:
    result = runner.invoke(
        app, ["triage", "--data-dir", str(data_dir), "How do I reset my password?"]
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.startswith("AI ANSWERS")
    answer_line = next(x for x in result.stdout.splitlines() if x.startswith("answer ("))
    assert "not sent" not in answer_line


def test_bad_inputs(data_dir: Path, tmp_path: Path) -> None:
    for text in ("   ", "\u0300", "\ue000 \U0001d159"):
        result = runner.invoke(app, ["triage", "--data-dir", str(data_dir), text])
        assert result.exit_code == 2 and "error[empty_message]" in result.stderr, text
    result = runner.invoke(app, ["triage", "--data-dir", str(data_dir), "--visitor", "plan", "hi"])
    assert result.exit_code == 2 and "error[invalid_option]" in result.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"threshold": 7}))
    result = runner.invoke(app, ["triage", "--data-dir", str(data_dir), "--policy", str(bad), "hi"])
    assert result.exit_code == 1 and "threshold:" in result.stderr
    result = runner.invoke(app, ["triage", "--data-dir", str(data_dir), "--engine", "nope", "hi"])
    assert result.exit_code == 2 and "error[bad_engine]" in result.stderr


@pytest.mark.parametrize(
    "question",
    [
        "hackers got into our shop and downloaded the customer list",
        "someone accessed our control panel who had no business being there",
    ],
)
def test_breach_report_without_the_words_goes_to_security(data_dir: Path, question: str) -> None:
    """Issue 12: breach reports without the words "data breach" reached agents only as low
    confidence, with no team."""
    out = triage(data_dir, question)
    assert (out["escalate"], out["trigger"], out["intent"]) == (True, "intent", "security_incident")
    assert (out["team"], out["priority"]) == ("security", 2)
