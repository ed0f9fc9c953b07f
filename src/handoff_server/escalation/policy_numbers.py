"""The number types of every policy field: finite and strictly typed.

A policy arrives as JSON (operator frames, ``handoff policy import``), TOML (the config
file's ``[policy]`` table) or stored JSON, and JSON and TOML parsers both accept
``NaN`` and ``Infinity``/``inf``. A NaN threshold makes every comparison false, so a
rule like ``confidence < NaN`` silently changes what escalates; pydantic's lax mode
also reads ``true`` as 1 and ``"0.5"`` as 0.5. So every number of a policy is one of
these types, which refuse, with the field's location in the problem:

- ``true``/``false`` ("a number is needed here, not true/false"),
- text, even text that looks like a number ("... not text"),
- NaN and ±infinity ("Input should be a finite number"),
- for whole-number fields, anything but an integer (``3.0`` too).

Bounds stay on each field (``Field(ge=..., le=...)``). Settings read from environment
variables are text by nature; the config reads them as JSON numbers before they get
here (:mod:`handoff_server.config`).
"""

from __future__ import annotations

import json
import types
import typing
from typing import Annotated, Any

from pydantic import AllowInfNan, BaseModel, BeforeValidator, Field, Strict
from pydantic_core import PydanticCustomError

__all__ = ["PolicyFloat", "PolicyInt", "Probability", "numbers_from_text"]


def _no_bool_or_text(value: Any) -> Any:
    """``value``, or a ``PydanticCustomError`` for a bool or a string: in lax mode
    pydantic reads ``true`` as 1 and ``"0.5"`` as 0.5, both typos in a policy."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "policy_number", "a number is needed here, not true/false ({value})", {"value": value}
        )
    if isinstance(value, str | bytes):
        raise PydanticCustomError(
            "policy_number",
            "a number is needed here, not text ('{value}'); write it without quotes",
            {"value": value},
        )
    return value


PolicyFloat = Annotated[float, Strict(), AllowInfNan(False), BeforeValidator(_no_bool_or_text)]
"""A finite number (an integer is accepted and read as a float)."""

PolicyInt = Annotated[int, Strict(), BeforeValidator(_no_bool_or_text)]
"""A whole number (``3``, not ``3.0``, ``"3"`` or ``true``)."""

Probability = Annotated[PolicyFloat, Field(ge=0.0, le=1.0)]
"""A finite probability 0–1."""


def numbers_from_text(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a dict for ``model``, read from environment variables) with the text of
    each number field of ``model`` and its nested models read as a JSON number
    (``"0.55"`` → 0.55; ``"NaN"`` → nan, which the field then refuses). Other values,
    and text that is no JSON number, are left as they are for validation to judge."""
    out = dict(data)
    for name, field in model.model_fields.items():
        for key in {name, field.alias} - {None}:
            value = out.get(str(key))
            nested = _model_of(field.annotation)
            if isinstance(value, str) and _is_number(field.annotation):
                out[str(key)] = _json_number(value)
            elif isinstance(value, dict) and nested is not None:
                out[str(key)] = numbers_from_text(nested, value)
    return out


def _is_number(annotation: Any) -> bool:
    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_number(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) is Annotated:
        return _is_number(typing.get_args(annotation)[0])
    return False


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _json_number(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float) and not isinstance(value, bool) else text
