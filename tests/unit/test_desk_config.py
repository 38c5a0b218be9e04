"""The ownership state machine and the operator's desk file (routing matrix, escalation paths, SLA targets)."""

from pathlib import Path

import pytest

from handoff.deskconfig import DeskConfigError, load_config, parse_config
from handoff.states import TRANSITIONS, allowed_actions, next_status
from tier0.errors import Conflict

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "desk.yml"


def test_only_allowed_transitions():
    assert next_status("waiting", "claim") == "agent"
    assert next_status("agent", "resolve") == "resolved"
    assert next_status("resolved", "reopen") == "waiting"
    assert next_status("agent", "return_to_bot") == "returned"
    for status, action in (("resolved", "claim"), ("returned", "reply" if False else "resolve"), ("waiting", "reopen")):
        with pytest.raises(Conflict):
            next_status(status, action)
    assert allowed_actions("returned") == []
    assert set(allowed_actions("agent")) == {"release", "escalate", "resolve", "return_to_bot"}
    assert all(set(m) <= {"waiting", "agent", "resolved", "returned"} for m in TRANSITIONS.values())


def test_the_bundled_matrix():
    cfg = load_config(SAMPLE)
    assert {"tier1", "billing", "complaints"} <= set(cfg.queues)
    assert cfg.route("customer_request").name == "tier1"
    assert cfg.route("needs_authority", topic="billing").name == "billing"
    assert cfg.route("needs_authority", category="payment").name == "billing"
    assert cfg.route("frustration", topic="complaints").name == "complaints"
    assert cfg.route("low_confidence", topic="unknown-team").name == "tier1"
    assert cfg.escalation_target("tier1", "functional").level == 2
    assert cfg.escalation_target("engineering", "functional") is None
    assert cfg.sla.target(1, "normal").first_response_min == 5 and cfg.sla.target(1, "normal").resolution_min == 20
    assert cfg.queues_of("carol") == ["billing", "complaints", "supervisors"]
    assert cfg.queue("tier1").display("fr") == "service client"


BASE = {
    "queues": {"t1": {"level": 1}, "t2": {"level": 2}},
    "routes": [{"queue": "t1"}],
}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"queues": {"t1": {"level": 4}}}, "queues.t1.level: must be 1, 2 or 3"),
        ({"queues": {"t1": {"level": 1, "escalate": {"functional": "nope"}}}}, "no queue named 'nope'"),
        ({"queues": {"t1": {"level": 1, "escalate": {"functional": "t1"}}}}, "exactly one level up"),
        ({"queues": {"t1": {"level": 1, "hours": "night"}}}, "no business_hours named 'night'"),
        ({"queues": {"t1": {"levl": 1}}}, "unknown key(s) levl"),
        ({"routes": [{"when": {"reason": "customer_request"}, "queue": "t1"}]}, "last rule must have no 'when'"),
        ({"routes": [{"when": {"reason": "because"}, "queue": "t1"}, {"queue": "t1"}]}, "unknown reason 'because'"),
        ({"routes": [{"queue": "t9"}]}, "routes[0].queue: no queue named 't9'"),
        ({"sla": {"level1": {"normal": {"first_response": "5 minutes", "resolution": "20m"}}}}, "not a duration"),
        ({"sla": {"level1": {"normal": {"first_response": "1h", "resolution": "20m"}}}}, "longer than resolution"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"business_hours": {"x": {"mon": "18:00-09:00"}}}, "end before they start"),
    ],
)
def test_bad_desk_files_say_where_and_what(change, message):
    raw = {**BASE, **change}
    if "queues" in change and "t2" not in change["queues"]:
        raw["queues"] = {**change["queues"], "t2": {"level": 2}}
    with pytest.raises(DeskConfigError) as e:
        parse_config(raw, "desk.yml")
    assert str(e.value).startswith("desk.yml: ") and message in str(e.value)


def test_unreadable_or_invalid_yaml(tmp_path):
    with pytest.raises(DeskConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("queues:\n  t1: [\n")
    with pytest.raises(DeskConfigError, match=r"bad.yml:\d+: not valid YAML"):
        load_config(bad)
