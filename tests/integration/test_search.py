"""The real embedding model + FAISS on disk, kept in step with the KB."""

import json

import pytest

import knowledge_base.models  # noqa: F401
from knowledge_base.markdown import ArticleData
from knowledge_base.service import KnowledgeBase
from retrieval.search import SearchIndex, chunk_body
from tier0.db import Database

from ..conftest import SAMPLE_KB, small_kb


def _kb(tmp_path, folder=SAMPLE_KB, name="kb"):
    db = Database(f"sqlite:///{tmp_path / (name + '.db')}")
    db.create_all()
    kb = KnowledgeBase(db)
    kb.import_folder(folder)
    return kb


def _small_kb(tmp_path):
    return _kb(tmp_path, small_kb(tmp_path / "small-kb"), name="small")


def test_search_finds_the_article_and_persists(tmp_path, embedder):
    kb = _kb(tmp_path)
    index = SearchIndex(embedder, tmp_path / "index")
    stats = index.sync(kb.published(), kb.fingerprint())
    assert stats["added"] == kb.count() and len(index) == kb.count()
    hits = index.search("I forgot my password and cannot log in", lang="en")
    assert hits[0].article_id == "reset-password-en"
    assert hits[0].score > hits[1].score
    assert hits[0].features["lex_cov"] > 0.5 and hits[0].raw_score > 0.5  # both retrievers agree
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["models"] == ["all-mpnet-base-v2", "multilingual-e5-small"] and len(manifest["hashes"]) == kb.count()

    reopened = SearchIndex(embedder, tmp_path / "index")  # restart: loads from disk, nothing to re-embed
    assert reopened.sync(kb.published(), kb.fingerprint()) == {"added": 0, "removed": 0}
    assert reopened.search("I forgot my password and cannot log in", lang="en")[0].article_id == "reset-password-en"


def test_prefers_the_customers_language(tmp_path, embedder):
    kb = _kb(tmp_path)
    index = SearchIndex(embedder, tmp_path / "index")
    index.sync(kb.published(), kb.fingerprint())
    fr = index.search("j'ai oublié mon mot de passe", lang="fr")
    assert fr[0].lang == "fr"


def test_changes_reembed_only_what_changed(tmp_path, embedder):
    kb = _kb(tmp_path)
    index = SearchIndex(embedder, tmp_path / "index")
    index.sync(kb.published(), kb.fingerprint())
    kb.upsert(ArticleData(id="pet-policy", title="Can I bring my dog to a store?", lang="en",
                          body="Dogs on a leash are welcome in every Nuvola store."))
    assert index.sync(kb.published(), kb.fingerprint()) == {"added": 1, "removed": 0}
    assert index.search("are dogs allowed in your shops", lang="en")[0].article_id == "pet-policy"
    kb.set_status("pet-policy", "archived")
    assert index.sync(kb.published(), kb.fingerprint()) == {"added": 0, "removed": 1}
    assert all(h.article_id != "pet-policy" for h in index.search("are dogs allowed in your shops"))


def test_duplicate_articles_tie_the_same_way_every_time(tmp_path, embedder):
    # Two articles with the same text score exactly alike; the tie goes by article id, not by the order of a set
    # (which changes with each process's string hashing: the same question answered differently after a restart).
    kb = _kb(tmp_path)
    for dup in ("dup-b", "dup-a"):
        kb.upsert(ArticleData(id=dup, title="Can I bring my dog to a store?", lang="en",
                              body="Dogs on a leash are welcome in every Nuvola store."))
    index = SearchIndex(embedder, tmp_path / "index")
    index.sync(kb.published(), kb.fingerprint())
    hits = index.search("are dogs allowed in your shops", lang="en")
    assert [h.article_id for h in hits[:2]] == ["dup-a", "dup-b"]
    assert hits[0].score == hits[1].score


def test_long_bodies_are_chunked_on_paragraphs():
    body = "\n\n".join(" ".join(f"w{i}_{j}" for j in range(50)) for i in range(5))
    chunks = chunk_body(body, max_words=120)
    assert [len(c.split()) for c in chunks] == [100, 100, 50]
    assert chunk_body(" ".join(["x"] * 300), max_words=120) == [" ".join(["x"] * 120)] * 2 + [" ".join(["x"] * 60)]


