"""Content gaps (#22 D): the customers' questions the bot could not answer, grouped by meaning, for the editors.

**Which questions.** From the stored conversations (bot.usage.turns), a customer question counts when

* the bot was unsure: it suggested articles or asked to rephrase (a ``clarify`` turn that the KB search decided)
  and the customer did not pick one of the suggestions on the next turn, or it handed off after repeated unsure
  turns (``repeated_failure``) — reason ``unsure``;
* or the bot answered it and the very next turn handed the conversation to a person ("that didn't help", "a person
  please", anger) — reason ``handed_off`` (an article picked among suggestions and then handed off counts for the
  question the suggestions answered).

Hand-offs of ``needs_authority`` (an article's hand-off topic, routed on purpose) are not gaps. A conversation gives
each question once (case, accents and end punctuation aside); only the ``max_questions`` most recent are grouped.

**Grouping.** Each question is embedded with the search's own models (every model of the index, each vector
L2-normalised, concatenated and scaled so that the cosine of two questions is the mean of their cosines over the
models, weighted as the search weighs them: an English-only model counts a third for French questions) and the
questions of each language are grouped by scikit-learn's ``AgglomerativeClustering`` with the cosine distance, average
linkage and a distance threshold (two groups merge while the mean distance between their questions is below it; no
number of groups to choose). The threshold is ``TIER0_GAPS_DISTANCE`` (default 0.25) read on the KB's own yardstick in
that language (:func:`kb_anchors`): 0 is the median distance between two phrasings of one article (its title and
alternate questions, as the index holds them), 1 the median distance between questions of two different articles.
One plain cosine threshold does not suit every language: French leans on e5, whose cosines sit close together (the
sample KB: 0.21 within an article, 0.25 between articles; English 0.37 and 0.52), and a plain 0.35 put every French
question in one group (bench/gaps_eval.py, bench/RESULTS.md). A group's representative is its medoid (the question
closest on average to the others).

**A group** has a key that is stable across runs (the language and a hash of its representative question,
normalised), its size in conversations (what an article would have saved: the ranking), up to 5 example questions
(the representative first, then the closest), the nearest existing article with the search's score for the
representative question, and the editors' decision if any (knowledge_base.usage: dismissed, or a draft started).
A decision also holds the group's members then: a group found again whose key changed (new questions moved its
medoid) is still the same topic when at least half of its questions were in the decided group.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import math
import re
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from bot.usage import Turn, next_turn, turns
from knowledge_base import usage
from knowledge_base.markdown import ArticleData
from knowledge_base.service import KnowledgeBase
from retrieval.embedder import language_weight
from retrieval.search import Query, SearchIndex
from tier0.db import Database
from tier0.errors import NotFound
from tier0.text import normalize
from tier0.vocab import ArticleStatus, GapReason, GapState

EXAMPLES = 5  # example questions shown per group
HANDOFF_AFTER_ANSWER = ("not_helpful", "customer_request", "frustration")
_CACHE_MAX = 20000  # question vectors kept per process (texts embedded again only when new)


@dataclass
class GapQuestion:
    message_id: int
    conversation_id: str
    text: str
    lang: str
    at: dt.datetime
    reason: str  # GapReason


@dataclass
class Gap:
    key: str
    lang: str
    conversations: int
    questions: int
    examples: List[str]
    reasons: Dict[str, int]
    members: List[int]  # the customer message ids
    first_at: str
    last_at: str
    nearest: Optional[Dict[str, Any]] = None  # {article_id, title, score}
    state: str = GapState.OPEN.value
    article_id: Optional[str] = None  # the draft started from it

    def as_dict(self) -> Dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "members"}
        return d


# -- which questions ----------------------------------------------------------------------------------------------
def _same(text: str) -> str:
    return " ".join(normalize(text or "").strip(" ?!.").split())


def unanswered(ts: List[Turn]) -> List[GapQuestion]:
    """The questions of ``ts`` (bot.usage.turns) the bot did not answer, or answered and then handed off."""
    found: List[Tuple[Turn, str]] = []
    for i, t in enumerate(ts):
        o, after = t.outcome, next_turn(ts, i)
        a = after.outcome if after else {}
        kind = o.get("type")
        if kind == "clarify" and t.searched:
            if not (a.get("type") == "answer" and a.get("chosen")):
                found.append((t, GapReason.UNSURE.value))
        elif kind == "handoff" and o.get("reason") == "repeated_failure":
            found.append((t, GapReason.UNSURE.value))
        elif kind == "answer" and a.get("type") == "handoff" and a.get("reason") in HANDOFF_AFTER_ANSWER:
            if not o.get("chosen"):
                found.append((t, GapReason.HANDED_OFF.value))
            elif i and ts[i - 1].conversation_id == t.conversation_id and ts[i - 1].outcome.get("type") == "clarify":
                found.append((ts[i - 1], GapReason.HANDED_OFF.value))  # the question the suggestions answered
    seen: Dict[str, set] = defaultdict(set)
    out: List[GapQuestion] = []
    for t, reason in sorted(found, key=lambda p: p[0].message_id):
        same = _same(t.text)
        if not same or same in seen[t.conversation_id]:
            continue
        seen[t.conversation_id].add(same)
        out.append(GapQuestion(t.message_id, t.conversation_id, t.text, t.lang or "en", t.at, reason))
    return out


# -- grouping -------------------------------------------------------------------------------------------------------
def cluster(vectors: np.ndarray, distance: float) -> List[List[int]]:
    """Row indexes of ``vectors`` grouped by agglomerative clustering (cosine distance, average linkage, stopped at
    ``distance``); each group sorted, groups in order of their first row."""
    n = len(vectors)
    if n == 0:
        return []
    if n == 1:
        return [[0]]
    from sklearn.cluster import AgglomerativeClustering

    params = inspect.signature(AgglomerativeClustering).parameters
    metric = {"metric": "cosine"} if "metric" in params else {"affinity": "cosine"}  # renamed in scikit-learn 1.2
    labels = AgglomerativeClustering(n_clusters=None, linkage="average", distance_threshold=distance,
                                     **metric).fit_predict(np.asarray(vectors, dtype=np.float64))
    groups: Dict[int, List[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        groups[int(label)].append(row)
    return sorted(groups.values(), key=lambda g: g[0])


def _unit(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms == 0, 1.0, norms)


def medoid(vectors: np.ndarray, rows: Sequence[int]) -> int:
    """The row of ``rows`` with the highest mean cosine to the others (the first of them on a tie)."""
    if len(rows) == 1:
        return rows[0]
    v = _unit(vectors[list(rows)])
    sims = (v @ v.T).sum(axis=1)
    return rows[int(np.argmax(sims))]


def group_key(lang: str, question: str) -> str:
    """A group's key: its language and a hash of its representative question, normalised (the same question gives
    the same key in every run, process and database)."""
    return f"{lang}-{hashlib.sha1(_same(question).encode('utf-8')).hexdigest()[:12]}"


KEY_PATTERN = r"^[a-z]{2,8}-[0-9a-f]{12}$"


class QuestionVectors:
    """The questions embedded with the index's models, one batch per model for the texts not seen before."""

    def __init__(self) -> None:
        self._seen: Dict[Tuple[str, str], np.ndarray] = {}
        self._lock = threading.Lock()

    def per_model(self, index: SearchIndex, texts: Sequence[str]) -> List[np.ndarray]:
        out = []
        for e in index.embedders:
            with self._lock:
                missing = [t for t in dict.fromkeys(texts) if (e.name, t) not in self._seen]
            if missing:
                vecs = e.encode_queries(missing)
                with self._lock:
                    if len(self._seen) + len(missing) > _CACHE_MAX:
                        self._seen.clear()
                    self._seen.update({(e.name, t): np.asarray(v) for t, v in zip(missing, vecs)})
            with self._lock:
                out.append(np.vstack([self._seen[(e.name, t)] for t in texts]))
        return out

    @staticmethod
    def joined(per_model: List[np.ndarray], weights: Optional[Sequence[float]] = None) -> np.ndarray:
        """One vector per text whose cosines are the mean of the models' cosines, weighted by ``weights`` (the
        search's: retrieval.embedder.language_weight)."""
        w = list(weights) if weights is not None else [1.0] * len(per_model)
        return np.hstack([_unit(v) * math.sqrt(x) for v, x in zip(per_model, w)]) / math.sqrt(sum(w))


