"""The agents' terminal UI: models, pilots and snapshots.

Text cursors do not blink here (an autouse fixture): a picture or a check must not depend
on when it was taken. Every test collected below this folder is marked ``tui``:
``pytest -m tui`` runs this part alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import mark_part


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this part's tests ``tui``."""
    mark_part(items, Path(__file__).parent, "tui")


@pytest.fixture(autouse=True)
def _cursor_blink_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs and text areas start with a steady cursor."""
    from textual.widgets import Input, TextArea

    for widget in (Input, TextArea):
        monkeypatch.setattr(widget.cursor_blink, "_default", False)
