"""Vector indexes behind one protocol. FAISS (exact inner product, on disk) is the embedded default."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol, Sequence, Tuple, runtime_checkable

import numpy as np


@runtime_checkable
class VectorIndex(Protocol):
    dim: int

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None: ...

    def remove(self, ids: Sequence[int]) -> int: ...

    def search(self, vectors: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]: ...

    def snapshot(self) -> "Snapshot": ...

    def __len__(self) -> int: ...


class FaissIndex:
    """``IndexIDMap2(IndexFlatIP)``: exact cosine search on normalised vectors, stable int64 ids.

    Exact search is the right default for a support KB (thousands to a few hundred thousand vectors);
    ``search`` keeps the FAISS contract ``(D, I)`` with ``I == -1`` for empty slots.
    """

    def __init__(self, dim: int, _index=None):
        import faiss

        self.dim = int(dim)
        self._faiss = faiss
        self._index = _index if _index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    @classmethod
    def load(cls, path: Path) -> "FaissIndex":
        import faiss

        index = faiss.read_index(str(path))
        return cls(index.d, _index=index)

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype="float32")
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected {len(ids)} vectors of dim {self.dim}, got {vectors.shape}")
        self._index.add_with_ids(vectors, np.asarray(ids, dtype="int64"))

    def remove(self, ids: Sequence[int]) -> int:
        if len(ids) == 0:
            return 0
        return int(self._index.remove_ids(np.asarray(ids, dtype="int64")))

    def search(self, vectors: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
        vectors = np.ascontiguousarray(vectors, dtype="float32")
        if len(self) == 0:
            n = vectors.shape[0]
            return np.zeros((n, k), dtype="float32"), -np.ones((n, k), dtype="int64")
        return self._index.search(vectors, min(k, len(self)))

    def snapshot(self) -> "Snapshot":
        """The index as bytes, at once (a copy in memory): written later, outside the caller's lock."""
        return Snapshot(self._faiss.serialize_index(self._index))

    def __len__(self) -> int:
        return int(self._index.ntotal)


class Snapshot:
    """A vector index serialised in memory (:meth:`FaissIndex.snapshot`), for writing to disk later."""

    __slots__ = ("data",)

    def __init__(self, data: np.ndarray):
        self.data = data

    def write(self, path: Path) -> None:
        """Atomically: a reader sees the old file or the new one, never half of one."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f"{path.suffix}.{os.getpid()}.{threading.get_ident()}.tmp")  # workers, threads
        with open(tmp, "wb") as f:
            self.data.tofile(f)
        tmp.replace(path)