VECTORS = QuestionVectors()

KB_KINDS = ("title", "question")  # the index units that are questions (or read like one)
KB_SAMPLE = 600  # at most about this many of a language's KB questions measure its distances
NO_ANCHORS = (0.0, 1.0)  # no KB questions to measure: the setting reads as a plain cosine distance


def kb_distances(article_ids: Sequence[str], per_model: List[np.ndarray],
                 weights: Optional[Sequence[float]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """The cosine distances (combined as :meth:`QuestionVectors.joined` does) between two questions of one KB
    article (within) and of two different articles (between)."""
    joined = QuestionVectors.joined(per_model, weights)
    d = 1 - joined @ joined.T
    ids = np.asarray(article_ids)
    upper = np.triu(np.ones(d.shape, dtype=bool), k=1)
    same = ids[:, None] == ids[None, :]
    return d[upper & same], d[upper & ~same]


def anchors(article_ids: Sequence[str], per_model: List[np.ndarray],
            weights: Optional[Sequence[float]] = None) -> Tuple[float, float]:
    """The KB's own yardstick in one language: the median distance between two phrasings of one article and the
    median distance between two questions of different articles (:data:`NO_ANCHORS` without both kinds of pair,
    or when the second is not above the first)."""
    if len(article_ids) < 3:
        return NO_ANCHORS
    within, between = kb_distances(article_ids, per_model, weights)
    if not len(within) or not len(between):
        return NO_ANCHORS
    a, b = float(np.median(within)), float(np.median(between))
    return (a, b) if b > a else NO_ANCHORS


def threshold(setting: float, yardstick: Tuple[float, float]) -> float:
    """The cosine distance threshold of a language: ``setting`` (``TIER0_GAPS_DISTANCE``) read on the KB's yardstick,
    0 at the typical distance between two phrasings of one article, 1 at the typical distance between two articles
    (kept within 0.001 .. 1.999)."""
    within, between = yardstick
    return min(max(within + setting * (between - within), 0.001), 1.999)


def _sample(ids: List[str], limit: int) -> List[str]:
    """About ``limit`` units' worth of whole articles, always the same ones (by a hash of their id)."""
    return sorted(ids, key=lambda a: hashlib.sha1(a.encode("utf-8")).hexdigest())[:max(limit, 2)]


_ANCHORS: Dict[Tuple[Any, ...], Tuple[float, float]] = {}
_ANCHORS_LOCK = threading.Lock()


def kb_anchors(index: SearchIndex, lang: str) -> Tuple[float, float]:
    """:func:`anchors` of the index's questions (titles and alternate questions) of the articles in ``lang`` (all
    the index's articles when fewer than two are in ``lang``), as the search weighs the models for ``lang``;
    computed once per index version."""
    key = (id(index), getattr(index, "version", None), tuple(index.model_names), lang)
    with _ANCHORS_LOCK:
        if key in _ANCHORS:
            return _ANCHORS[key]
    units = {uid: u for uid, u in index.units().items() if u.kind in KB_KINDS}
    langs: Dict[str, str] = {}
    for u in units.values():
        if u.article_id not in langs:
            langs[u.article_id] = index.meta(u.article_id).lang
    mine = [a for a, lg in langs.items() if lg == lang]
    pool = mine if len(mine) >= 2 else list(langs)
    per_article = max(1, len(units) // max(len(langs), 1))
    chosen = set(_sample(pool, KB_SAMPLE // per_article))
    uids = sorted(uid for uid, u in units.items() if u.article_id in chosen)
    if len(uids) < 3:
        found = NO_ANCHORS
    else:
        vectors = index.unit_vectors(uids)
        weights = [language_weight(name, lang) for name in index.model_names]
        found = anchors([units[u].article_id for u in uids], vectors, weights)
    with _ANCHORS_LOCK:
        if len(_ANCHORS) > 100:
            _ANCHORS.clear()
        _ANCHORS[key] = found
    return found


# -- the report -----------------------------------------------------------------------------------------------------
def _nearest(index: SearchIndex, text: str, lang: str, vectors: List[np.ndarray]) -> Optional[Dict[str, Any]]:
    q = Query(text, lang, vectors)
    cands = index.search_query(q)
    if index.calibrator is not None:
        index.calibrator.rank(cands, q)
    if not cands:
        return None
    best = next((c for c in cands if c.lang == lang), cands[0])
    return {"article_id": best.article_id, "title": best.title, "score": round(float(best.score), 4)}


def _decision_for(g: Gap, decisions: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    members = set(g.members)
    for d in reversed(decisions):  # the latest first
        if d["key"] == g.key:
            return d
    for d in reversed(decisions):
        if d["lang"] == g.lang and members and len(members & set(d["members"])) * 2 >= len(members):
            return d
    return None


def report(db: Database, index: SearchIndex, since: dt.datetime, until: dt.datetime, lang: Optional[str] = None,
           distance: float = 0.25, max_questions: int = 1000, min_conversations: int = 1,
           include_handled: bool = False) -> List[Gap]:
    """The groups of unanswered questions of ``since`` .. ``until``, most conversations first."""
    qs = [q for q in unanswered(turns(db, since, until)) if lang is None or q.lang == lang]
    qs = sorted(qs, key=lambda q: q.message_id)[-max_questions:]
    decisions = usage.gap_decisions(db)
    gaps: List[Gap] = []
    by_lang: Dict[str, List[GapQuestion]] = defaultdict(list)
    for q in qs:
        by_lang[q.lang].append(q)
    for lg, items in sorted(by_lang.items()):
        per_model = VECTORS.per_model(index, [q.text for q in items])
        joined = QuestionVectors.joined(per_model, [language_weight(e.name, lg) for e in index.embedders])
        for rows in cluster(joined, threshold(distance, kb_anchors(index, lg))):
            convs = {items[r].conversation_id for r in rows}
            if len(convs) < min_conversations:
                continue
            m = medoid(joined, rows)
            sims = _unit(joined[rows]) @ _unit(joined[[m]]).T
            ordered = [rows[i] for i in np.argsort(-sims[:, 0], kind="stable")]
            examples: List[str] = []
            for r in [m] + [r for r in ordered if r != m]:
                if _same(items[r].text) not in {_same(e) for e in examples}:
                    examples.append(items[r].text)
                if len(examples) == EXAMPLES:
                    break
            reasons: Dict[str, int] = defaultdict(int)
            for r in rows:
                reasons[items[r].reason] += 1
            times = sorted(items[r].at for r in rows)
            g = Gap(group_key(lg, items[m].text), lg, len(convs), len(rows), examples, dict(reasons),
                    sorted(items[r].message_id for r in rows), times[0].isoformat() + "Z",
                    times[-1].isoformat() + "Z")
            d = _decision_for(g, decisions)
            if d is not None:
                g.state, g.article_id = d["state"], d.get("article_id")
                if not include_handled:
                    continue
            g.nearest = _nearest(index, items[m].text, lg, [v[m] for v in per_model])
            gaps.append(g)
    gaps.sort(key=lambda g: (-g.conversations, -g.questions, g.key))
    _remember(gaps)
    return gaps


_LAST: Dict[str, Gap] = {}  # the groups of the latest reports of this process, by key (for dismiss and draft)
_LAST_LOCK = threading.Lock()


def _remember(gaps: List[Gap]) -> None:
    with _LAST_LOCK:
        if len(_LAST) > 5000:
            _LAST.clear()
        _LAST.update({g.key: g for g in gaps})


def find(key: str, recompute) -> Gap:
    """The group ``key`` of a recent report of this process, else of ``recompute()`` (a default report with the
    decided groups included); NotFound when it is in neither."""
    with _LAST_LOCK:
        g = _LAST.get(key)
    if g is None:
        g = next((x for x in recompute() if x.key == key), None)
    if g is None:
        raise NotFound(f"no content gap {key} in the current report (run the report again)")
    return g


def dismiss(db: Database, g: Gap, actor: str) -> None:
    usage.decide_gap(db, g.key, g.lang, GapState.DISMISSED.value, g.examples[0], g.members, actor)
    g.state = GapState.DISMISSED.value


# -- drafts -----------------------------------------------------------------------------------------------------------
PLACEHOLDER = {
    "en": "(Draft started from customers' questions: write the answer here.)",
    "fr": "(Brouillon créé à partir de questions de clients : rédigez la réponse ici.)",
}


def title_of(question: str, limit: int = 200) -> str:
    t = " ".join(question.split())[:limit].strip()
    return t[:1].upper() + t[1:] if t else t


def slug(text: str, limit: int = 60) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", normalize(text)).strip("-")
    return s[:limit].rstrip("-") or "article"


def new_article_id(kb: KnowledgeBase, title: str, lang: str) -> str:
    base = f"{slug(title)}-{lang}"
    for n in range(1, 1000):
        candidate = base if n == 1 else f"{base}-{n}"
        try:
            kb.get(candidate)
        except NotFound:
            return candidate
    raise NotFound(f"no free article id for {title!r}")  # pragma: no cover - a thousand namesakes


def create_draft(kb: KnowledgeBase, title: str, lang: str, questions: Sequence[str], body: str, author: str,
                 note: str) -> ArticleData:
    """A new draft article (KnowledgeBase.upsert with status draft: not answered from until published)."""
    title = title_of(title)
    data = ArticleData(id=new_article_id(kb, title, lang), title=title, lang=lang,
                       body=body.strip() or PLACEHOLDER.get(lang, PLACEHOLDER["en"]),
                       questions=[q for q in dict.fromkeys(" ".join(x.split()) for x in questions)
                                  if q and _same(q) != _same(title)],
                       status=ArticleStatus.DRAFT.value)
    if "author" in inspect.signature(kb.upsert).parameters:  # the editor core (#22 A) records who wrote it
        kb.upsert(data, note=note, author=author)  # type: ignore[call-arg]
    else:
        kb.upsert(data, note=f"{note} ({author})")
    return kb.get(data.id)


def draft(db: Database, kb: KnowledgeBase, g: Gap, actor: str) -> ArticleData:
    """A draft prefilled from the group: its representative question as title, the examples as alternate
    questions; the group is marked drafted."""
    art = create_draft(kb, g.examples[0], g.lang, g.examples, "", actor, f"from content gap {g.key}")
    usage.decide_gap(db, g.key, g.lang, GapState.DRAFTED.value, g.examples[0], g.members, actor, article_id=art.id)
    g.state, g.article_id = GapState.DRAFTED.value, art.id
    return art
