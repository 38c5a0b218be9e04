"""A flood of anonymous votes leaves the answer thresholds within the operator's target (#21, finding 6).

The real fitting code (``retrieval.calibration.fit``) with the real embedding models, on a small KB (five English
articles of the sample KB, about 130 phrasings: seconds to fit), judged on held-out honest questions (the sample
KB's own cases). A script floods the calibration with a thousand "yes, that helped" after wrong answers, or with a
thousand "that didn't help" after right answers; the same flood with the guard switched off shows it would have
mattered.
"""

import json
import shutil

import pytest

import knowledge_base.models  # noqa: F401
from knowledge_base.markdown import parse_article
from knowledge_base.service import KnowledgeBase
from retrieval.calibration import Feedback, fit
from retrieval.search import SearchIndex
from tier0.db import Database

from ..conftest import SAMPLE_KB

KEPT = ("reset-password-en", "order-tracking-en", "payment-methods-en", "delete-account-en", "invoices-en")
TARGET = 0.03
FLOOD = 1000


@pytest.fixture(scope="module")
def small(tmp_path_factory, embedder):
    """The small KB's index and its calibration from trusted evidence alone (no votes)."""
    tmp = tmp_path_factory.mktemp("flood")
    (tmp / "kb").mkdir()
    for name in KEPT:
        shutil.copy(SAMPLE_KB / f"{name}.md", tmp / "kb" / f"{name}.md")
    db = Database(f"sqlite:///{tmp / 'kb.db'}")
    db.create_all()
    kb = KnowledgeBase(db)
    kb.import_folder(tmp / "kb")
    index = SearchIndex(embedder, tmp / "index")
    index.sync(kb.published(), kb.fingerprint())
    base = fit(index, target=TARGET)
    assert base is not None and "en" in base.thresholds and "en" not in base.prior_langs
    return index, base


def _other_questions():
    """Questions of the sample KB's other English articles: the small KB does not cover them."""
    out = []
    for path in sorted(SAMPLE_KB.glob("*-en.md")):
        if path.stem not in KEPT:
            out.extend(parse_article(path.read_text(encoding="utf-8"), str(path)).questions[:4])
    return out


def _held_out():
    """The sample KB's English cases: (question, the article that answers it, or None when the small KB does not
    cover it)."""
    cases = [json.loads(line) for line in (SAMPLE_KB.parent / "sample_cases.jsonl").read_text().splitlines()]
    return [(c["turns"][0], c["expect"].get("answer") if c["expect"].get("answer") in KEPT else None)
            for c in cases if c["id"].startswith("en-")]


def _judge(index, cal):
    """(right answers, wrong answers) on the held-out cases with calibration ``cal``."""
    index.calibrator = cal
    right = wrong = 0
    for text, expected in _held_out():
        top = index.search(text, "en", k=1)[0]
        if top.score >= cal.threshold("en"):
            right += top.article_id == expected
            wrong += top.article_id != expected
    return right, wrong


def _trusted_wrong_rate(index, cal, threshold):
    """The wrong-answer share, at ``threshold``, of the KB's own leave-one-out phrasings (as many left-out ones,
    weighed for the operator's out-of-KB share 0.5) scored by ``cal``: the trusted evidence the bounds rest on."""
    from retrieval.calibration import training_examples

    answered = []
    for ex in training_examples(index):
        top = cal.rank(list(ex.candidates))[0] if ex.candidates else None
        if top is not None and ex.lang == "en" and top.score >= threshold:
            answered.append(ex.expected is None or top.article_id != ex.expected)
    return sum(answered) / max(1, len(answered))


def _flood(texts, index, helpful, n=FLOOD):
    """``n`` anonymous votes on the answers the small KB gives to ``texts`` (each answered many times)."""
    index.calibrator = None
    answered = [(t, index.search(t, "en", k=1)[0].article_id) for t in texts]
    return [Feedback(t, "en", article, helpful) for t, article in (answered * (n // len(answered) + 1))[:n]]


def test_a_flood_of_yes_after_wrong_answers_leaves_the_threshold_within_the_target(small):
    index, base = small
    flood = _flood(_other_questions(), index, helpful=True)  # every one of them a wrong answer
    guarded = fit(index, target=TARGET, feedback=flood)
    unguarded = fit(index, target=TARGET, feedback=flood, relax=1e6)
    low, high = guarded.stats["threshold_bounds"]["en"]
    assert guarded.stats["feedback"] == FLOOD
    assert guarded.threshold("en") == pytest.approx(low)  # the flood pushed it down to the trusted bound, no further
    # there, the trusted evidence (the KB's phrasings, scored by the refitted model) still meets the target
    assert _trusted_wrong_rate(index, guarded, guarded.threshold("en")) <= TARGET
    right0, wrong0 = _judge(index, base)
    right, wrong = _judge(index, guarded)
    _, wrong_free = _judge(index, unguarded)
    print(f"yes-flood: KB alone {right0}/{wrong0}, guarded {right}/{wrong}, unguarded wrong {wrong_free}; "
          f"thresholds {base.threshold('en'):.3f} {guarded.threshold('en'):.3f} {unguarded.threshold('en'):.3f}")
    # on the held-out questions (45, mostly outside the small KB): unguarded, the flood makes the bot answer nearly
    # all of them, wrongly; guarded, it answers as the KB alone does, within one wrong answer
    assert wrong_free >= wrong0 + 20
    assert wrong <= wrong0 + 1 and right >= 0.75 * right0


def test_a_flood_of_didnt_help_after_right_answers_keeps_three_right_answers_in_four(small):
    index, base = small
    own = [q for name in KEPT
           for q in parse_article((SAMPLE_KB / f"{name}.md").read_text(encoding="utf-8")).questions[:6]]
    flood = _flood(own, index, helpful=False)  # the KB's own phrasings, answered right, voted down
    guarded = fit(index, target=TARGET, feedback=flood)
    silenced = fit(index, target=TARGET, feedback=flood, keep=0.0)
    low, high = guarded.stats["threshold_bounds"]["en"]
    assert low <= guarded.threshold("en") <= high < 1.0
    right0, wrong0 = _judge(index, base)
    right, wrong = _judge(index, guarded)
    right_free, _ = _judge(index, silenced)
    print(f"didn't-help flood: KB alone {right0}/{wrong0}, guarded {right}/{wrong}, unbounded right {right_free}; "
          f"thresholds {base.threshold('en'):.3f} {guarded.threshold('en'):.3f} {silenced.threshold('en'):.3f}")
    assert right_free < 0.5 * right0  # without the bound the bot would have gone (nearly) silent
    assert right >= 0.6 * right0 and wrong <= wrong0


def test_votes_refit_the_calibration_at_most_once_per_interval(small, tmp_path):
    """A flood cannot keep the workers refitting: new votes wait until the saved calibration is old enough."""
    from retrieval.calibration import REFIT_EVERY, load_or_fit

    index, _ = small
    path = tmp_path / "calibration.json"
    assert load_or_fit(index, path, target=TARGET).stats["feedback"] == 0
    votes = _flood(_other_questions(), index, helpful=True, n=REFIT_EVERY)
    assert load_or_fit(index, path, target=TARGET, feedback=votes, min_refit_interval=3600).stats["feedback"] == 0
    assert load_or_fit(index, path, target=TARGET, feedback=votes, min_refit_interval=0).stats["feedback"] == REFIT_EVERY
