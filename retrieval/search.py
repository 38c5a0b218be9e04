"""Searching the knowledge base: hybrid (dense + lexical) retrieval over article *units*, kept in step with the KB.

Every article is split into units — its title, each alternate question, and chunks of its body. Each unit is
embedded by every configured dense model (FAISS, exact inner product) and indexed for BM25 (retrieval.lexical).
An article scores as its best unit in each retriever. A search pools the best articles of every retriever and
describes each with *features* (dense cosines by unit kind, BM25 and coverage, ranks, margins, language match);
``retrieval.calibration`` turns those features into the probability that the article answers the question.

The index directory holds one ``vectors-<model>.faiss`` per model plus ``manifest.json`` (models, the content hash
of every indexed article, the unit table), so a restart reuses it and a KB change re-embeds only what changed.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from retrieval.embedder import Embedder, language_weight
from retrieval.index import FaissIndex
from retrieval.lexical import LexicalIndex, terms

log = logging.getLogger("tier0.retrieval")

CHUNK_WORDS = 120
UNIT_KINDS = ("title", "question", "body")
POOL = 10  # articles taken from each retriever
VOTERS = 10  # nearest units whose articles vote


@dataclass(frozen=True)
class ArticleMeta:
    id: str
    title: str
    lang: str
    category: Optional[str] = None
    handoff: Optional[str] = None
    version: Optional[int] = None  # the KB version indexed (cited with the answer); None in an index of older tier0


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
    score: float  # ranking score: the calibrated probability once calibrated, else the fused score
    raw_score: float  # best dense cosine (mean over models)
    matched: str  # kind of the best dense unit
    matched_text: str
    category: Optional[str] = None
    handoff: Optional[str] = None
    features: Dict[str, float] = field(default_factory=dict)
    probability: Optional[float] = None
    version: Optional[int] = None  # the article's version the index holds

    def as_dict(self) -> dict:
        d = {
            "article_id": self.article_id,
            "title": self.title,
            "lang": self.lang,
            "score": round(self.score, 4),
            "dense": round(self.raw_score, 4),
            "lexical": round(self.features.get("lex_cov", 0.0), 4),
            "matched": self.matched,
            "category": self.category,
            "handoff": self.handoff,
        }
        if self.probability is not None:
            d["probability"] = round(self.probability, 4)
        if self.version is not None:
            d["version"] = self.version
        return d


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
    # body chunks stand alone (no title prefix): a title used as a calibration query must not find itself in them
    units += [Unit(article.id, "body", c) for c in chunk_body(article.body)]
    return units


@dataclass
class Query:
    """A query ready to search: its text, language and one vector per dense model."""

    text: str
    lang: Optional[str]
    vectors: List[np.ndarray]


@dataclass
class Overlay:
    """Articles searched *beside* the index without being added to it (try-it: a draft answers as if published).

    Built by :meth:`SearchIndex.overlay`; the index's own copy of an overlaid article is hidden from the search."""

    meta: Dict[str, ArticleMeta]
    units: Dict[int, Unit]  # negative ids, never the index's
    vectors: List[np.ndarray]  # one matrix per model, rows in ``units`` order

    @property
    def article_ids(self) -> List[str]:
        return sorted(self.meta)


def _meta_of(a) -> ArticleMeta:
    return ArticleMeta(a.id, a.title, a.lang, a.category, a.handoff, getattr(a, "version", None))


SAVE_DELAY_S = 0.5  # an incremental update is written this long after it (coalesced), see SearchIndex._save_soon