def test_calibration_from_the_kb_alone(tmp_path, embedder):
    from retrieval.calibration import Calibrator, load_or_fit

    kb = _kb(tmp_path)
    index = SearchIndex(embedder, tmp_path / "index")
    index.sync(kb.published(), kb.fingerprint())
    path = tmp_path / "index" / "calibration.json"
    cal = load_or_fit(index, path, target=0.03)
    assert cal is not None and index.calibrator is cal and path.exists()
    assert set(cal.thresholds) >= {"*", "en", "fr"} and all(0 < t <= 1 for t in cal.thresholds.values())
    assert cal.stats["queries"] > 100 and cal.stats["loo_r_at_1"] > 0.5
    hits = index.search("I forgot my password and cannot log in", lang="en")
    assert hits[0].article_id == "reset-password-en" and 0 < hits[-1].probability <= hits[0].probability <= 1
    assert hits[0].probability > cal.threshold("en")  # a plain question from the KB's own topic is answered
    far = index.search("what is the capital of Australia", lang="en")
    assert far[0].probability < cal.threshold("en")  # an unrelated one is not

    # the KB's own phrasings that find another article are listed for editors, most confident first
    assert all(c["article"] != c["found"] and 0.5 <= c["confidence"] <= 1 for c in cal.confusions)
    assert [c["confidence"] for c in cal.confusions] == sorted((c["confidence"] for c in cal.confusions), reverse=True)
    assert Calibrator.from_json(path.read_text()).confusions == cal.confusions
    # no two articles of the same language say nearly the same thing (the translations are not near-duplicates)
    assert cal.duplicates == [] and cal.stats["near_duplicates"] == 0
    # the pairwise similarities come out the same however many rows are computed at a time
    whole, blocks = index.similar_articles(0.6), index.similar_articles(0.6, block=5)
    assert len(whole) > 20 and [p[1:] for p in blocks] == [p[1:] for p in whole]
    assert all(abs(a[0] - b[0]) < 1e-9 for a, b in zip(whole, blocks))


def test_when_a_saved_calibration_is_reused_and_when_it_is_refitted(tmp_path, embedder):
    import json as _json

    from retrieval.calibration import VERSION, Calibrator, load_or_fit

    kb = _small_kb(tmp_path)
    index = SearchIndex(embedder, tmp_path / "index")
    index.sync(kb.published(), kb.fingerprint())
    path = tmp_path / "index" / "calibration.json"
    cal = load_or_fit(index, path, target=0.03)
    # a restart reuses the saved calibration; a stricter target changes the threshold, not the ranking
    assert Calibrator.from_json(path.read_text()).fingerprint == load_or_fit(index, path, 0.03).fingerprint
    strict = load_or_fit(index, path, target=0.005)
    assert strict.threshold("en") >= cal.threshold("en")
    # assuming fewer questions outside the KB (TIER0_OUT_OF_KB_SHARE) refits, and never raises a threshold
    bold = load_or_fit(index, path, target=0.03, out_of_kb_share=0.2)
    assert bold.out_of_kb_share == 0.2 and Calibrator.from_json(path.read_text()).out_of_kb_share == 0.2
    assert all(bold.threshold(lang) <= cal.threshold(lang) for lang in ("en", "fr", None))
    with pytest.raises(ValueError, match="out_of_kb_share"):
        load_or_fit(index, path, target=0.03, out_of_kb_share=1.0)

    # a calibration saved by an older tier0 (another fitting method) is refitted, not reused
    old = _json.loads(path.read_text())
    old["version"], old["thresholds"] = VERSION - 1, {"*": 0.123}
    path.write_text(_json.dumps(old))
    again = load_or_fit(index, path, target=0.005)
    assert again.version == VERSION and again.thresholds["*"] != 0.123
    assert _json.loads(path.read_text())["version"] == VERSION


