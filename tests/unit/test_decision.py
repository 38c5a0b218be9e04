from retrieval.decision import DecisionPolicy, Signals, decide
from retrieval.search import Candidate

POLICY = DecisionPolicy(
    answer_threshold=0.6, clarify_margin=0.04, option_floor=0.4, topic_threshold=0.55, topic_floor=0.42
)


def cand(aid, score, handoff=None, category=None):
    return Candidate(aid, aid.title(), "en", score, score, "question", aid, category, handoff)


def test_confident_and_clear_answers_with_the_top_article():
    d = decide([cand("reset", 0.82), cand("delete", 0.55)], Signals("ask_question", 0.9), POLICY)
    assert d.kind == "answer"
    assert d.article.article_id == "reset"
    assert d.confidence == 0.82


def test_two_close_confident_candidates_ask_which_one():
    d = decide([cand("refund-status", 0.75), cand("return", 0.73), cand("x", 0.3)], Signals("ask_question"), POLICY)
    assert d.kind == "clarify"
    assert [c.article_id for c in d.options] == ["refund-status", "return"]
    assert not d.low_confidence


def test_low_confidence_first_time_clarifies_then_hands_off():
    cands = [cand("a", 0.5), cand("b", 0.45), cand("c", 0.2)]
    first = decide(cands, Signals("ask_question", low_confidence_streak=0), POLICY)
    assert first.kind == "clarify" and first.low_confidence
    assert [c.article_id for c in first.options] == ["a", "b"]  # c is under the option floor
    second = decide(cands, Signals("ask_question", low_confidence_streak=1), POLICY)
    assert second.kind == "handoff" and second.reason == "repeated_failure"


def test_no_candidates_at_all_clarifies_without_options():
    d = decide([], Signals("nlu_fallback"), POLICY)
    assert d.kind == "clarify" and d.options == [] and d.confidence == 0.0


def test_explicit_intents_always_hand_off_whatever_the_retrieval():
    strong = [cand("reset", 0.99)]
    for intent, reason in [
        ("request_human", "customer_request"),
        ("not_helpful", "not_helpful"),
        ("frustration", "frustration"),
    ]:
        d = decide(strong, Signals(intent, 0.9), POLICY)
        assert d.kind == "handoff" and d.reason == reason


def test_handoff_topic_is_never_answered_and_routes_to_its_queue():
    d = decide([cand("refund-request", 0.9, handoff="billing")], Signals("ask_question"), POLICY)
    assert d.kind == "handoff"
    assert d.reason == "needs_authority"
    assert d.queue == "billing"


def test_request_for_a_person_about_a_handoff_topic_goes_to_that_queue():
    d = decide([cand("refund-request", 0.7, handoff="billing")], Signals("request_human"), POLICY)
    assert (d.kind, d.reason, d.queue) == ("handoff", "customer_request", "billing")


def test_weak_match_on_a_handoff_topic_is_not_routed_there():
    d = decide([cand("refund-request", 0.3, handoff="billing")], Signals("request_human"), POLICY)
    assert d.queue is None


def test_handoff_topics_are_not_offered_as_quick_replies():
    d = decide([cand("refund-status", 0.45), cand("refund-request", 0.41, handoff="billing")], Signals(), POLICY)
    assert d.kind == "clarify" and [c.article_id for c in d.options] == ["refund-status"]


def test_unsure_turn_with_a_plausible_handoff_topic_goes_to_its_team():
    cands = [cand("refund-status", 0.5), cand("return", 0.47), cand("refund-request", 0.44, handoff="billing")]
    d = decide(cands, Signals("ask_question"), POLICY)
    assert (d.kind, d.reason, d.queue, d.article.article_id) == ("handoff", "needs_authority", "billing",
                                                                 "refund-request")
    confident = [cand("refund-status", 0.9), cand("refund-request", 0.5, handoff="billing")]
    assert decide(confident, Signals("ask_question"), POLICY).kind == "answer"  # sure of a normal article


def test_a_hesitant_handoff_intent_does_not_overrule_a_confident_answer():
    strong = [cand("strikethrough", 0.9)]
    d = decide(strong, Signals("request_human", intent_confidence=0.45), POLICY)
    assert d.kind == "answer"  # "I'd like to strikethrough text" misread as a request for a person
    sure = decide(strong, Signals("request_human", intent_confidence=0.8), POLICY)
    assert sure.kind == "handoff" and sure.reason == "customer_request"
    weak = decide([cand("x", 0.3)], Signals("frustration", intent_confidence=0.4), POLICY)
    assert weak.kind == "handoff" and weak.reason == "frustration"  # nothing better to do: hand off
    topic = decide([cand("refund", 0.9, handoff="billing")], Signals("request_human", intent_confidence=0.4), POLICY)
    assert topic.kind == "handoff" and topic.queue == "billing"


def test_unsure_turn_whose_best_guess_is_a_handoff_topic_goes_to_its_team():
    cands = [cand("refund-request", 0.05, handoff="billing"), cand("return", 0.04)]
    d = decide(cands, Signals("ask_question"), POLICY)
    assert (d.kind, d.reason, d.queue, d.low_confidence) == ("handoff", "needs_authority", "billing", True)
    other = decide([cand("return", 0.05), cand("refund-request", 0.04, handoff="billing")], Signals(), POLICY)
    assert other.kind == "clarify"  # a faint topic behind a normal best guess is not enough


def test_a_single_word_that_other_articles_contain_too_asks_which_one():
    def worded(aid, score, cov, lang="fr", handoff=None):
        c = Candidate(aid, aid.title(), lang, score, score, "question", aid, None, handoff, {"lex_cov": cov})
        return c

    cands = [worded("retard-colis", 0.94, 1.0), worded("suivi-colis", 0.03, 1.0), worded("facture", 0.02, 0.0),
             worded("remboursement", 0.01, 1.0, handoff="billing"), worded("parcel-en", 0.01, 1.0, lang="en"),
             worded("colis-abime", 0.01, 1.0), worded("cgv", 0.005, 1.0)]
    d = decide(cands, Signals("ask_question", 0.9, words=1), POLICY)
    assert d.kind == "clarify" and not d.low_confidence  # "which of these?", not "please rephrase"
    # the word's other plausible articles (cgv mentions a parcel, but is not a guess at all) in the same language,
    # never a hand-off topic, at most max_options in all
    assert [c.article_id for c in d.options] == ["retard-colis", "suivi-colis", "colis-abime"]
    assert POLICY.word_option_floor == 0.01
    assert decide(cands, Signals("ask_question", 0.9, words=3), POLICY).kind == "answer"  # a real question
    alone = [worded("retard-colis", 0.94, 1.0), worded("facture", 0.02, 0.4), worded("cgv", 0.005, 1.0)]
    assert decide(alone, Signals("ask_question", 0.9, words=1), POLICY).kind == "answer"  # no other plausible one
