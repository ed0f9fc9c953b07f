"""Webhook settings that would stop or break delivery are refused when the settings are
read (``bad_config``, naming the key), from a TOML file and through the CLI: numbers
must be finite and in range (TOML allows ``inf`` and ``nan``; ``timeout_seconds = inf``
stopped every webhook), endpoint URLs absolute http(s) URLs with a host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from handoff_server.config import load_settings
from handoff_server.errors import ConfigError
from tests.helpers import run_handoff
from tests.server.test_webhooks import SECRET, free_port


@pytest.mark.parametrize(
    ("webhooks", "key", "needle"),
    [
        ("timeout_seconds = inf", "webhooks.timeout_seconds", "finite number"),
        ("timeout_seconds = nan", "webhooks.timeout_seconds", "finite number"),
        ("timeout_seconds = 1e308", "webhooks.timeout_seconds", "less than or equal to 600"),
        ("retry_schedule_seconds = [5.0, inf]", "webhooks.retry_schedule_seconds.1", "finite"),
        ("retry_schedule_seconds = [nan]", "webhooks.retry_schedule_seconds.0", "finite"),
        ("retry_schedule_seconds = [5.0, -1.0]", "webhooks.retry_schedule_seconds.1", "greater"),
        ("retry_schedule_seconds = [0.0]", "webhooks.retry_schedule_seconds.0", "greater"),
        ("retry_schedule_seconds = [1e300]", "webhooks.retry_schedule_seconds.0", "2592000"),
    ],
)
def test_webhook_numbers_must_be_finite_and_positive(tmp_path: Path, webhooks, key, needle):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[webhooks]\n{webhooks}\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(cfg)
    assert exc.value.code == "bad_config"
    line = next(x for x in str(exc.value).splitlines() if x.strip().startswith(key + ":"))
    assert needle in line, str(exc.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://:8080/hook",
        "http://?x=1",
        "https://@/hook",
        "https://hooks.example.com:99999/",
        "https://hooks.example.com:0/",
        "http://[::1/hook",
        "http://hooks.example.com/a b",
        "http://hooks.example.com/\x1b[2J",
    ],
)
def test_an_endpoint_url_needs_a_host(tmp_path: Path, url: str):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[[webhooks.endpoints]]\nurl = {json.dumps(url)}\nsecret = "{SECRET}"\n')
    with pytest.raises(ConfigError) as exc:
        load_settings(cfg)
    assert exc.value.code == "bad_config"
    assert "webhooks.endpoints.0.url: Value error, must be an absolute http:// or https://" in str(
        exc.value
    )


async def test_the_cli_refuses_an_infinite_timeout_like_any_bad_config(tmp_path: Path):
    # `inf` used to be taken: `handoff webhooks test` then tried to post (exit 1), and
    # a server with it posted nothing at all.
    cfg = tmp_path / "c.toml"
    url = f"http://127.0.0.1:{free_port()}/hook"
    cfg.write_text(
        "[webhooks]\ntimeout_seconds = inf\n[[webhooks.endpoints]]\n"
        f'url = "{url}"\nsecret = "{SECRET}"\nallow_private = true\n'
    )
    done = await run_handoff("webhooks", "test", "--config", str(cfg))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("error[bad_config]: invalid configuration in ")
    assert "webhooks.timeout_seconds: Input should be a finite number" in done.stderr