def test_the_classifier_reads_an_extra_model_only_where_it_helps(tmp_path, embedder):
    """TIER0_CLASSIFIER_EXTRA_MODELS: USE multilingual tells the bilingual sample KB's French articles apart better
    (so the article classifier reads it), and blurs the English ones when they are on their own (so it does not)."""
    import shutil

    from retrieval.calibration import EXTRA_GAIN, Calibrator, load_or_fit
    from retrieval.embedder import LazyEmbedder

    use = LazyEmbedder("use-multilingual-v3")  # what the server passes: loaded when the calibration first reads it
    kb = _kb(tmp_path)
    index = SearchIndex(embedder, tmp_path / "index")
    index.sync(kb.published(), kb.fingerprint())
    path = tmp_path / "index" / "calibration.json"
    cal = load_or_fit(index, path, target=0.03, extra_models=[use])
    assert cal.stats["classifier_oof_with_extra"] >= cal.stats["classifier_oof_search"] + EXTRA_GAIN
    assert cal.classifier.extra == ["use-multilingual-v3"]
    assert cal.classifier.coef.shape[1] == sum(e.dim for e in embedder) + use.dim
    saved = Calibrator.from_json(path.read_text())
    assert saved.classifier.extra == ["use-multilingual-v3"] and saved.extra_offered == ["use-multilingual-v3"]
    hits = index.search("j'ai oublié mon mot de passe", lang="fr")  # the query is embedded by USE as well
    assert hits[0].article_id == "reset-password-fr" and hits[0].probability > cal.threshold("fr")
    assert load_or_fit(index, path, target=0.03, extra_models=[use]).stats == cal.stats  # reused on restart

    plain = load_or_fit(index, path, target=0.03)  # the setting changed (no extra model): refitted without it
    assert plain.classifier.extra == [] and plain.extra_offered == [] and "classifier_oof_search" not in plain.stats
    assert plain.classifier.coef.shape[1] == sum(e.dim for e in embedder)

    english = tmp_path / "english"
    english.mkdir()
    for f in SAMPLE_KB.glob("*-en.md"):
        shutil.copy(f, english / f.name)
    en_kb = _kb(tmp_path, english, name="en")
    en_index = SearchIndex(embedder, tmp_path / "en-index")
    en_index.sync(en_kb.published(), en_kb.fingerprint())
    en = load_or_fit(en_index, tmp_path / "en-index" / "calibration.json", target=0.03, extra_models=[use])
    assert en.stats["classifier_oof_with_extra"] < en.stats["classifier_oof_search"] + EXTRA_GAIN
    assert en.classifier.extra == [] and en.extra_offered == ["use-multilingual-v3"]


