"""The web widget in a real browser: headless Chromium (Debian's ``chromium`` package,
driven by the ``playwright`` package; no browser download) against a real
``handoff serve``.

Every test collected below this folder is marked ``web``: ``pytest -m web`` runs this
part alone. Without playwright or a Chromium binary (``/usr/bin/chromium``, or
``$HANDOFF_CHROMIUM``) the tests skip, saying which is missing; ``.ci/run`` installs
both. ``HANDOFF_WEB_SCREENS=DIR`` saves a screenshot of each state into ``DIR``
(``docs/screens/web`` holds the committed ones).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import mark_part


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this part's tests ``web``."""
    mark_part(items, Path(__file__).parent, "web")


def chromium_path() -> str:
    """The Chromium binary to drive, or skip the test saying what is missing."""
    pytest.importorskip(
        "playwright.sync_api", reason="the 'playwright' package is not installed (.ci/run does it)"
    )
    path = os.environ.get("HANDOFF_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.skip("no Chromium binary: apt-get install chromium (or set HANDOFF_CHROMIUM)")
    return path
