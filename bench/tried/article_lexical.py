"""Article-level lexical features for the calibration model.

    .venv/bin/python bench/tried/article_lexical.py FEATURES [--index-cache DIR] SUITE ...
    FEATURES: comma-separated, of art_cov,miss_max ('' = the baseline)

stackfaq's most confident wrong answers are questions on a topic the KB left out, found as a neighbour that differs
in one salient word: "link to a time point in a Vimeo video" -> "Linking directly to a specific point in time of a
YouTube video" (p 0.999). Two features try to see that: ``art_cov``, the share of the query's IDF mass found anywhere
in the article (all its parts together, where ``lex_cov`` takes the best part), and ``miss_max``, the IDF of the
rarest query term the article lacks (a term the KB never uses weighs like the rarest), over the largest IDF; signs
constrained (+ and -). Then runs ``bench/retrieval_eval.py`` with them.

Measured 2026-12-02, retrieval only, default models: stackfaq 0.830 / 0.028 / hindsight 0.909 -> 0.828 / 0.028 /
0.910 with both, the same with ``miss_max`` alone; covidfaq no answers either way. Not kept: the model gives them
almost no weight — the KB-derived examples do not show the pattern (a customer's rephrasing lacks the title's words
as often as an out-of-KB question does).
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from retrieval import search as S  # noqa: E402
from retrieval.lexical import terms  # noqa: E402

FEATURES = [f for f in (sys.argv.pop(1) if len(sys.argv) > 1 else "").split(",") if f]
_search_query = S.SearchIndex.search_query
_terms: dict = {}


def unit_terms(index):
    key = id(index)
    if key not in _terms or _terms[key][0] != len(index._units):
        per_unit = {uid: set(terms(u.text)) for uid, u in index._units.items()}
        per_article: dict = {}
        for uid, u in index._units.items():
            per_article.setdefault(u.article_id, []).append(uid)
        _terms[key] = (len(index._units), per_unit, per_article)
    return _terms[key][1], _terms[key][2]


def search_query(self, q, exclude_units=(), exclude_articles=()):
    cands = _search_query(self, q, exclude_units, exclude_articles)
    if not FEATURES:
        return cands
    per_unit, per_article = unit_terms(self)
    lx = self._lexical
    qt = terms(q.text)
    idf = [lx._idf[lx.vocab[t]] if t in lx.vocab else lx._max_idf for t in qt]
    total = sum(idf) or 1.0
    hidden = set(exclude_units)
    for c in cands:
        have = set().union(*[per_unit[u] for u in per_article.get(c.article_id, []) if u not in hidden])
        c.features["art_cov"] = sum(w for t, w in zip(qt, idf) if t in have) / total
        c.features["miss_max"] = max([w for t, w in zip(qt, idf) if t not in have], default=0.0) / lx._max_idf
    return cands


S.SearchIndex.search_query = search_query
# the names live where the fit reads them (retrieval.calibration is a package since 2026-12-04)
from retrieval.calibration import fitting as _fitting  # noqa: E402
from retrieval.calibration import model as _model  # noqa: E402

_model.BASE_FEATURES = tuple(_model.BASE_FEATURES) + tuple(FEATURES)
_sign = _model.expected_sign
_fitting.expected_sign = lambda name: -1 if name == "miss_max" else _sign(name)
import retrieval_eval  # noqa: E402

if __name__ == "__main__":
    sys.exit(retrieval_eval.main())
