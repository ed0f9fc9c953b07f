"""The index cache (``handoff_server.ai.index_cache``): keyed by KB content, engine and
package version; pickles are loaded only from a 0700 folder of this user, from files
this user wrote and nobody else can write."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import handoff_server.ai.index_cache as index_cache
from handoff_server.ai.index_cache import cache_path, load_or_build
from handoff_server.kb import load_kb
from handoff_server.kb.models import KnowledgeBase

pytestmark = pytest.mark.ai


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_kb(None)


class Builds:
    """A stand-in build: counts its calls, returns a fresh dict each time."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, int]:
        self.calls += 1
        return {"built": self.calls}


def test_built_once_then_loaded_from_a_private_folder(tmp_path: Path, kb: KnowledgeBase) -> None:
    folder, build = tmp_path / "cache", Builds()
    assert load_or_build(kb, "tfidf", folder, build, expect=dict) == {"built": 1}
    assert load_or_build(kb, "tfidf", folder, build, expect=dict) == {"built": 1}
    assert build.calls == 1
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(cache_path(kb, "tfidf", folder).stat().st_mode) == 0o600


def test_key_follows_engine_kb_and_package_version(
    tmp_path: Path, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = Builds()
    load_or_build(kb, "tfidf", tmp_path, build, expect=dict)
    load_or_build(kb, "minilm", tmp_path, build, expect=dict)
    edited = kb.model_copy(update={"entries": kb.entries[1:]})
    load_or_build(edited, "tfidf", tmp_path, build, expect=dict)
    monkeypatch.setattr(index_cache, "package_version", lambda: "99.0")
    load_or_build(kb, "tfidf", tmp_path, build, expect=dict)
    assert build.calls == 4


def test_a_file_others_can_write_is_rebuilt_not_loaded(tmp_path: Path, kb: KnowledgeBase) -> None:
    build = Builds()
    load_or_build(kb, "tfidf", tmp_path, build, expect=dict)
    path = cache_path(kb, "tfidf", tmp_path)
    path.chmod(0o666)
    assert load_or_build(kb, "tfidf", tmp_path, build, expect=dict) == {"built": 2}
    # The rebuilt file replaced it, private again.
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_loose_folder_is_tightened_and_junk_is_rebuilt(tmp_path: Path, kb: KnowledgeBase) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)
    cache_path(kb, "tfidf", folder).write_bytes(b"not a pickle")
    os.chmod(cache_path(kb, "tfidf", folder), 0o600)
    build = Builds()
    assert load_or_build(kb, "tfidf", folder, build, expect=dict) == {"built": 1}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_a_folder_of_another_user_is_not_used(
    tmp_path: Path, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = Builds()
    load_or_build(kb, "tfidf", tmp_path, build, expect=dict)
    someone_else = os.getuid() + 1
    monkeypatch.setattr(index_cache.os, "getuid", lambda: someone_else)
    assert load_or_build(kb, "tfidf", tmp_path, build, expect=dict) == {"built": 2}


def test_a_cache_the_disk_refuses_is_logged_and_skipped(
    tmp_path: Path,
    kb: KnowledgeBase,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A full (or read-only) disk under the cache only costs the time the cache saves:
    the built object is returned, the log says why it was not kept, no file is left."""
    import errno

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    import joblib

    monkeypatch.setattr(joblib, "dump", full)
    build = Builds()
    assert load_or_build(kb, "tfidf", tmp_path, build, expect=dict) == {"built": 1}
    assert "cannot cache the index" in caplog.text
    assert list(tmp_path.iterdir()) == []
