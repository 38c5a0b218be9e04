"""What a fit tells the KB's editors: phrasings that find another article (confusions), articles that none of their
own phrasings finds (unreached), and pairs of articles that say nearly the same thing (near-duplicates)."""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from retrieval.calibration.training import CalibrationExample
from retrieval.search import Candidate, SearchIndex

MAX_CONFUSIONS = 20
# Two articles of the same language whose titles, or whose answers (first body chunks), are at least this alike (cosine,
# mean over the search models) are reported as near-duplicates: the bot cannot tell them apart, so neither can be
# answered confidently. Measured on the public KBs (bench/RESULTS.md): covidfaq's pet / pregnancy / "what is COVID-19"
# pairs and cnil-fr's articles published twice score 0.93-1.0; the sample KB's closest same-language pair 0.87.
DUPLICATE_SIMILARITY = 0.93
MAX_DUPLICATES = 20


def confusions(positives: Sequence[Tuple[CalibrationExample, Candidate]],
               floor: float = 0.5) -> List[Dict[str, object]]:
    """The KB phrasings whose most probable article, with their own entry hidden, is another one (p >= ``floor``),
    most confident first: each is a wrong answer the calibration had to allow for. Rewording the phrasing, or
    merging or splitting the two articles, lowers the thresholds. ``positives``: (example, its ranked top)."""
    out: List[Dict[str, object]] = [
        {"question": ex.text, "article": ex.expected, "found": top.article_id, "confidence": round(top.score, 3)}
        for ex, top in positives
        if top.article_id != ex.expected and top.score >= floor
    ]
    out.sort(key=lambda c: -float(c["confidence"]))  # type: ignore[arg-type]
    return out[:MAX_CONFUSIONS]


def unreached_articles(positives: Sequence[Tuple[CalibrationExample, Candidate]]) -> Tuple[List[str], int]:
    """The articles that none of their own phrasings finds first (with that phrasing hidden), sorted: the first
    :data:`MAX_CONFUSIONS`, and how many there are in all. ``positives``: (example, its ranked top)."""
    found = {ex.expected for ex, top in positives if top.article_id == ex.expected}
    unreached = sorted({ex.expected for ex, _ in positives if ex.expected is not None} - found)
    return unreached[:MAX_CONFUSIONS], len(unreached)


def near_duplicates(index: SearchIndex, floor: float = DUPLICATE_SIMILARITY) -> Tuple[List[Dict[str, object]], int]:
    """Pairs of articles of the same language that say nearly the same thing (similarity >= ``floor`` by title or
    by answer, :meth:`SearchIndex.similar_articles`), most alike first: the first :data:`MAX_DUPLICATES`, and how
    many there are in all. Merging each pair (or making each article specific) is what lets the bot answer them: a
    question about either finds both, and the calibration counts the one it did not pick as wrong."""
    pairs = [p for p in index.similar_articles(floor) if index.meta(p[1]).lang == index.meta(p[2]).lang]
    out = [
        {"articles": [a, b], "titles": [index.meta(a).title, index.meta(b).title], "similarity": round(sim, 3),
         "part": part}
        for sim, a, b, part in pairs[:MAX_DUPLICATES]
    ]
    return out, len(pairs)