def test_feedback_refits_the_calibration_and_moves_the_threshold(tmp_path, embedder):
    """Labelled real answers: a saved calibration is refitted once REFIT_EVERY more exist; answers that did not
    help, at confidences the KB alone thought safe, raise the threshold."""
    from retrieval.calibration import REFIT_EVERY, Feedback, load_or_fit

    kb = _small_kb(tmp_path)
    index = SearchIndex(embedder, tmp_path / "index")
    index.sync(kb.published(), kb.fingerprint())
    path = tmp_path / "index" / "calibration.json"
    base = load_or_fit(index, path, target=0.03)
    questions = [
        "I forgot my password and cannot log in", "how do I reset my password", "password reset link not received",
        "where is my parcel", "my order has not arrived yet", "how long does delivery take",
        "can I change my delivery address", "how do I cancel my order", "how do I return an item",
        "I want to close my account", "how can I change my email address", "how do I update my card details",
        "do you ship to Belgium", "what payment methods do you accept", "is there a mobile app",
    ]
    feedback = []
    for q in questions:
        top = index.search(q, lang="en")[0]
        feedback.append(Feedback(q, "en", top.article_id, helpful=False))
    few = feedback[: REFIT_EVERY - 1] if len(feedback) >= REFIT_EVERY else feedback
    assert load_or_fit(index, path, target=0.03, feedback=few).stats.get("feedback", 0) == 0  # not yet
    many = (feedback * (REFIT_EVERY // len(feedback) + 1))[:REFIT_EVERY]
    refit = load_or_fit(index, path, target=0.03, feedback=many)
    assert refit.stats["feedback"] == REFIT_EVERY and json.loads(path.read_text())["stats"]["feedback"] == REFIT_EVERY
    # every real answer above was wrong: the bot becomes more careful in English
    assert refit.threshold("en") > base.threshold("en")
    assert load_or_fit(index, path, target=0.03, feedback=many).stats["feedback"] == REFIT_EVERY  # reused


def test_one_model_alone_still_searches_and_calibrates_with_the_classifier(tmp_path, embedder):
    """TIER0_EMBEDDING_MODEL=all-mpnet-base-v2: a single model, no per-model features; the classifier still joins."""
    from retrieval.calibration import feature_names, load_or_fit

    kb = _small_kb(tmp_path)
    one = [e for e in embedder if e.name == "all-mpnet-base-v2"]
    index = SearchIndex(one, tmp_path / "index")
    index.sync(kb.published(), kb.fingerprint())
    cal = load_or_fit(index, tmp_path / "index" / "calibration.json", target=0.03)
    assert cal.names == feature_names(1, classifier=True) and cal.classifier is not None and cal.reorder
    assert set(cal.classifier.classes) == set(index.articles())
    hit = index.search("my parcel never arrived", lang="en")[0]
    assert hit.features["clf"] > 0 and 0 < hit.probability <= 1


def test_an_empty_model_list_is_a_clear_error():
    import pytest

    from retrieval.embedder import load_embedders
    from tier0.errors import InvalidInput

    with pytest.raises(InvalidInput, match="no embedding model"):
        load_embedders(" , ")


IN_KB = [
    "I forgot my password", "how do I change my email address", "how much is shipping", "how do I track my order",
    "what payment methods do you accept", "can I return an item", "my parcel arrived damaged", "delete my account",
    "j'ai oublié mon mot de passe", "comment suivre ma commande", "quels sont les délais de livraison",
    "comment créer un compte",
]
OFF_TOPIC = [
    "what is the capital of Australia", "recipe for chocolate cake", "who won the football world cup in 1998",
    "how tall is mount everest", "tell me a joke about cats", "what's the weather in Lisbon tomorrow",
    "quelle est la recette des crêpes", "qui a écrit les misérables", "combien de lunes a jupiter",
    "how do I fix a flat bicycle tyre", "translate good morning into japanese", "best hiking trails in Norway",
]


def _traffic(texts, n):
    from retrieval.calibration import Question
    from tier0.text import detect_language

    return [Question(texts[i % len(texts)], detect_language(texts[i % len(texts)], default="en"),
                     f"2026-11-01T00:{i // 60:02d}:{i % 60:02d}") for i in range(n)]


def test_the_out_of_kb_share_is_learnt_from_customers_questions(tmp_path, embedder):
    from retrieval.calibration import MIN_TRAFFIC, SHARE_FLOOR, Calibrator, fit, load_or_fit

    kb = _small_kb(tmp_path)
    index = SearchIndex(embedder, tmp_path / "index")
    index.sync(kb.published(), kb.fingerprint())
    path = tmp_path / "index" / "calibration.json"
    prior = load_or_fit(index, path, target=0.03, traffic=_traffic(IN_KB, MIN_TRAFFIC - 1))
    # too few questions yet: the assumed share (TIER0_OUT_OF_KB_SHARE) stays
    assert prior.share_used == 0.5 and "traffic_share" not in prior.stats and prior.stats["traffic"] == MIN_TRAFFIC - 1

    # enough questions, all about the KB's topics: few uncovered, the share drops (to the floor), no threshold rises
    covered = load_or_fit(index, path, target=0.03, traffic=_traffic(IN_KB, MIN_TRAFFIC))
    assert covered.stats["traffic"] == MIN_TRAFFIC and covered.stats["traffic_share"] < SHARE_FLOOR
    assert covered.share_used == SHARE_FLOOR and covered.out_of_kb_share == 0.5
    assert all(covered.threshold(lang) <= prior.threshold(lang) for lang in ("en", "fr", None))
    assert any(covered.threshold(lang) < prior.threshold(lang) for lang in ("en", "fr", None))
    saved = Calibrator.from_json(path.read_text())
    assert saved.share_used == SHARE_FLOOR and saved.stats["traffic_until"] == "2026-11-01T00:03:19"
    # the same questions again: the saved calibration is reused, not refitted
    assert load_or_fit(index, path, target=0.03, traffic=_traffic(IN_KB, MIN_TRAFFIC)).thresholds == saved.thresholds

    # questions the KB has nothing about: the share rises above the assumption, no threshold falls
    unknown = fit(index, target=0.03, traffic=_traffic(OFF_TOPIC, MIN_TRAFFIC))
    assert unknown.stats["traffic_share"] > 0.5 and unknown.share_used > 0.5
    assert all(unknown.threshold(lang) >= prior.threshold(lang) for lang in ("en", "fr", None))

    # learning switched off (TIER0_LEARN_OUT_OF_KB_SHARE=false): refitted with the assumed share
    pinned = load_or_fit(index, path, target=0.03, traffic=_traffic(IN_KB, MIN_TRAFFIC), learn_share=False)
    assert pinned.share_used == 0.5 and not pinned.learn_share and pinned.thresholds == prior.thresholds


def test_a_title_only_kb_never_loads_the_classifier_extra_model(tmp_path):
    """Title-only articles give the article classifier nothing to learn from, so its extra model (TIER0_CLASSIFIER_
    EXTRA_MODELS) is never loaded for them. In a fresh interpreter: the test session has loaded every model."""
    import subprocess
    import sys
    import textwrap

    kb = tmp_path / "kb"
    kb.mkdir()
    topics = ["reset my password", "track my parcel", "cancel my order", "change my address", "pay by card",
              "return an item", "delete my account", "use a promo code"]
    for i, t in enumerate(topics):
        (kb / f"a{i}.md").write_text(f"---\nid: a{i}\ntitle: How do I {t}?\nlang: en\n---\nTo {t}, open Settings.\n")
    script = textwrap.dedent(f"""
        from pathlib import Path
        from knowledge_base.markdown import parse_article
        from retrieval import embedder
        from retrieval.calibration import load_or_fit
        from retrieval.search import SearchIndex
        arts = [parse_article(p.read_text(), str(p)) for p in sorted(Path({str(kb)!r}).glob("*.md"))]
        index = SearchIndex([embedder.load_embedder("multilingual-e5-small")], Path({str(tmp_path / "index")!r}))
        index.sync(arts, {{a.id: a.content_hash() for a in arts}})
        extra = embedder.lazy_embedders("use-multilingual-v3")
        cal = load_or_fit(index, Path({str(tmp_path / "cal.json")!r}), extra_models=extra)
        assert cal is not None and cal.classifier is None and cal.extra_offered == ["use-multilingual-v3"], cal
        assert not extra[0].loaded and sorted(embedder._loaded) == ["multilingual-e5-small"], sorted(embedder._loaded)
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def _strip_questions(folder, out, langs=("en", "fr")):
    """A copy of ``folder`` whose articles in ``langs`` have no alternate questions: titles and bodies only."""
    from knowledge_base.markdown import parse_article

    out.mkdir()
    for p in folder.glob("*.md"):
        art = parse_article(p.read_text(encoding="utf-8"), str(p))
        if art.lang in langs:
            art.questions = []
        (out / p.name).write_text(art.to_markdown(), encoding="utf-8")
    return out


def test_a_plain_kb_answers_on_day_one(tmp_path, embedder):
    """Titles and bodies only, 22 articles a language: too little for a threshold of its own, so the day-one prior
    learnt across KBs scores and decides, in both languages, instead of never answering."""
    from retrieval.calibration import Calibrator, load_or_fit

    kb = _kb(tmp_path, _strip_questions(SAMPLE_KB, tmp_path / "plain"))
    index = SearchIndex(embedder, tmp_path / "index")
    index.sync(kb.published(), kb.fingerprint())
    path = tmp_path / "index" / "calibration.json"
    cal = load_or_fit(index, path, target=0.03)
    assert cal.stats["queries_by_language"] == {"en": 22, "fr": 22}
    assert set(cal.prior_langs) == {"*", "en", "fr"} and Calibrator.from_json(path.read_text()).prior_langs
    assert all(0 < cal.threshold(lang) < 1 for lang in ("en", "fr", None))
    from bot.turns import PRIOR_OPTION_FLOOR
    from retrieval import prior

    assert cal.threshold("en") == prior.load().threshold(0.03)
    hits = index.search("I forgot my password and cannot log in", lang="en")
    assert hits[0].article_id == "reset-password-en" and hits[0].probability >= cal.threshold("en")  # answered
    hits = index.search("j'ai oublié mon mot de passe", lang="fr")  # found first: answered or suggested
    assert hits[0].article_id == "reset-password-fr" and hits[0].probability >= PRIOR_OPTION_FLOOR
    far = index.search("what is the capital of Australia", lang="en")
    assert far[0].probability < cal.threshold("en")
    # what tier0 calibrate tells editors: articles none of their own titles finds first
    assert set(cal.unreached) <= set(index.articles()) and cal.stats["unreached"] >= len(cal.unreached)


def test_a_language_with_little_data_falls_back_to_the_prior(tmp_path, embedder):
    """English articles keep their phrasings (a threshold of the KB's own); French ones are titles and bodies only:
    French falls back to the prior, it does not go silent, and English is untouched."""
    from retrieval.calibration import load_or_fit

    kb = _kb(tmp_path, _strip_questions(SAMPLE_KB, tmp_path / "mixed", langs=("fr",)))
    index = SearchIndex(embedder, tmp_path / "index")
    index.sync(kb.published(), kb.fingerprint())
    cal = load_or_fit(index, tmp_path / "index" / "calibration.json", target=0.03)
    assert cal.stats["queries_by_language"]["en"] > 60 and cal.stats["queries_by_language"]["fr"] == 22
    assert "fr" in cal.prior_langs and "en" not in cal.prior_langs
    assert cal.uses_prior("fr") and not cal.uses_prior("en") and 0 < cal.threshold("fr") < 1
    assert cal.threshold("fr") != cal.threshold("en")
    hits = index.search("j'ai oublié mon mot de passe", lang="fr")
    assert hits[0].article_id == "reset-password-fr" and hits[0].probability > 0.5  # the prior's probability
    hits = index.search("I forgot my password and cannot log in", lang="en")  # the KB's own model, as before
    assert hits[0].article_id == "reset-password-en" and hits[0].probability >= cal.threshold("en")
