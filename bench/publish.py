"""Publish -> answerable (issue #22, BC): how long after KnowledgeBase.upsert() returns a new or edited article is what
the bot answers from, and what that costs, on the sample KB and on a generated KB of many articles.

Each publish goes through the product's path: the KB's on_change listener (bot.services.KbFollower) updates the index
for that article only (SearchIndex.update: embed its units, rebuild BM25 from cached terms, save) and adapts the
calibration; the full refit that follows in the background is switched off here (TIER0_REFIT_DELAY < 0) and timed
separately on the sample KB, as what every KB change cost a worker before.

    .venv/bin/python bench/publish.py --kb sample                      # default models, calibrated (fits once)
    .venv/bin/python bench/publish.py --kb generated --articles 10000 --models multilingual-e5-small \
        --home var/bench-publish-10k                                   # kept: a second run reuses the 10,000

The generated KB has no calibration (a fit over 10,000 articles is another bench): "answerable" there means the new
article is the search's first candidate for its own alternate question, by the fused score.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WORDS = ("account order parcel refund invoice voucher delivery store return warranty payment card address password "
         "subscription courier size colour battery charger screen laptop phone headset printer sofa lamp bicycle "
         "tent kettle blender camera watch tablet jacket boots mattress pillow curtain drill ladder garden barbecue "
         "stroller").split()
VERBS = "change cancel track repair replace exchange register activate update unlock insure assemble clean".split()


def generated_article(i: int, rng: random.Random) -> dict:
    a, b = rng.sample(WORDS, 2)
    verb = rng.choice(VERBS)
    return {
        "id": f"gen-{i:05d}",
        "title": f"How to {verb} the {a} of a {b} (ref {i})",
        "lang": "en",
        "questions": [f"can I {verb} my {b} {a} number {i}"],
        "body": (f"To {verb} the {a} of your {b}, open your account, choose the {b} and follow the steps. "
                 f"Reference {i}: keep your receipt; a {rng.choice(WORDS)} may be asked for."),
    }


def new_article(i: int, tag: str = "") -> dict:
    topics = ["recycling old electronics in stores", "gift wrapping at checkout", "renting a van for furniture",
              "engraving a watch", "repairing a bicycle puncture", "storing a sofa until moving day",
              "a pet-friendly shop policy", "a student discount card"]
    topic = topics[i % len(topics)] + (f" {tag}" if tag else "")
    return {"id": f"new-{tag}{i}" if tag else f"new-{i}", "title": f"About {topic}", "lang": "en",
            "questions": [f"tell me about {topic}", f"do you offer {topic}?"],
            "body": f"Yes: we offer {topic} in every store. Ask at the counter; it takes about ten minutes."}


def answerable(index, art: dict, services=None) -> dict:
    question = art["questions"][0]
    started = time.monotonic()
    if services is not None:  # the product's decision on the calibrated candidates
        from retrieval.decision import Signals, decide

        cands = index.search(question, lang="en", k=5)
        d = decide(cands, Signals(language="en", words=len(question.split())), services.turns.policy_for("en"))
        ok, kind = d.kind == "answer" and d.article.article_id == art["id"], d.kind
    else:
        cands = index.search(question, lang="en", k=5)
        ok, kind = bool(cands) and cands[0].article_id == art["id"], "top-1"
    return {"answered": ok, "decision": kind, "search_ms": round((time.monotonic() - started) * 1000, 1)}


def publish_runs(kb, index, services, publishes: int, tag: str = "") -> list:
    from knowledge_base.markdown import ArticleData

    runs = []
    for i in range(publishes):
        art = new_article(i, tag)
        stats = dict(index.stats)
        started = time.monotonic()
        kb.upsert(ArticleData(**art))
        took = time.monotonic() - started
        check = answerable(index, art, services)
        runs.append({"article": art["id"], "publish_ms": round(took * 1000, 1), **check,
                     "embedded_units": index.stats["embedded_units"] - stats["embedded_units"],
                     "full_syncs": index.stats["syncs"] - stats["syncs"]})
    # an edit of the first one: answered from version 2
    art = {**new_article(0, tag), "body": "Changed: " + new_article(0, tag)["body"]}
    started = time.monotonic()
    kb.upsert(ArticleData(**art))
    took = time.monotonic() - started
    cands = index.search(art["questions"][0], lang="en", k=1)
    runs.append({"article": art["id"] + " (edit)", "publish_ms": round(took * 1000, 1),
                 "answered": bool(cands) and cands[0].article_id == art["id"] and cands[0].version == 2})
    return runs


def parts(index) -> dict:
    """What an update costs besides embedding: BM25 rebuild (cached terms) and saving the index."""
    started = time.monotonic()
    with index._lock:
        index._rebuild_lexical()
    lexical = time.monotonic() - started
    started = time.monotonic()
    with index._lock:
        index._save()
    return {"lexical_rebuild_ms": round(lexical * 1000, 1), "save_ms": round((time.monotonic() - started) * 1000, 1)}


def bench_sample(home: Path, models: str, publishes: int) -> dict:
    from bot.services import build_services
    from tier0.config import Settings

    settings = Settings(home=home, embedding_model=models, refit_delay=-1)
    started = time.monotonic()
    services = build_services(settings)
    built = time.monotonic() - started
    runs = publish_runs(services.kb, services.index, services, publishes)
    out = {"kb": "sample", "models": models, "articles": len(services.index), "units": len(services.index.units()),
           "build_s": round(built, 1), "runs": runs, **parts(services.index)}
    started = time.monotonic()  # what every KB change cost before: the full refit of the calibration
    services.refresh_calibration()
    out["full_refit_s"] = round(time.monotonic() - started, 1)
    return out


def bench_generated(home: Path, models: str, n: int, publishes: int) -> dict:
    import knowledge_base.models  # noqa: F401
    from bot.services import KbFollower
    from knowledge_base.markdown import ArticleData
    from knowledge_base.service import KnowledgeBase
    from retrieval.embedder import every_core, load_embedders
    from retrieval.search import SearchIndex
    from tier0.db import Database

    db = Database(f"sqlite:///{home / 'bench.db'}")
    db.migrate()
    kb = KnowledgeBase(db)
    rng = random.Random(7)
    started = time.monotonic()
    reused = kb.count()  # a --home kept from an earlier run: its articles and index are there already
    for i in range(reused, n):
        kb.upsert(ArticleData(**generated_article(i, rng)))
    stored = time.monotonic() - started
    started = time.monotonic()
    index = SearchIndex(load_embedders(models, threads=1), home / "index")
    loaded = time.monotonic() - started
    started = time.monotonic()
    with every_core(1):
        index.sync(kb.published(), kb.fingerprint())
    built = time.monotonic() - started
    follower = KbFollower(kb, index, refit=lambda: None, refit_lock=threading.Lock(), delay=-1)
    kb.on_change(follower.changed)
    runs = publish_runs(kb, index, None, publishes, tag=f"r{int(time.time())}-")
    return {"kb": f"generated-{n}", "models": models, "articles": len(index), "units": len(index.units()),
            "reused_articles": reused, "store_s": round(stored, 1), "load_s": round(loaded, 1),
            "build_s": round(built, 1), "rss_mb": rss_mb(), "search": search_times(index, n), "runs": runs,
            **parts(index)}


def search_times(index, n: int, queries: int = 300) -> dict:
    """Search latency on this index (one thread, as a turn thread runs it): the alternate question of random
    articles, reworded, embedded each time (no cache); p50 / p99 in ms, and how often the article is first."""
    gen = random.Random(7)  # the same generator as the KB's: article i is the i-th it makes
    arts = [generated_article(i, gen) for i in range(n)]
    rng = random.Random(11)
    took, first = [], 0
    for _ in range(queries):
        art = arts[rng.randrange(n)]
        question = "please, " + art["questions"][0] + "?"
        started = time.perf_counter()
        cands = index.search(question, lang="en", k=5)
        took.append((time.perf_counter() - started) * 1000)
        first += bool(cands) and cands[0].article_id == art["id"]
    took.sort()
    return {"queries": queries, "p50_ms": round(took[len(took) // 2], 1),
            "p99_ms": round(took[min(len(took) - 1, int(len(took) * 0.99))], 1),
            "top1": round(first / queries, 3)}


def rss_mb() -> float:
    """This process's peak resident memory (what a worker holding this index needs), in MB."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kb", choices=("sample", "generated"), default="sample")
    ap.add_argument("--articles", type=int, default=10000, help="generated KB size")
    ap.add_argument("--models", default=None, help="embedding models (default: tier0's)")
    ap.add_argument("--publishes", type=int, default=5)
    ap.add_argument("--json", type=Path, help="write the result here too")
    ap.add_argument("--home", type=Path, help="generated KB: keep its database and index here, reused next time "
                    "(the store and embedding steps then take seconds; each run publishes new articles)")
    args = ap.parse_args(argv)
    from tier0.config import DEFAULT_EMBEDDING_MODELS

    models = args.models or DEFAULT_EMBEDDING_MODELS
    if args.home is not None and args.kb == "generated":  # kept: the next run reuses its articles and index
        args.home.mkdir(parents=True, exist_ok=True)
        out = bench_generated(args.home, models, args.articles, args.publishes)
    else:
        with tempfile.TemporaryDirectory(prefix="tier0-bench-publish-") as tmp:
            if args.kb == "sample":
                out = bench_sample(Path(tmp), models, args.publishes)
            else:
                out = bench_generated(Path(tmp), models, args.articles, args.publishes)
    ms = [r["publish_ms"] for r in out["runs"]]
    out["publish_ms_median"] = statistics.median(ms)
    out["publish_ms_max"] = max(ms)
    out["all_answered"] = all(r["answered"] for r in out["runs"])
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
