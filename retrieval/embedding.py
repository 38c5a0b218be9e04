"""The embedder protocol (text -> unit vectors) and the plumbing every backend shares (:class:`BaseEmbedder`).

The backends live in :mod:`retrieval.embedder` (sentence-transformers) and :mod:`retrieval.numpy_embedders`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import List, Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    name: str

    @property
    def dim(self) -> int: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...


QUERY_CACHE = 64  # single-query vectors kept per model (the NLU featurizer and the search embed the same turn)
_cache_init_lock = threading.Lock()


class BaseEmbedder:
    """Plumbing shared by the backends: ``dim``, empty input and a small cache of single-query vectors.

    Subclasses set ``name``, ``_dim`` and ``_embed``. A chat turn is embedded twice with the same model — by Rasa's
    intent featurizer (``bot.nlu_components``) and by the knowledge-base search — so the last few single queries are
    remembered.
    """

    name: str
    _dim: int
    query_cache: int = QUERY_CACHE  # how many; 0 = none (``Settings.query_cache``)
    _cache: "OrderedDict[str, np.ndarray]"
    _cache_lock: threading.Lock

    @property
    def dim(self) -> int:
        return self._dim

    def _embed(self, texts: List[str], query: bool) -> np.ndarray:
        raise NotImplementedError

    def _checked(self, texts: Sequence[str], query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype="float32")
        return self._embed(list(texts), query)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) != 1 or self.query_cache <= 0:
            return self._checked(texts, True)
        if "_cache" not in self.__dict__:
            with _cache_init_lock:
                if "_cache" not in self.__dict__:
                    self._cache_lock = threading.Lock()
                    self._cache = OrderedDict()
        text = texts[0]
        with self._cache_lock:
            hit = self._cache.get(text)
            if hit is not None:
                self._cache.move_to_end(text)
                return hit.copy()
        vec = self._checked(texts, True)
        with self._cache_lock:
            self._cache[text] = vec.copy()
            while len(self._cache) > self.query_cache:
                self._cache.popitem(last=False)
        return vec

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._checked(texts, False)
