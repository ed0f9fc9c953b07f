"""Files a person names to the CLI (a policy, a config, a KB, questions): ``handoff
policy import /dev/zero`` read until memory ran out, a FIFO would block for ever, and a
file saved with a UTF-8 byte-order mark (as Windows editors do) was "not valid TOML".
Now only a regular file is read, at most a bounded size of it, and a leading BOM is
dropped (``handoff_server.userfiles``). The real CLI runs as a separate process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import run_handoff

BOM = "\ufeff"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
async def test_a_device_a_fifo_or_a_huge_file_is_refused_not_read(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    fifo = tmp_path / "policy.toml"
    os.mkfifo(fifo)
    os.mkfifo(tmp_path / "kb.csv")
    huge = tmp_path / "huge.toml"
    huge.write_text(" " * (4 * 1024 * 1024 + 1))
    refusals = [
        (["policy", "import", "/dev/zero", *data], 1, "/dev/zero: cannot read: not a regular file"),
        (["policy", "import", str(fifo), *data], 1, "cannot read: not a regular file"),
        (["policy", "import", str(huge), *data], 1, "cannot read: larger than 4 MiB"),
        (["serve", "--config", "/dev/zero", *data], 2, "error[bad_config]: cannot read config file /dev/zero: not a regular file"),
        (["kb", "check", str(tmp_path / "kb.csv")], 1, "cannot read: not a regular file"),
    ]  # fmt: skip
    for args, code, said in refusals:
        done = await run_handoff(*args, timeout=30)
        assert done.returncode == code and said in done.stderr, (args, done)
        assert "Traceback" not in done.stderr


async def test_files_with_a_utf8_byte_order_mark_are_read(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    toml = tmp_path / "policy.toml"
    toml.write_text(BOM + "threshold = 0.6\n", encoding="utf-8")
    as_json = tmp_path / "policy.json"
    as_json.write_text(BOM + '{"threshold": 0.55}', encoding="utf-8")
    for path, threshold in ((toml, "0.6"), (as_json, "0.55")):
        done = await run_handoff("policy", "import", str(path), *data)
        assert done.returncode == 0, done
        shown = await run_handoff("policy", "export", "--json", *data)
        assert f'"threshold": {threshold}' in shown.stdout, shown
    config = tmp_path / "handoff.toml"
    config.write_text(BOM + "[policy]\nthreshold = 0.65\n", encoding="utf-8")
    shown = await run_handoff(
        "policy", "export", "--json", "--config", str(config), "--data-dir", str(tmp_path / "d2")
    )
    assert shown.returncode == 0 and '"threshold": 0.65' in shown.stdout, shown
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "domains.md").write_text(
        BOM
        + "---\nid: renew\ntitle: Renewing a domain\nquestions:\n  - how do I renew my domain\n---\n"
        "# Renewing a domain\n\nOpen Domains and press Renew.\n",
        encoding="utf-8",
    )
    checked = await run_handoff("kb", "check", str(kb))
    assert checked.returncode == 0, checked