class SearchIndex:
    """The KB's units, on disk under ``directory``, kept in step with the published articles."""

    def __init__(self, embedders: Union[Embedder, Sequence[Embedder]], directory: Path):
        self.embedders: List[Embedder] = (list(embedders) if isinstance(embedders, (list, tuple))
                                          else [embedders])  # type: ignore[list-item]
        self.directory = Path(directory)
        self._lock = threading.RLock()
        self._dense = [FaissIndex(e.dim) for e in self.embedders]
        self._lexical = LexicalIndex()
        self._units: Dict[int, Unit] = {}
        self._hashes: Dict[str, str] = {}
        self._meta: Dict[str, ArticleMeta] = {}
        self._next_id = 1
        self._version = 0  # bumps on every change; calibration is tied to it
        # what keeping in step cost: full syncs, incremental updates, units embedded (tests and the bench read it)
        self.stats: Dict[str, int] = {"syncs": 0, "updates": 0, "embedded_units": 0}
        self.calibrator: Optional[Any] = None  # retrieval.calibration.Calibrator, set by whoever fits or loads one
        self._save_lock = threading.Lock()  # one writer at a time; taken after the lock, never before it
        self._snapshots = self._written = 0  # snapshots taken, and the newest one on disk
        self._dirty = False  # changed in memory since the last write (see _save_soon)
        self._saver: Optional[threading.Thread] = None
        self._load()

    @property
    def model_names(self) -> List[str]:
        return [e.name for e in self.embedders]

    # -- persistence -----------------------------------------------------------------------------
    @property
    def _manifest_path(self) -> Path:
        return self.directory / "manifest.json"

    def _vectors_path(self, name: str) -> Path:
        return self.directory / f"vectors-{name}.faiss"

    def _load(self) -> None:
        if not self._manifest_path.exists():
            return
        try:
            manifest = json.loads(self._manifest_path.read_text())
            if manifest.get("models") != self.model_names:
                log.info("retrieval.index_models_changed rebuilding")
                return
            dense = [FaissIndex.load(self._vectors_path(e.name)) for e in self.embedders]
            units = {int(k): Unit(**v) for k, v in manifest["units"].items()}
            if any(len(d) != len(units) or d.dim != e.dim for d, e in zip(dense, self.embedders)):
                log.warning("retrieval.index_inconsistent rebuilding")
                return
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
            log.warning("retrieval.index_unreadable %s; rebuilding", e)
            return
        self._dense = dense
        self._units = units
        self._hashes = dict(manifest["hashes"])
        self._meta = {k: ArticleMeta(**v) for k, v in manifest["meta"].items()}
        self._next_id = int(manifest["next_id"])
        self._rebuild_lexical()

    def _save(self) -> None:
        """Write the index now (a full sync or rebuild)."""
        with self._lock:
            self._dirty = True
            self.flush()

    def _snapshot(self) -> Tuple[list, Dict[str, Any], int]:
        """Under the lock, what :meth:`_write` puts on disk, numbered: copies, so that searches and updates go on
        while it writes (the units and metadata are never changed in place, only replaced)."""
        self._snapshots += 1
        vectors = [(self._vectors_path(e.name), d.snapshot()) for e, d in zip(self.embedders, self._dense)]
        manifest = {
            "models": self.model_names,
            "next_id": self._next_id,
            "hashes": dict(self._hashes),
            "meta": {k: m.__dict__ for k, m in self._meta.items()},
            "units": {str(k): u.__dict__ for k, u in self._units.items()},
        }
        return vectors, manifest, self._snapshots

    def _write(self, vectors: list, manifest: Dict[str, Any], seq: int) -> None:
        """One writer at a time; a snapshot older than the one on disk is dropped (the lock is never waited for
        while writing, so a search or an update waits only for the snapshot itself)."""
        with self._save_lock:
            if seq <= self._written:
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            for path, snap in vectors:
                snap.write(path)
            tmp = self._manifest_path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # workers, threads
            tmp.write_text(json.dumps(manifest, ensure_ascii=False))
            tmp.replace(self._manifest_path)
            self._written = seq

    def _save_soon(self) -> None:
        """After an incremental update: the index on disk follows SAVE_DELAY_S later, in a thread of its own, so a
        publish is answerable without waiting for the whole index to be written (seconds at 10,000 articles); a burst
        of updates is written once. The thread is not a daemon: a one-shot command waits for it before exiting. A
        process killed in between loses nothing: the next start re-syncs the index with the KB's fingerprint."""
        self._dirty = True
        if self._saver is None:  # under the lock, like the saver's own "nothing left, I stop"
            self._saver = threading.Thread(target=self._save_later, name="tier0-index-save", daemon=False)
            self._saver.start()

    def _save_later(self) -> None:
        import time

        while True:
            time.sleep(SAVE_DELAY_S)
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a full disk must not kill the worker: the next start re-syncs
                log.exception("retrieval.index_save_failed directory=%s", self.directory)
            with self._lock:
                if not self._dirty:  # else an update came during the write: once more
                    self._saver = None
                    return

    def flush(self) -> None:
        """Write what an incremental update left in memory only, and wait for any write under way: afterwards the
        files under ``directory`` hold the index as it is now."""
        with self._lock:
            if not self._dirty:
                vectors = None
            else:
                self._dirty = False
                vectors, manifest, seq = self._snapshot()
        if vectors is not None:
            self._write(vectors, manifest, seq)
        with self._save_lock:  # a write under way (the saver's) is finished
            pass

    def _rebuild_lexical(self) -> None:
        self._lexical.build((uid, u.text) for uid, u in sorted(self._units.items()))
        self._unit_order = {int(uid): i for i, uid in enumerate(self._lexical.unit_ids)}
        self._version += 1

    # -- keeping in step -------------------------------------------------------------------------
    def sync(self, articles: Iterable, hashes: Dict[str, str]) -> Dict[str, int]:
        """Make the index hold exactly ``articles`` (published ones), re-embedding only what changed.

        ``hashes`` maps article id -> content hash; ``articles`` yields objects with id, title, lang,
        category, handoff, questions and body (and version).
        """
        with self._lock:
            stale = {a for a, h in self._hashes.items() if hashes.get(a) != h}
            wanted = [a for a in articles if self._hashes.get(a.id) != hashes.get(a.id)]
            if not stale and not wanted:
                return {"added": 0, "removed": 0}
            self.stats["syncs"] += 1
            self._replace(stale, wanted, {a.id: hashes[a.id] for a in wanted}, self._embed(wanted))
            log.info("retrieval.index_synced removed=%d articles added=%d articles", len(stale), len(wanted))
            return {"added": len(wanted), "removed": len(stale)}

    def update(self, articles: Iterable, removed_ids: Iterable[str] = ()) -> Dict[str, int]:
        """Incremental: (re)index ``articles`` (published ones, objects like :meth:`sync`'s with ``content_hash()``)
        and drop ``removed_ids``; every other article is left alone (no re-embedding, no full rebuild). The new units
        are embedded before the lock is taken, so searches go on meanwhile; the swap itself is a few dict operations
        and the lexical index's rebuild (its terms are cached per unit). Returns how many articles were (re)indexed
        and removed."""
        articles = list(articles)
        removed = set(removed_ids) - {a.id for a in articles}
        hashes = {a.id: a.content_hash() for a in articles}
        with self._lock:
            wanted = [a for a in articles if self._hashes.get(a.id) != hashes[a.id]
                      or self._meta.get(a.id) != _meta_of(a)]
            removed = {a for a in removed if a in self._hashes}
        if not wanted and not removed:
            return {"updated": 0, "removed": 0}
        embedded = self._embed(wanted)  # outside the lock: the slow part
        with self._lock:
            self.stats["updates"] += 1
            self._replace(removed | {a.id for a in wanted}, wanted, hashes, embedded, save_now=False)
        log.info("retrieval.index_updated updated=%s removed=%s", [a.id for a in wanted], sorted(removed))
        return {"updated": len(wanted), "removed": len(removed)}

    def rebuild(self, articles: Sequence, hashes: Mapping[str, str], batch: int = 64,
                progress: Optional[Any] = None) -> int:
        """Throw the index away and embed ``articles`` anew (``tier0 kb reindex``: after a model or chunking change,
        or a damaged index), ``batch`` articles at a time, ``progress(n)`` after each batch; searches keep the old
        index until the new one is complete. Returns the number of units."""
        units: List[Unit] = []
        vectors: List[List[np.ndarray]] = [[] for _ in self.embedders]
        for start in range(0, len(articles), batch):
            part = articles[start:start + batch]
            u, v = self._embed(part)
            units.extend(u)
            for m, mat in enumerate(v):
                vectors[m].append(np.asarray(mat, dtype="float32"))
            if progress is not None:
                progress(len(part))
        with self._lock:
            self.stats["syncs"] += 1
            self._dense = [FaissIndex(e.dim) for e in self.embedders]
            self._units, self._hashes, self._meta, self._next_id = {}, {}, {}, 1
            self._lexical = LexicalIndex()
            stacked = [np.vstack(v) if v else np.zeros((0, e.dim), dtype="float32")
                       for v, e in zip(vectors, self.embedders)]
            self._replace((), articles, hashes, (units, stacked))
        log.info("retrieval.index_rebuilt articles=%d units=%d", len(articles), len(units))
        return len(units)

    def _embed(self, articles: Sequence) -> Tuple[List[Unit], List[np.ndarray]]:
        units = [u for a in articles for u in article_units(a)]
        texts = [u.text for u in units]
        vectors = [e.encode_documents(texts) if texts else np.zeros((0, e.dim), dtype="float32")
                   for e in self.embedders]
        self.stats["embedded_units"] += len(units)
        return units, vectors

    def _replace(self, drop_articles: Collection[str], articles: Sequence, hashes: Mapping[str, str],
                 embedded: Tuple[List[Unit], List[np.ndarray]], save_now: bool = True) -> None:
        """Under the lock: remove every unit of ``drop_articles``, add ``articles`` with their embedded units."""
        drop = [uid for uid, u in self._units.items() if u.article_id in drop_articles]
        for d in self._dense:
            d.remove(drop)
        for uid in drop:
            del self._units[uid]
        for a in drop_articles:
            self._hashes.pop(a, None)
            self._meta.pop(a, None)
        for a in articles:
            self._meta[a.id] = _meta_of(a)
            self._hashes[a.id] = hashes[a.id]
        new_units, vectors = embedded
        if new_units:
            ids = list(range(self._next_id, self._next_id + len(new_units)))
            self._next_id += len(new_units)
            for d, v in zip(self._dense, vectors):
                d.add(ids, v)
            self._units.update(zip(ids, new_units))
        self._rebuild_lexical()
        if save_now:
            self._save()
        else:
            self._save_soon()

    def overlay(self, articles: Sequence) -> Overlay:
        """``articles`` (drafts: objects like :meth:`update`'s) embedded for :meth:`search_query`'s ``overlay``;
        the index is not touched."""
        units = [u for a in articles for u in article_units(a)]
        texts = [u.text for u in units]
        vectors = [e.encode_documents(texts) if texts else np.zeros((0, e.dim), dtype="float32")
                   for e in self.embedders]
        return Overlay({a.id: _meta_of(a) for a in articles}, {-(i + 1): u for i, u in enumerate(units)},
                       [np.asarray(v, dtype="float32") for v in vectors])

    @property
    def hashes(self) -> Dict[str, str]:
        """article id -> content hash of what the index holds (compare with the KB's fingerprint)."""
        with self._lock:
            return dict(self._hashes)

    # -- introspection used by calibration ------------------------------------------------------
    @property
    def version(self) -> int:
        return self._version

    def units(self) -> Dict[int, Unit]:
        return dict(self._units)

    def meta(self, article_id: str) -> ArticleMeta:
        return self._meta[article_id]

    def unit_vectors(self, unit_ids: Sequence[int]) -> List[np.ndarray]:
        """The stored vectors of ``unit_ids``, one matrix per model (to reuse document vectors as queries)."""
        return [np.vstack([d._index.reconstruct(int(u)) for u in unit_ids]) for d in self._dense]

    def similar_articles(self, floor: float, block: int = 1024) -> List[Tuple[float, str, str, str]]:
        """Pairs of articles at least ``floor`` alike by title (their titles' cosine) or by answer (their first body
        chunks'), each cosine the mean over the dense models: ``(similarity, article, other, part)`` with ``part``
        ``"title"`` or ``"answer"``, the likelier one when both pass, ``article < other``. Computed ``block`` rows
        at a time, so a large KB never holds the whole similarity matrix."""
        with self._lock:
            first: Dict[tuple, int] = {}
            for uid, u in sorted(self._units.items()):
                if u.kind in ("title", "body"):
                    first.setdefault((u.article_id, u.kind), uid)
            best: Dict[tuple, tuple] = {}
            for kind, part in (("title", "title"), ("body", "answer")):
                have = sorted(a for a, k in first if k == kind)
                if len(have) < 2:
                    continue
                vectors = self.unit_vectors([first[(a, kind)] for a in have])
                unit = [m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
                        for m in (np.asarray(v, dtype="float64") for v in vectors)]
                for start in range(0, len(have), block):  # each row against the rows after it: every pair once
                    sims = np.mean([m[start:start + block] @ m[start:].T for m in unit], axis=0)
                    for i, j in zip(*np.nonzero(np.triu(sims, 1) >= floor)):
                        a, b = have[start + int(i)], have[start + int(j)]
                        if float(sims[i, j]) > best.get((a, b), (-1.0,))[0]:
                            best[(a, b)] = (float(sims[i, j]), part)
            pairs = [(sim, a, b, part) for (a, b), (sim, part) in best.items()]
            return sorted(pairs, key=lambda t: (-round(t[0], 6), t[1], t[2]))  # ties: last bits differ by block

    def __len__(self) -> int:
        return len(self._meta)

    def articles(self) -> Sequence[str]:
        return sorted(self._meta)

    # -- searching -------------------------------------------------------------------------------
    def encode(self, text: str, lang: Optional[str] = None) -> Query:
        return Query(text, lang, [e.encode_queries([text])[0] for e in self.embedders])

    def search(self, query: str, lang: Optional[str] = None, k: int = 5) -> List[Candidate]:
        """The ``k`` best articles, ranked by calibrated probability when a calibrator is set."""
        q = self.encode(query, lang)
        cands = self.search_query(q)
        if self.calibrator is not None:
            self.calibrator.rank(cands, q)
        return cands[:k]

    def search_query(
        self,
        q: Query,
        exclude_units: Collection[int] = (),
        exclude_articles: Collection[str] = (),
        overlay: Optional[Overlay] = None,
    ) -> List[Candidate]:
        """The whole candidate pool with features, ranked by the fused score (calibration re-ranks it). With an
        ``overlay``, its articles are searched too, in place of the index's copies of them (if any)."""
        with self._lock:
            extra_units: Dict[int, Unit] = overlay.units if overlay is not None else {}
            if not self._units and not extra_units:
                return []
            excl_u = set(exclude_units)
            excl_a = set(exclude_articles) | (set(overlay.meta) if overlay is not None else set())
            all_meta: Mapping[str, ArticleMeta] = (
                {**self._meta, **overlay.meta} if overlay is not None else self._meta)

            def unit_of(uid: int) -> Unit:
                return self._units[uid] if uid >= 0 else extra_units[uid]
            n_units = len(self._units)
            per_model: List[Dict[str, Dict[str, float]]] = []  # model -> article -> kind -> best cosine
            best_unit: Dict[str, tuple] = {}
            votes: Dict[str, float] = {}  # share of the nearest units (over all models) that belong to the article
            second: Dict[str, List[float]] = {}  # article -> its unit cosines (model 0), best first
            for m, (d, vec) in enumerate(zip(self._dense, q.vectors)):
                want = min(n_units, 48 * POOL + len(excl_u))
                scores, ids = d.search(vec.reshape(1, -1), want)
                hits = [(float(s), int(uid)) for s, uid in zip(scores[0], ids[0]) if int(uid) >= 0]
                if extra_units:
                    assert overlay is not None
                    mine = overlay.vectors[m] @ np.asarray(vec, dtype="float32").reshape(-1)
                    hits += [(float(s), uid) for s, uid in zip(mine, extra_units)]
                    hits.sort(key=lambda t: -t[0])
                arts: Dict[str, Dict[str, float]] = {}
                seen = 0
                for s, uid in hits:
                    if uid in excl_u:
                        continue
                    unit = unit_of(uid)
                    if unit.article_id in excl_a and uid >= 0:
                        continue
                    if seen < VOTERS:
                        votes[unit.article_id] = votes.get(unit.article_id, 0.0) + 1.0 / (VOTERS * len(q.vectors))
                        seen += 1
                    if m == 0:
                        second.setdefault(unit.article_id, []).append(float(s))
                    kinds = arts.setdefault(unit.article_id, {})
                    if float(s) > kinds.get(unit.kind, -2.0):
                        kinds[unit.kind] = float(s)
                    if m == 0 and (unit.article_id not in best_unit or float(s) > best_unit[unit.article_id][0]):
                        best_unit[unit.article_id] = (float(s), unit)
                per_model.append(arts)

            uid_arr, bm25, cov = self._lexical.search(q.text)
            lex_hits = list(zip(uid_arr.tolist(), bm25.tolist(), cov.tolist()))
            if extra_units:
                ob, oc = self._lexical.score_texts(q.text, [u.text for u in extra_units.values()])
                lex_hits += [(uid, b, c) for uid, b, c in zip(extra_units, ob.tolist(), oc.tolist()) if b > 0]
            lex: Dict[str, tuple] = {}
            for uid, b, c in lex_hits:
                uid = int(uid)
                if uid in excl_u:
                    continue
                a = unit_of(uid).article_id
                if a in excl_a and uid >= 0:
                    continue
                cur = lex.get(a)
                if cur is None or b > cur[0]:
                    lex[a] = (float(b), max(float(c), cur[1] if cur else 0.0))
                elif c > cur[1]:
                    lex[a] = (cur[0], float(c))

            found = {a for arts in per_model for a in arts} | set(lex)
            pooled = features(
                per_model=per_model,
                lexical=lex,
                votes=votes,
                cosines=second,
                langs={a: all_meta[a].lang for a in found},
                # an English-only model counts less for a question in another language (embedder.language_weight)
                weights=[language_weight(e.name, q.lang) for e in self.embedders],
                query_lang=q.lang,
                query_terms=len(terms(q.text)),
            )

            cands: List[Candidate] = []
            for a, f in pooled.items():
                meta = all_meta[a]
                su, unit = best_unit.get(a, (-1.0, Unit(a, "title", meta.title)))
                cands.append(
                    Candidate(a, meta.title, meta.lang, 0.0, f["dense"], unit.kind, unit.text, meta.category,
                              meta.handoff, f, version=meta.version)
                )
            for c in cands:
                c.score = fused_score(c.features)
            cands.sort(key=lambda c: c.score, reverse=True)
            return cands


