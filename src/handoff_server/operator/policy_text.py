"""A policy as operators read it: its problems with their location, and the changes
between two versions.

Pure functions of policy bodies (the JSON object of the policy's TOML file, what
``handoff policy export --json`` prints); the operator's frames carry them
(:class:`~handoff_server.protocol_operator.PolicyProblem`,
:class:`~handoff_server.protocol_operator.PolicyChange`).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import JsonValue, ValidationError

from handoff_server.escalation import Policy
from handoff_server.protocol_operator import PolicyChange, PolicyProblem

__all__ = ["checked_policy", "policy_changes"]

_LOCATED = re.compile(r"^([A-Za-z_][\w]*(?:\.[\w]+)*): (.+)$", re.DOTALL)
"""A cross-reference problem as the policy reports it: ``rules.2.name: duplicate ...``."""


def checked_policy(body: dict[str, Any]) -> tuple[Policy | None, list[PolicyProblem]]:
    """Validate a policy body: the :class:`~handoff_server.escalation.Policy` and no
    problems, or ``None`` and every problem with its location (keys and list indexes
    from the top of the body; aliases as written: ``rules[0].when.all``). A ``version``
    key is ignored: the store numbers versions."""
    data = {k: v for k, v in body.items() if k != "version"}
    try:
        return Policy.model_validate(data), []
    except ValidationError as exc:
        return None, [p for err in exc.errors() for p in _problems(err)]


def _problems(err: Any) -> list[PolicyProblem]:
    loc: list[str | int] = [x.rstrip("_") if isinstance(x, str) else x for x in err["loc"]]
    message = str(err["msg"]).removeprefix("Value error, ")
    if loc:
        return [PolicyProblem(loc=loc, message=message)]
    # Checks across the policy (duplicate names, unknown intents) report one message of
    # "location: problem" parts; each becomes a problem at its own location.
    out = []
    for part in message.split("; "):
        m = _LOCATED.match(part)
        if m is None:
            out.append(PolicyProblem(loc=[], message=part))
            continue
        where: list[str | int] = [int(x) if x.isdigit() else x for x in m.group(1).split(".")]
        out.append(PolicyProblem(loc=where, message=m.group(2)))
    return out


_MISSING: Any = object()


def policy_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[PolicyChange]:
    """The differences from ``before`` to ``after`` (``None``: no earlier version, so
    every setting of ``after`` is listed). Paths are dotted, with list indexes and
    non-identifier keys in brackets (``rules[2].team``, ``keyword.teams["cancel
    account"]``). Rules and intent categories are matched by name, so moving a rule
    reads as a change of order (``rules (order)``), not as every rule changing; a list
    of plain values (keyword phrases) is one value."""
    out: list[PolicyChange] = []
    _diff("", before if before is not None else {}, after, out)
    return out


def _diff(path: str, a: Any, b: Any, out: list[PolicyChange]) -> None:
    if isinstance(a, dict) and isinstance(b, dict) or (a is _MISSING and isinstance(b, dict)):
        a = {} if a is _MISSING else a
        for key in [*a, *(k for k in b if k not in a)]:
            _diff(_join(path, key), a.get(key, _MISSING), b.get(key, _MISSING), out)
    elif _named(a) and _named(b):
        _diff_named(path, a, b, out)
    elif a != b:
        out.append(PolicyChange(path=path, before=_value(a), after=_value(b)))


def _diff_named(path: str, a: list[dict[str, Any]], b: list[dict[str, Any]], out: list) -> None:
    names_a = [x["name"] for x in a]
    names_b = [x["name"] for x in b]
    kept_a = [n for n in names_a if n in names_b]
    kept_b = [n for n in names_b if n in names_a]
    if kept_a != kept_b:
        out.append(PolicyChange(path=f"{path} (order)", before=kept_a, after=kept_b))
    for i, item in enumerate(b):
        if item["name"] in names_a:
            _diff(f"{path}[{i}]", a[names_a.index(item["name"])], item, out)
        else:
            out.append(PolicyChange(path=f"{path}[{i}]", before=None, after=item))
    for i, item in enumerate(a):
        if item["name"] not in names_b:
            out.append(PolicyChange(path=f"{path}[{i}]", before=item, after=None))


def _named(value: Any) -> bool:
    """A list of objects with distinct ``name``s (rules, intent categories)."""
    if not isinstance(value, list) or not all(
        isinstance(x, dict) and isinstance(x.get("name"), str) for x in value
    ):
        return False
    return len({x["name"] for x in value}) == len(value)


def _join(path: str, key: str) -> str:
    if re.fullmatch(r"[A-Za-z_]\w*", key):
        return f"{path}.{key}" if path else key
    quoted = '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{path}[{quoted}]"


def _value(v: Any) -> JsonValue:
    return None if v is _MISSING else v
