"""Times and durations in CLI options at the edge of the calendar: a valid ISO 8601 day
such as ``9999-12-31``, a duration such as ``99999999d`` or ``inf`` seconds overflowed
inside the command and printed a traceback (exit 1). Each is a usage error now:
``error[invalid_option]`` naming the option, exit status 2, run as a person runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_handoff

OUT_OF_RANGE = [
    (["report", "--until", "9999-12-31"], "--until"),
    (["report", "--since", "9999-12-31T23:59:59-14:00"], "--since"),
    (["report", "--since", "0001-01-01T00:00:00+14:00"], "--since"),
    (["report", "--since", "0001-01-01"], "--since"),
    (["token", "create", "--name", "T", "--role", "agent", "--expires-in", "99999999d"], "--expires-in"),
    (["token", "create", "--name", "T", "--role", "agent", "--expires-in", "1e300w"], "--expires-in"),
    (["visit", "--server", "127.0.0.1:9", "--timeout", "nan", "hi"], "--timeout"),
    (["visit", "--server", "127.0.0.1:9", "--linger", "1e300", "hi"], "--linger"),
    (["visit", "--server", "127.0.0.1:9", "--retry-for", "inf", "hi"], "--retry-for"),
    (["demo", "--interval", "inf"], "--interval"),
    (["simulate", "--questions", "q.csv", "--duration", "inf"], "--duration"),
    (["simulate", "--questions", "q.csv", "--think", "nan"], "--think"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "option"), OUT_OF_RANGE)
async def test_an_out_of_range_time_or_duration_is_an_invalid_option(
    tmp_path: Path, args: list[str], option: str
) -> None:
    data = tmp_path / "data"
    made = await run_handoff(
        "token", "create", "--name", "Op", "--role", "operator", "--data-dir", str(data)
    )
    assert made.returncode == 0, made.stderr
    (tmp_path / "q.csv").write_text("question\nhow do I reset my password\n")
    where = ["--data-dir", str(data)] if args[0] in {"report", "token"} else []
    args = [str(tmp_path / a) if a == "q.csv" else a for a in args]
    done = await run_handoff(*args, *where)
    assert done.returncode == 2, done
    assert done.stderr.startswith("error[invalid_option]: ") and option in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


async def test_times_within_the_bounds_still_work(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = await run_handoff(
        "token", "create", "--name", "T", "--role", "agent", "--expires-in", "36500d",
        "--data-dir", str(data),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    report = await run_handoff(
        "report", "--since", "1970-01-02", "--until", "2999-12-30", "--data-dir", str(data)
    )
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith("0 conversations"), report.stdout
