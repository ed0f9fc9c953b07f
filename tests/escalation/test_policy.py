"""Policy data: validation lists every problem; round trips; the policy CLI on a real store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handoff_cli.main import app
from handoff_server.config import load_settings
from handoff_server.errors import ConfigError, PolicyError
from handoff_server.escalation import Policy, TurnContext, decide, parse_policy
from handoff_server.escalation.engine import compile_policy
from handoff_server.store import SQLiteStore

runner = CliRunner()


def test_defaults_reproduce_the_recommended_setup() -> None:
    p = Policy()
    assert p.threshold == 0.70
    assert p.keyword.phrases == ["cancel account", "data breach", "speak to manager"]
    assert p.unresolved_exchanges.count == 3
    fired_by_rules = [r.when.trigger for r in p.rules]
    assert set(fired_by_rules) >= {
        "human_request",
        "keyword",
        "sentiment",
        "unresolved_exchanges",
        "low_confidence",
    }
    assert all(r.action == "escalate" for r in p.rules)


def test_every_problem_is_listed() -> None:
    bad = {
        "threshold": 1.5,
        "sentiment": {"threshold": -2},
        "unresolved_exchanges": {"count": 0},
        "keyword": {"phrases": ["ok", "!!!"]},
        "business_hours": {"timezone": "Mars/Olympus"},
        "rules": [
            {"name": "a", "when": {"confidence": {"lt": 0.5}, "intent": "x"}},
            {"name": "b", "when": {"visitor": {"field": "plan"}}},
            {"name": "c", "when": {"page_url": {"regex": "("}}},
            {"name": "d", "when": {"confidence": {}}, "action": "explode"},
        ],
        "typo_key": True,
    }
    with pytest.raises(PolicyError) as info:
        parse_policy(bad)
    problems = info.value.problems
    expected = [
        "threshold:",
        "sentiment.threshold:",
        "unresolved_exchanges.count:",
        "keyword.phrases:",
        "business_hours.timezone:",
        "rules.0.when:",
        "rules.1.when.visitor:",
        "rules.2.when.page_url:",
        "rules.3.when.confidence:",
        "rules.3.action:",
        "typo_key:",
    ]
    for prefix in expected:
        assert any(p.startswith(prefix) for p in problems), (prefix, problems)
    assert info.value.code == "bad_policy"


def test_cross_reference_problems_are_all_listed() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(
            {
                "intent": {
                    "categories": [
                        {"name": "billing", "examples": ["refund"]},
                        {"name": "billing", "examples": ["charge"]},
                    ]
                },
                "rules": [
                    {"name": "r", "when": {"intent": "legal"}},
                    {
                        "name": "r",
                        "when": {"any": [{"keyword": "not a phrase"}, {"trigger": "keyword"}]},
                    },
                ],
            }
        )
    text = "\n".join(info.value.problems)
    assert "rules.1.name: duplicate rule name 'r'" in text
    assert "duplicate intent name 'billing'" in text
    assert "rules.0.when.intent: unknown intent 'legal'" in text
    assert "rules.1.when.any.0.keyword: 'not a phrase' is not one of keyword.phrases" in text


def test_not_a_table() -> None:
    with pytest.raises(PolicyError, match="a policy is a table"):
        parse_policy(["threshold", 0.5])


def test_round_trip_through_data_and_the_lead_store_format() -> None:
    p = parse_policy(
        {
            "threshold": 0.6,
            "rules": [
                {
                    "name": "x",
                    "when": {
                        "all": [
                            {"visitor": {"field": "plan", "in": ["a", "b"]}},
                            {"not": {"page_url": "*/docs/*"}},
                        ]
                    },
                    "action": "offer_handoff",
                },
            ],
        }
    )
    assert parse_policy(p.to_data()) == p
    # The server stores model_dump(mode="json") (field names, not aliases); both read back.
    assert Policy.model_validate(p.model_dump(mode="json", exclude={"version"})) == p
    assert parse_policy(p.to_data(), version=7).version == 7


def test_bool_shorthand_for_human_request() -> None:
    assert Policy(human_request=False).human_request.enabled is False


def test_config_file_policy_table(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[policy]\nthreshold = 0.8\n[policy.keyword]\nphrases = ["refund now"]\n')
    s = load_settings(cfg)
    assert s.policy.threshold == 0.8 and s.policy.keyword.phrases == ["refund now"]
    cfg.write_text("[policy]\nthreshold = 3\n")
    with pytest.raises(ConfigError, match="policy.threshold"):
        load_settings(cfg)


def test_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_POLICY__THRESHOLD", "0.55")
    assert load_settings(None).policy.threshold == 0.55
    monkeypatch.setenv("HANDOFF_POLICY__THRESHOLD", "NaN")
    with pytest.raises(ConfigError, match="policy.threshold: Input should be a finite number"):
        load_settings(None)
    monkeypatch.setenv("HANDOFF_POLICY__THRESHOLD", "true")
    with pytest.raises(ConfigError, match="policy.threshold: a number is needed here, not text"):
        load_settings(None)


def test_compiled_matchers_are_cached_per_policy_object() -> None:
    p = Policy()
    assert compile_policy(p) is compile_policy(p)
    q = Policy(keyword={"phrases": ["refund now"]})
    assert compile_policy(q) is not compile_policy(p)
    ctx = TurnContext(text="Refund now!", now=datetime(2025, 1, 1, tzinfo=UTC))
    assert decide(q, ctx).trigger == "keyword"
    assert decide(p, ctx).trigger is None


# --- the policy CLI over a real SQLite store ------------------------------------------------


def _invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_show_before_anything_is_stored(tmp_path: Path) -> None:
    code, out, _ = _invoke("policy", "show", "--json", "--data-dir", str(tmp_path))
    assert code == 0
    data = json.loads(out)
    assert data["source"] == "config" and data["version"] is None
    assert data["policy"]["threshold"] == 0.7


def test_export_edit_import_history(tmp_path: Path) -> None:
    d = str(tmp_path / "data")
    code, out, _ = _invoke("policy", "export", "--data-dir", d)
    assert code == 0 and "threshold = 0.7" in out
    edited = tmp_path / "p.toml"
    edited.write_text(out.replace("threshold = 0.7\n", "threshold = 0.8\n", 1))
    code, out, _ = _invoke(
        "policy", "import", str(edited), "--author", "alice", "--data-dir", d, "--json"
    )
    assert code == 0, out
    assert json.loads(out) == {"ok": True, "version": 1, "author": "alice", "changed": True}

    as_json = tmp_path / "p.json"
    code, out, _ = _invoke("policy", "export", "--json", "--data-dir", d, "--out", str(as_json))
    assert code == 0
    body = json.loads(as_json.read_text())
    assert body["threshold"] == 0.8
    body["unresolved_exchanges"]["count"] = 4
    as_json.write_text(json.dumps(body))
    code, out, _ = _invoke("policy", "import", str(as_json), "--author", "bob", "--data-dir", d)
    assert code == 0 and "stored policy v2 by bob" in out

    code, out, _ = _invoke("policy", "history", "--json", "--data-dir", d)
    history = json.loads(out)
    assert [(h["version"], h["author"]) for h in history] == [(1, "alice"), (2, "bob")]
    assert history[1]["policy"]["unresolved_exchanges"]["count"] == 4
    code, out, _ = _invoke("policy", "show", "--data-dir", d)
    assert code == 0 and "policy v2 by bob" in out and "unresolved exchanges: 4" in out


def test_bad_import_lists_every_problem_and_keeps_the_running_policy(tmp_path: Path) -> None:
    d = tmp_path / "data"
    store = SQLiteStore(d)
    store.save_policy(Policy(threshold=0.65).to_data(), "ops")
    store.close()
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'threshold = -1\n[keyword]\nmax_gap = 9\n[[rules]]\nname = "x"\n'
        'when = { visitor = { field = "plan" } }\n'
    )
    code, _, err = _invoke("policy", "import", str(bad), "--data-dir", str(d))
    assert code == 1
    assert "error[bad_policy]" in err
    for where in ("threshold:", "keyword.max_gap:", "rules.0.when.visitor:"):
        assert where in err
    code, out, _ = _invoke("policy", "import", str(bad), "--data-dir", str(d), "--json")
    assert code == 1 and len(json.loads(out)["problems"]) == 3
    store = SQLiteStore(d)
    latest = store.latest_policy()
    assert latest is not None and latest.version == 1 and latest.body["threshold"] == 0.65
    assert len(store.policy_history()) == 1
    store.close()


def test_import_not_toml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("threshold = = 1\n")
    code, _, err = _invoke("policy", "import", str(bad), "--data-dir", str(tmp_path))
    assert code == 1 and "not valid TOML" in err


def test_import_a_whole_config_file_and_dry_run(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[server]\nport = 9000\n[policy]\nthreshold = 0.9\n")
    code, out, _ = _invoke("policy", "import", str(cfg), "--dry-run", "--data-dir", str(tmp_path))
    assert code == 0 and "dry run" in out
    store = SQLiteStore(tmp_path)
    assert store.latest_policy() is None
    store.close()
