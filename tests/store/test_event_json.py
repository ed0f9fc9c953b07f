"""Event data as JSON text (:func:`handoff_server.store.dump_json`): encoded once per
event by the store and kept as is by the conversation memory (issue 14)."""

from __future__ import annotations

import json

import pytest

from handoff_server.store import dump_json
from tests.store.test_store_contract import ODD_DATA


def test_dump_json_reads_back_as_the_same_data() -> None:
    text = dump_json(ODD_DATA)
    assert json.loads(text) == ODD_DATA
    assert "中文" in text and ", " not in text  # UTF-8 as is, compact


def test_a_lone_surrogate_is_escaped_as_json_dumps_does() -> None:
    data = {"text": "x\ud800y"}
    assert dump_json(data) == '{"text":"x\\ud800y"}'
    assert json.loads(dump_json(data)) == data


def test_what_json_cannot_hold_raises_type_error() -> None:
    with pytest.raises(TypeError):
        dump_json({"x": object()})