def features(
    *,
    per_model: Sequence[Mapping[str, Mapping[str, float]]],
    lexical: Mapping[str, Tuple[float, float]],
    votes: Mapping[str, float],
    cosines: Mapping[str, Sequence[float]],
    langs: Mapping[str, str],
    weights: Sequence[float],
    query_lang: Optional[str],
    query_terms: int,
    pool: int = POOL,
) -> Dict[str, Dict[str, float]]:
    """A search's candidate pool and each candidate's features, from what the retrievers found: plain numbers in,
    plain numbers out (nothing here reads the index).

    ``per_model``: for each dense model, article -> unit kind -> the best cosine of its units of that kind (an
    article the model did not find is absent); ``lexical``: article -> (best BM25, best coverage) over its units;
    ``votes``: article -> its share of the nearest units; ``cosines``: article -> its units' cosines under the first
    model, best first; ``langs``: article -> its language (every article found); ``weights``: each model's weight
    for the query's language; ``query_lang``: the query's language (None: unknown); ``query_terms``: how many
    lexical terms it has.

    The pool: the ``pool`` best articles by dense cosine, then those by BM25 not already in, each ranking breaking
    ties by article id (never by set order, which changes with each process's string hashing — the same question
    would get a different article after a restart). Returns article -> features, in pool order:

    * ``dense``: its best cosine, mean over the models (by ``weights``), -1 unless every model found it;
      ``dense_<m>``: model m's best cosine (-1: not found); ``dense_q`` / ``dense_body``: the mean over the models
      (by ``weights``) of its best title-or-question / body-chunk cosine (-1 for a model that found none);
      ``dense_top2``: the mean of its two best unit cosines under the first model (-1: none);
    * ``lex_cov``, ``lex_bm25`` (log1p of BM25), ``lex_rel`` (BM25 over the top BM25): 0 without a lexical hit;
    * ``rank_dense``, ``rank_lex``: its 0-based rank in each (2 * ``pool`` when absent); ``rrf``: their reciprocal
      rank fusion (k = 10);
    * ``lang_match``: 1 when its language is the query's, 0 when not, 0.5 when the query's is unknown;
    * ``vote``; ``q_terms``: log1p of ``query_terms``;
    * ``gap_dense``, ``gap_lex``, ``gap_vote``: how far ``dense``, ``lex_cov`` and ``vote`` are ahead of the best
      *other* candidate's (negative when behind; the value itself when it is the only candidate).
    """

    def dense_best(a: str) -> float:
        vals = [max(arts[a].values()) for arts in per_model if a in arts]
        return float(np.average(vals, weights=weights)) if len(vals) == len(per_model) else -1.0

    dense_rank = sorted({a for arts in per_model for a in arts}, key=lambda a: (-dense_best(a), a))
    lex_rank = sorted(lexical, key=lambda a: (-lexical[a][0], a))
    chosen = list(dict.fromkeys(dense_rank[:pool] + lex_rank[:pool]))
    d_pos = {a: i for i, a in enumerate(dense_rank)}
    l_pos = {a: i for i, a in enumerate(lex_rank)}
    top_bm25 = lexical[lex_rank[0]][0] if lex_rank else 0.0

    out: Dict[str, Dict[str, float]] = {}
    for a in chosen:
        f: Dict[str, float] = {}
        f["dense"] = dense_best(a)
        for m, arts in enumerate(per_model):
            kinds = arts.get(a, {})
            f[f"dense_{m}"] = max(kinds.values()) if kinds else -1.0
        qs = [max(arts.get(a, {}).get("title", -1.0), arts.get(a, {}).get("question", -1.0)) for arts in per_model]
        bs = [arts.get(a, {}).get("body", -1.0) for arts in per_model]
        f["dense_q"] = float(np.average(qs, weights=weights))
        f["dense_body"] = float(np.average(bs, weights=weights))
        b, c = lexical.get(a, (0.0, 0.0))
        f["lex_cov"] = c
        f["lex_bm25"] = math.log1p(b)
        f["lex_rel"] = b / top_bm25 if top_bm25 > 0 else 0.0
        f["rank_dense"] = float(d_pos.get(a, 2 * pool))
        f["rank_lex"] = float(l_pos.get(a, 2 * pool))
        f["rrf"] = 1 / (10 + f["rank_dense"]) + 1 / (10 + f["rank_lex"])
        f["lang_match"] = 0.5 if not query_lang else float(langs[a] == query_lang)
        f["vote"] = votes.get(a, 0.0)
        cos = cosines.get(a, [])
        f["dense_top2"] = float(np.mean(cos[:2])) if cos else -1.0
        f["q_terms"] = math.log1p(query_terms)
        out[a] = f
    _relative_features(list(out.values()))
    return out


