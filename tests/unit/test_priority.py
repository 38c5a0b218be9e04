import pytest

from handoff.priority import PRIORITIES, at_least, bump, compute_priority


@pytest.mark.parametrize(
    "texts, reason, expected, rule",
    [
        (["I want to talk to a human"], "customer_request", "normal", "reason_default"),
        (["je vais porter plainte contre vous"], "frustration", "urgent", "legal_threat"),
        (["My lawyer will contact you"], "customer_request", "urgent", "legal_threat"),
        (["c'est la troisième fois que je vous écris"], "customer_request", "high", "repeated_contact"),
        (["this is the 3rd time I contact you"], "not_helpful", "high", "repeated_contact"),
        (["WHERE IS MY ORDER I PAID TWO WEEKS AGO"], "customer_request", "high", "anger"),
        (["you are useless"], "frustration", "high", "anger"),
        (["c'est inadmissible"], "customer_request", "high", "anger"),
        (["I need this fixed asap, I am blocked"], "customer_request", "high", "urgency"),
        (["c'est urgent, je suis bloquée"], "low_confidence", "high", "urgency"),
    ],
)
def test_priority_rules(texts, reason, expected, rule):
    assert compute_priority(reason, texts) == (expected, rule)


def test_vip_customer_goes_one_step_up_and_the_rule_says_so():
    vip = {"tier_verified": True}
    assert compute_priority("customer_request", ["hello"], "VIP", **vip) == ("high", "reason_default+vip_customer")
    assert compute_priority("customer_request", ["I will sue"], "vip", **vip) == ("urgent",
                                                                                 "legal_threat+vip_customer")


def test_an_unverified_tier_changes_nothing():
    """Anyone can declare a tier; only one the site signed (tier0.identity) raises the priority."""
    assert compute_priority("customer_request", ["hello"], "vip") == ("normal", "reason_default")
    assert compute_priority("customer_request", ["hi"], "gold", "security", {"security": "high"}) == (
        "high", "category_floor:security")


def test_bump_and_order():
    assert bump("low") == "normal" and bump("urgent") == "urgent" and bump("high", -5) == "low"
    assert at_least("urgent", "high") and not at_least("normal", "high")
    assert PRIORITIES == ("low", "normal", "high", "urgent")


def test_category_floor_and_vip_compose():
    floor = {"security": "high"}
    assert compute_priority("customer_request", ["hi"], None, "security", floor) == ("high", "category_floor:security")
    assert compute_priority("customer_request", ["I will sue"], None, "security", floor)[0] == "urgent"
    assert compute_priority("customer_request", ["hi"], "gold", "security", floor, tier_verified=True) == (
        "urgent",
        "category_floor:security+vip_customer",
    )
