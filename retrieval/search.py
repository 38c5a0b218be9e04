"""Searching the knowledge base: the units we embed, the on-disk index kept in step with the KB, scored candidates.

Every article is split into *units* — its title, each alternate question, and chunks of its body — each embedded
separately; an article scores as its best unit. The index directory holds ``vectors.faiss`` plus
``manifest.json`` (model, dimension, the content hash of every indexed article and the unit table), so a restart
reuses it and a KB change re-embeds only the articles that changed.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from retrieval.embedder import Embedder
from retrieval.index import FaissIndex, VectorIndex

log = logging.getLogger("tier0.retrieval")

CHUNK_WORDS = 120
UNIT_KINDS = ("title", "question", "body")


@dataclass(frozen=True)
class ArticleMeta:
    id: str
    title: str
    lang: str
    category: Optional[str] = None
    handoff: Optional[str] = None


@dataclass
class Unit:
    article_id: str
    kind: str  # title | question | body
    text: str


@dataclass
class Candidate:
    """One article the search proposes, with the evidence for it."""

    article_id: str
    title: str
    lang: str
    score: float  # best unit cosine, after the language preference
    raw_score: float  # best unit cosine as the model gave it
    matched: str  # kind of the best unit
    matched_text: str
    category: Optional[str] = None
    handoff: Optional[str] = None
    unit_scores: Dict[str, float] = field(default_factory=dict)  # best cosine per unit kind

    def as_dict(self) -> dict:
        return {
            "article_id": self.article_id,
            "title": self.title,
            "lang": self.lang,
            "score": round(self.score, 4),
            "raw_score": round(self.raw_score, 4),
            "matched": self.matched,
            "category": self.category,
            "handoff": self.handoff,
        }


def chunk_body(body: str, max_words: int = CHUNK_WORDS) -> List[str]:
    """Split a Markdown body into chunks of whole paragraphs of at most ``max_words`` words."""
    paras = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", body)]
    paras = [p for p in paras if p]
    chunks: List[str] = []
    cur: List[str] = []
    n = 0
    for p in paras:
        words = p.split()
        while len(words) > max_words:  # a very long paragraph: hard split
            if cur:
                chunks.append(" ".join(cur))
                cur, n = [], 0
            chunks.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if n + len(words) > max_words and cur:
            chunks.append(" ".join(cur))
            cur, n = [], 0
        cur.extend(words)
        n += len(words)
    if cur:
        chunks.append(" ".join(cur))
    return chunks


def article_units(article) -> List[Unit]:
    units = [Unit(article.id, "title", article.title)]
    units += [Unit(article.id, "question", q) for q in article.questions]
    units += [Unit(article.id, "body", f"{article.title}. {c}") for c in chunk_body(article.body)]
    return units


class SearchIndex:
    """The KB's vectors, on disk under ``directory``, kept in step with the published articles."""

    def __init__(self, embedder: Embedder, directory: Path, other_language_penalty: float = 0.05):
        self.embedder = embedder
        self.directory = Path(directory)
        self.other_language_penalty = other_language_penalty
        self._lock = threading.RLock()
        self._index: VectorIndex = FaissIndex(embedder.dim)
        self._units: Dict[int, Unit] = {}
        self._hashes: Dict[str, str] = {}
        self._meta: Dict[str, ArticleMeta] = {}
        self._next_id = 1
        self._load()

    # -- persistence -----------------------------------------------------------------------------
    @property
    def _manifest_path(self) -> Path:
        return self.directory / "manifest.json"

    @property
    def _vectors_path(self) -> Path:
        return self.directory / "vectors.faiss"

    def _load(self) -> None:
        if not (self._manifest_path.exists() and self._vectors_path.exists()):
            return
        try:
            manifest = json.loads(self._manifest_path.read_text())
            if manifest.get("model") != self.embedder.name or manifest.get("dim") != self.embedder.dim:
                log.info("retrieval.index_model_changed rebuilding")
                return
            index = FaissIndex.load(self._vectors_path)
            units = {int(k): Unit(**v) for k, v in manifest["units"].items()}
            if len(index) != len(units):
                log.warning("retrieval.index_inconsistent vectors=%d units=%d rebuilding", len(index), len(units))
                return
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
            log.warning("retrieval.index_unreadable %s; rebuilding", e)
            return
        self._index = index
        self._units = units
        self._hashes = dict(manifest["hashes"])
        self._meta = {k: ArticleMeta(**v) for k, v in manifest["meta"].items()}
        self._next_id = int(manifest["next_id"])

    def _save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._index.save(self._vectors_path)
        manifest = {
            "model": self.embedder.name,
            "dim": self.embedder.dim,
            "next_id": self._next_id,
            "hashes": self._hashes,
            "meta": {k: m.__dict__ for k, m in self._meta.items()},
            "units": {str(k): u.__dict__ for k, u in self._units.items()},
        }
        tmp = self._manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, ensure_ascii=False))
        tmp.replace(self._manifest_path)

    # -- keeping in step -------------------------------------------------------------------------
    def sync(self, articles: Iterable, hashes: Dict[str, str]) -> Dict[str, int]:
        """Make the index hold exactly ``articles`` (published ones), re-embedding only what changed.

        ``hashes`` maps article id -> content hash; ``articles`` yields objects with id, title, lang,
        category, handoff, questions and body.
        """
        with self._lock:
            stale = {a for a, h in self._hashes.items() if hashes.get(a) != h}
            wanted = [a for a in articles if self._hashes.get(a.id) != hashes.get(a.id)]
            if not stale and not wanted:
                return {"added": 0, "removed": 0}
            drop = [uid for uid, u in self._units.items() if u.article_id in stale]
            self._index.remove(drop)
            for uid in drop:
                del self._units[uid]
            for a in stale:
                self._hashes.pop(a, None)
                self._meta.pop(a, None)
            new_units: List[Unit] = []
            for a in wanted:
                new_units.extend(article_units(a))
                self._meta[a.id] = ArticleMeta(a.id, a.title, a.lang, a.category, a.handoff)
                self._hashes[a.id] = hashes[a.id]
            if new_units:
                vecs = self.embedder.encode_documents([u.text for u in new_units])
                ids = list(range(self._next_id, self._next_id + len(new_units)))
                self._next_id += len(new_units)
                self._index.add(ids, vecs)
                self._units.update(zip(ids, new_units))
            self._save()
            log.info("retrieval.index_synced removed=%d articles added=%d articles", len(stale), len(wanted))
            return {"added": len(wanted), "removed": len(stale)}

    # -- searching -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._meta)

    def search(self, query: str, lang: Optional[str] = None, k: int = 5) -> List[Candidate]:
        return self.search_vector(self.embedder.encode_queries([query])[0], lang, k)

    def search_vector(self, qvec: np.ndarray, lang: Optional[str] = None, k: int = 5) -> List[Candidate]:
        with self._lock:
            n_units = min(len(self._units), max(64, 12 * k))
            if n_units == 0:
                return []
            scores, ids = self._index.search(qvec.reshape(1, -1), n_units)
            best: Dict[str, Candidate] = {}
            for s, uid in zip(scores[0], ids[0]):
                if uid < 0:
                    continue
                unit = self._units[int(uid)]
                meta = self._meta[unit.article_id]
                raw = float(s)
                c = best.get(unit.article_id)
                if c is None:
                    adj = raw - (self.other_language_penalty if lang and meta.lang != lang else 0.0)
                    c = Candidate(
                        meta.id, meta.title, meta.lang, adj, raw, unit.kind, unit.text, meta.category, meta.handoff
                    )
                    best[unit.article_id] = c
                c.unit_scores[unit.kind] = max(c.unit_scores.get(unit.kind, -1.0), raw)
            ranked = sorted(best.values(), key=lambda c: c.score, reverse=True)
            return ranked[:k]

    def articles(self) -> Sequence[str]:
        return sorted(self._meta)
