"""Lexical retrieval: BM25 over the same units as the dense index, case- and accent-insensitive.

Tokens are normalised (``tier0.text.tokens``), stop words of French and English are dropped and every token is cut
to its first six letters — a crude but language-agnostic stemmer that maps "remboursement"/"rembourser" and
"delivery"/"delivered" together. Besides BM25, :meth:`LexicalIndex.search` returns a bounded *coverage*: the share
of the query's IDF mass found in the unit, comparable across queries (BM25 is not).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np
from scipy import sparse

from tier0.text import tokens

STEM = 6
STOPWORDS = set(
    """
    a an the and or but if of to in on at for with from by about as into is are was were be been being am do does
    did doing have has had having i me my we our you your he she it its they them their this that these those what
    which who whom how when where why can could would should will shall may might must not no yes so than then there
    here just also too very please hi hello thanks thank any some all get got im i'm i've i'd it's don't can't
    le la les l un une des du de d au aux et ou mais si en y a est sont suis etre etes es ai as avons avez ont
    je j me m moi tu te t toi il elle on nous vous ils elles se s mon ma mes ton ta tes son sa ses notre nos votre vos
    leur leurs ce c cet cette ces ca cela qui que qu quoi quel quelle quels quelles comment quand pourquoi combien
    dans sur sous avec sans pour par pas ne n plus tres bien aussi donc car est-ce bonjour merci svp stp oui non
    veux voudrais want need would like faut peux pouvez puis
    """.split()
)


def terms(text: str) -> List[str]:
    out = []
    for t in tokens(text):
        t = t.replace("'", "").replace("’", "")
        if not t or t in STOPWORDS:
            continue
        out.append(t[:STEM])
    return out


class LexicalIndex:
    """BM25 (k1, b) over a list of unit texts; rebuilt whole when the units change (cheap: sparse matrices). Each
    unit's terms are remembered by unit id, so a rebuild after an incremental update tokenises only the new units."""

    def __init__(self, k1: float = 1.2, b: float = 0.75):
        self.k1 = k1
        self.b = b
        self._terms: Dict[int, List[str]] = {}  # unit id -> its terms (units ids are never reused)
        self._avg_len = 1.0
        self.vocab: Dict[str, int] = {}
        self.unit_ids = np.zeros(0, dtype="int64")
        self._tf = sparse.csc_matrix((0, 0))
        self._idf = np.zeros(0)
        self._len_norm = np.zeros(0)
        self._max_idf = 1.0

    def build(self, units: Iterable[Tuple[int, str]]) -> None:
        ids: List[int] = []
        rows: List[int] = []
        cols: List[int] = []
        vals: List[float] = []
        lengths: List[int] = []
        vocab: Dict[str, int] = {}
        cache: Dict[int, List[str]] = {}
        for row, (uid, text) in enumerate(units):
            ids.append(uid)
            counts: Dict[int, int] = {}
            toks = self._terms.get(uid)
            if toks is None:
                toks = terms(text)
            cache[uid] = toks
            for t in toks:
                j = vocab.setdefault(t, len(vocab))
                counts[j] = counts.get(j, 0) + 1
            lengths.append(len(toks))
            for j, c in counts.items():
                rows.append(row)
                cols.append(j)
                vals.append(float(c))
        n = len(ids)
        self._terms = cache  # the units gone are forgotten
        self.vocab = vocab
        self.unit_ids = np.asarray(ids, dtype="int64")
        tf = sparse.csr_matrix((vals, (rows, cols)), shape=(n, len(vocab)), dtype="float64")
        df = np.bincount(np.asarray(cols, dtype="int64"), minlength=len(vocab)).astype("float64")
        self._idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5)) if n else np.zeros(0)
        self._max_idf = math.log(1.0 + (n + 0.5) / 0.5) if n else 1.0
        lens = np.asarray(lengths, dtype="float64")
        avg = lens.mean() if n else 1.0
        self._avg_len = float(max(avg, 1e-9))
        self._len_norm = self.k1 * (1 - self.b + self.b * lens / max(avg, 1e-9))
        self._tf = tf.tocsc()

    def __len__(self) -> int:
        return len(self.unit_ids)

    def search(self, query: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(unit_ids, bm25, coverage)`` for every unit sharing at least one term with the query."""
        q = terms(query)
        if not q or len(self) == 0:
            empty = np.zeros(0)
            return self.unit_ids[:0], empty, empty
        qcount = Counter(self.vocab[t] for t in q if t in self.vocab)
        unknown = sum(1 for t in q if t not in self.vocab)
        if not qcount:
            empty = np.zeros(0)
            return self.unit_ids[:0], empty, empty
        # unknown terms weigh like the rarest term: a query about something the KB never mentions covers little
        total_idf = sum(self._idf[j] * c for j, c in qcount.items()) + self._max_idf * unknown
        bm25 = np.zeros(len(self))
        covered = np.zeros(len(self))
        tf_all = self._tf
        for j, qtf in qcount.items():
            lo, hi = tf_all.indptr[j], tf_all.indptr[j + 1]
            rows = tf_all.indices[lo:hi]
            tf = tf_all.data[lo:hi]
            bm25[rows] += self._idf[j] * tf * (self.k1 + 1) / (tf + self._len_norm[rows])
            covered[rows] += self._idf[j] * qtf
        hit = np.nonzero(bm25)[0]
        return self.unit_ids[hit], bm25[hit], covered[hit] / max(total_idf, 1e-9)

    def score_texts(self, query: str, texts: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
        """``(bm25, coverage)`` of texts that are NOT in the index (a draft's units, for try-it), scored with the
        index's statistics (IDF, mean length) as if they had been added to it; a query term the index does not know
        weighs like the rarest term, as in :meth:`search`."""
        q = terms(query)
        n = len(texts)
        if not q or n == 0:
            return np.zeros(n), np.zeros(n)
        qcount = Counter(q)

        def idf(t: str) -> float:
            j = self.vocab.get(t)
            return float(self._idf[j]) if j is not None else self._max_idf

        total_idf = sum(idf(t) * c for t, c in qcount.items())
        bm25 = np.zeros(n)
        covered = np.zeros(n)
        for i, text in enumerate(texts):
            toks = terms(text)
            tf_of = Counter(toks)
            norm = self.k1 * (1 - self.b + self.b * len(toks) / self._avg_len)
            for t, qtf in qcount.items():
                tf = tf_of.get(t, 0)
                if tf:
                    bm25[i] += idf(t) * tf * (self.k1 + 1) / (tf + norm)
                    covered[i] += idf(t) * qtf
        return bm25, covered / max(total_idf, 1e-9)