def _relative_features(feats: List[Dict[str, float]]) -> None:
    """How far each candidate is ahead of the best *other* candidate, per signal."""
    for key, out in (("dense", "gap_dense"), ("lex_cov", "gap_lex"), ("vote", "gap_vote")):
        vals = sorted((f[key] for f in feats), reverse=True)
        for f in feats:
            v = f[key]
            other = vals[1] if (len(vals) > 1 and v == vals[0]) else (vals[0] if vals else 0.0)
            f[out] = v - other if len(vals) > 1 else v


LEXICAL_WEIGHT = 0.1  # of the lexical coverage beside the dense cosine (measured, see fused_score)


def fused_score(f: Dict[str, float]) -> float:
    """Uncalibrated ranking score: dense cosine, lifted by lexical coverage and language match.

    It ranks the candidates where the calibration does not (title-only FAQs: one phrasing per article). The
    lexical weight was 0.25; 0.1 ranks better on all three such public suites (`tier0 eval` R@1: covidfaq 42.1 → 47.2 %,
    stackfaq 94.4 → 95.6 %, cnil-fr 58.0 → 58.7 %; dense alone: 51.6 / 95.7 / 52.2 %).
    """
    return f["dense"] + LEXICAL_WEIGHT * f["lex_cov"] + 0.05 * (f["lang_match"] - 0.5)
