"""Configuration: defaults, the documented example, env overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff_server.config import Settings, load_settings
from handoff_server.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def test_example_config_documents_the_defaults():
    assert load_settings(EXAMPLE).model_dump(exclude={"store"}) == Settings().model_dump(
        exclude={"store"}
    )


def test_env_beats_file_and_cli_beats_env(tmp_path, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[server]\nport = 7000\n[policy]\nthreshold = 0.5\n")
    assert load_settings(cfg).server.port == 7000
    assert load_settings(cfg).policy.threshold == 0.5
    monkeypatch.setenv("HANDOFF_SERVER__PORT", "9000")
    assert load_settings(cfg).server.port == 9000
    assert load_settings(cfg, {"server": {"port": 1234}}).server.port == 1234
    monkeypatch.setenv("HANDOFF_CONFIG", str(cfg))
    assert load_settings().policy.threshold == 0.5


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[server\nport=1", "not valid TOML"),
        ("[server]\nport = 'abc'", "server.port"),
        ("[server]\nport = 70000", "server.port"),
        ("[server]\nbogus = 1", "server.bogus"),
        ("[nosuchsection]\nx = 1", "nosuchsection"),
        ("[policy]\nthreshold = 1.5", "policy.threshold"),
        ("[server]\nmetrics_token = 'too-short'", "at least 16 characters"),
        ("[server]\nmetrics_token = 'a token with spaces in it'", "without spaces"),
    ],
)
def test_bad_config_is_refused_with_the_key(tmp_path, text, needle):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_settings(cfg)
    assert needle in str(exc.value) and exc.value.code == "bad_config"


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize("name", ["HANDOFF_POLCY__THRESHOLD", "handoff_sevrer__port"])
def test_a_variable_naming_no_section_is_refused(monkeypatch, name):
    """``HANDOFF_POLCY__THRESHOLD=0.8`` (a typo in the section) was silently ignored and
    the server ran on the default threshold, while a typo in the key
    (``HANDOFF_POLICY__THRESHOLDD``) was refused: both are refused, naming the
    variable; variables that are no settings (``HANDOFF_TOKEN``) are let be."""
    monkeypatch.setenv("HANDOFF_TOKEN", "hnd_x")
    monkeypatch.setenv("HANDOFF_POLICY__THRESHOLD", "0.8")
    assert load_settings().policy.threshold == 0.8
    monkeypatch.setenv(name, "0.8")
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert name in str(exc.value) and exc.value.code == "bad_config"
    assert "policy" in str(exc.value)  # the sections there are are listed
    with pytest.raises(ConfigError):  # settings built without load_settings, too
        Settings()
