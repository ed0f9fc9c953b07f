"""``handoff policy show|history|export|import``: the stored, versioned escalation policy.

The server reads the newest stored version on every visitor turn, so an import applies to
each conversation's next turn without a restart. Before anything is stored, the policy
is the one in the config file (``[policy]`` table).
"""

from __future__ import annotations

import getpass
import json
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any

import tomli_w
import typer

from handoff_cli.common import (
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    StoreOpt,
    fail,
    print_json,
    settings_from,
)
from handoff_cli.output import echo, escape_serialized, one_line
from handoff_server.errors import PolicyError, StoredPolicyInvalid
from handoff_server.escalation import Policy, parse_policy
from handoff_server.policies import (
    import_policy,
    policy_history,
    policy_in_force,
)
from handoff_server.store import PolicyRecord
from handoff_server.userfiles import CONFIG_FILE_BYTES, read_user_text

policy_app = typer.Typer(
    help="Show, export and import the escalation policy. Every version is kept.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

AuthorOpt = Annotated[
    str | None,
    typer.Option("--author", metavar="NAME", help="Who made the change (default: the login name)."),
]


def _current(
    config: Path | None, data_dir: Path | None, store_url: str | None = None
) -> tuple[Policy, PolicyRecord | None]:
    """The policy in force: the newest stored version, else the config file's."""
    settings = settings_from(config, {"store": {"data_dir": data_dir, "url": store_url}})
    try:
        current = policy_in_force(settings)
    except StoredPolicyInvalid as exc:
        fail(f"stored policy v{exc.version} is invalid:\n{exc}", exc.code)
    return current.policy, current.record


def _meta(record: PolicyRecord | None) -> dict[str, Any]:
    if record is None:
        return {"version": None, "author": None, "created_at": None, "source": "config"}
    return {
        "version": record.version,
        "author": record.author,
        "created_at": record.created_at.isoformat(),
        "source": "store",
    }


@policy_app.command("show")
def show(
    json_out: JsonOpt = False,
    data_dir: DataDirOpt = None,
    store_url: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Show the policy in force.

    It prints the version, author, time, triggers and rules.

    With --json: one object with version, author, created_at (UTC), source (store or
    config) and policy (the body).
    """
    policy, record = _current(config, data_dir, store_url)
    if json_out:
        print_json({**_meta(record), "policy": policy.to_data()})
        return
    if record is None:
        echo("policy: from the config file (nothing stored yet)")
    else:
        echo(
            f"policy v{record.version} by {one_line(record.author)} at {record.created_at.isoformat()}"
        )
    echo(
        f"threshold: {policy.threshold:.2f} (low_confidence {'on' if policy.low_confidence.enabled else 'off'})"
    )
    echo(
        f"keywords: {one_line(', '.join(policy.keyword.phrases)) or '(none)'} ({'on' if policy.keyword.enabled else 'off'})"
    )
    echo(f"human requests: {'on' if policy.human_request.enabled else 'off'}")
    echo(
        f"sentiment: threshold {policy.sentiment.threshold:.2f} ({'on' if policy.sentiment.enabled else 'off'})"
    )
    cats = one_line(", ".join(c.name for c in policy.intent.categories)) or "(none)"
    echo(f"intents: {cats}; kb_entry {'on' if policy.intent.kb_entry else 'off'}")
    echo(
        f"unresolved exchanges: {policy.unresolved_exchanges.count} ({'on' if policy.unresolved_exchanges.enabled else 'off'})"
    )
    bh = policy.business_hours
    echo(
        f"business hours: {', '.join(bh.days)} {bh.start:%H:%M}-{bh.end:%H:%M} {one_line(bh.timezone)}"
    )
    echo("rules (first match wins):")
    for i, rule in enumerate(policy.rules, 1):
        when = json.dumps(rule.when.model_dump(mode="json", by_alias=True, exclude_none=True))
        extra = f" priority {rule.priority}" if rule.action == "escalate" else ""
        extra += f" team {one_line(rule.team)}" if rule.team else ""
        echo(f"  {i}. {one_line(rule.name)}: when {when} -> {rule.action}{extra}")


@policy_app.command("history")
def history(
    json_out: JsonOpt = False,
    data_dir: DataDirOpt = None,
    store_url: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List every stored policy version, oldest first.

    One line each: version, time (UTC), author.
    """
    records = policy_history(
        settings_from(config, {"store": {"data_dir": data_dir, "url": store_url}}).store
    )
    if json_out:
        print_json([{**_meta(r), "policy": r.body} for r in records])
        return
    if not records:
        echo("no policy stored yet (the config file's policy applies)")
    for r in records:
        echo(f"v{r.version}  {r.created_at.isoformat()}  {one_line(r.author)}")


@policy_app.command("export")
def export(
    json_out: JsonOpt = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="FILE", help="Write to this file instead of stdout.", dir_okay=False
        ),
    ] = None,
    data_dir: DataDirOpt = None,
    store_url: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Print the policy in force, ready to edit and import.

    TOML by default, JSON with --json.
    """
    policy, _ = _current(config, data_dir, store_url)
    data = policy.to_data()
    text = (
        json.dumps(data, indent=2, ensure_ascii=False) + "\n" if json_out else tomli_w.dumps(data)
    )
    text = escape_serialized(text)
    if out is None:
        sys.stdout.write(text)
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}", "io_error")
        echo(f"wrote {out}", err=True)


def read_policy_file(path: Path) -> dict[str, Any]:
    """Read policy data from a JSON or TOML file (a top-level ``policy`` table is unwrapped,
    so a whole config file works too). Raises :class:`PolicyError` when unreadable."""
    try:
        text = read_user_text(path, CONFIG_FILE_BYTES)
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([f"{path}: cannot read: {exc}"]) from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise PolicyError([f"{path}: not valid {kind}: {exc}"]) from None
    if isinstance(data, dict) and isinstance(data.get("policy"), dict):
        data = data["policy"]
    return data


def _login_name() -> str:
    try:
        return getpass.getuser()
    except OSError:
        return "unknown"


@policy_app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="Policy file, TOML or .json.", exists=True, dir_okay=False
        ),
    ],
    author: AuthorOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate only; store nothing.")
    ] = False,
    json_out: JsonOpt = False,
    data_dir: DataDirOpt = None,
    store_url: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Validate a policy file and store it as the next version.

    A file identical to the policy in force (compared as data, defaults filled in) is
    not stored: it prints 'policy unchanged' and exits 0. With --json: ok, version (the
    one in force afterwards), author, changed (false: nothing stored).

    A bad policy is refused with every problem listed (exit 1, code bad_policy) and the
    policy in force is kept. The running server applies a stored change on each
    conversation's next turn.
    """
    try:
        policy = parse_policy(read_policy_file(file))
    except PolicyError as exc:
        if json_out:
            print_json({"ok": False, "code": exc.code, "problems": exc.problems})
            raise typer.Exit(1) from None
        fail(str(exc), exc.code, exit_code=1)
    if dry_run:
        if json_out:
            print_json({"ok": True, "version": None, "dry_run": True})
        else:
            echo("policy is valid (dry run: nothing stored)")
        return
    who = author or _login_name()
    settings = settings_from(config, {"store": {"data_dir": data_dir, "url": store_url}})
    done = import_policy(settings, policy, who)
    if json_out:
        print_json({"ok": True, "version": done.version, "author": who, "changed": done.changed})
    elif done.changed:
        echo(f"stored policy v{done.version} by {one_line(who)}")
    else:
        where = f"v{done.version}" if done.version else "the config file's"
        echo(f"policy unchanged: the file is the policy in force ({where}); nothing stored")


def register(app: typer.Typer) -> None:
    """Add the ``policy`` command group to ``app``."""
    app.add_typer(policy_app, name="policy")
