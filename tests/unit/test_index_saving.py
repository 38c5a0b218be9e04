"""The search index on disk after an incremental update (instant publish): answerable at once from memory, written
a moment later by a thread of its own, a burst written once, a one-shot process exits only once it is written. A
full sync still writes before it returns. A real FAISS index and real files; the embedder is a hashed bag of words
(tests/unit/test_features.py), the model-free stand-in the unit tests use."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrieval import search
from retrieval.search import SearchIndex
from tests.unit.test_features import _Article, _Words

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


class Art(_Article):
    def content_hash(self) -> str:
        return f"{self.title}|{self.body}|{self.questions}"


KB = [Art("pw", "reset my password", "Open settings and choose reset password."),
      Art("ship", "shipping costs", "Shipping is free above 50 euros.", questions=["how much is delivery"])]
RECYCLE = Art("recycle", "recycling old phones", "Bring old phones to any store: we recycle them for free.")


def built(directory: Path) -> SearchIndex:
    index = SearchIndex([_Words()], directory)
    index.sync(KB, {a.id: a.content_hash() for a in KB})
    return index


def on_disk(directory: Path) -> list:
    return SearchIndex([_Words()], directory).articles()


def test_a_sync_is_on_disk_when_it_returns(tmp_path):
    built(tmp_path / "index")
    assert sorted(on_disk(tmp_path / "index")) == ["pw", "ship"]


def test_an_update_answers_at_once_and_reaches_the_disk_a_moment_later(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "SAVE_DELAY_S", 0.3)
    index = built(tmp_path / "index")
    index.update([RECYCLE])
    assert index.search("recycle my old phones", lang="en")[0].article_id == "recycle"  # from memory, now
    assert "recycle" not in on_disk(tmp_path / "index")  # not yet written
    deadline = time.monotonic() + 10
    while "recycle" not in on_disk(tmp_path / "index") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(on_disk(tmp_path / "index")) == ["pw", "recycle", "ship"]


def test_a_burst_of_updates_is_written_once_and_flush_waits_for_it(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "SAVE_DELAY_S", 0.3)
    index = built(tmp_path / "index")
    written = index._written
    for i in range(5):
        index.update([Art(f"a{i}", f"article {i}", f"body number {i}")])
    index.update([], removed_ids=["a0"])
    index.flush()  # what a test copying the folder, or a shutdown, does
    assert sorted(on_disk(tmp_path / "index")) == ["a1", "a2", "a3", "a4", "pw", "ship"]
    time.sleep(0.6)  # the saver wakes, finds nothing left, stops
    assert index._written - written == 1 and index._saver is None
    assert not list((tmp_path / "index").glob("*.tmp"))


def test_a_one_shot_process_exits_only_once_its_update_is_written(tmp_path):
    """`tier0 kb publish` and friends: the process ends right after the update; the index must be on disk."""
    directory = tmp_path / "index"
    built(directory)
    code = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
from tests.unit.test_index_saving import RECYCLE
from tests.unit.test_features import _Words
from retrieval.search import SearchIndex
SearchIndex([_Words()], {str(directory)!r}).update([RECYCLE])
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(on_disk(directory)) == ["pw", "recycle", "ship"]
