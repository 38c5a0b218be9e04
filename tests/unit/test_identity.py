"""Signed customer identities, reply tokens and forced intents, without the models (tier0.identity, bot.engine)."""

import hashlib
import hmac
import json

import pytest

from tier0 import identity
from tier0.errors import Forbidden

SECRET = "site-secret-for-tests"


def test_the_signed_string_is_compact_json_of_email_id_tier_and_any_hmac_library_agrees():
    customer = {"id": "42", "email": "ada@example.com", "tier": "vip", "name": "Ada"}
    assert identity.canonical(customer) == b'{"email":"ada@example.com","id":"42","tier":"vip"}'
    assert identity.canonical({"email": "zoé@example.fr"}) == '{"email":"zoé@example.fr","id":"","tier":""}'.encode()
    # what the docs tell a site to compute (json.dumps with these options, HMAC-SHA256, hex)
    site = hmac.new(SECRET.encode(), json.dumps({"email": "ada@example.com", "id": "42", "tier": "vip"},
                                                separators=(",", ":"), ensure_ascii=False).encode(),
                    hashlib.sha256).hexdigest()
    assert identity.sign(SECRET, customer) == site
    assert identity.verify(SECRET, customer, site) and identity.verify(SECRET, customer, site.upper())
    # the name is not signed; every signed attribute is
    assert identity.verify(SECRET, {**customer, "name": "Mallory"}, site)
    for attr, value in (("tier", "standard"), ("email", "eve@example.com"), ("id", "43")):
        assert not identity.verify(SECRET, {**customer, attr: value}, site)
    assert not identity.verify("another-secret", customer, site) and not identity.verify(SECRET, customer, "")


def test_checked_marks_signed_attributes_verified_and_refuses_a_wrong_signature():
    customer = {"email": "ada@example.com", "tier": "vip"}
    signed = identity.checked({**customer, "signature": identity.sign(SECRET, customer)}, SECRET)
    assert signed == {**customer, "verified": True} and identity.is_verified(signed)
    assert identity.verified_email({**signed, "email": " Ada@Example.com "}) == "ada@example.com"
    unsigned = identity.checked(customer, SECRET)
    assert unsigned == {**customer, "verified": False} and identity.verified_email(unsigned) is None
    assert identity.checked({}, SECRET) == {} and identity.checked(None, None) == {}
    # a page cannot declare itself verified
    assert identity.checked({**customer, "verified": True}, SECRET)["verified"] is False
    with pytest.raises(Forbidden, match="does not match"):
        identity.checked({**customer, "signature": "0" * 64}, SECRET)
    with pytest.raises(Forbidden, match="TIER0_IDENTITY_SECRET"):
        identity.checked({**customer, "signature": identity.sign(SECRET, customer)}, None)
    assert not identity.is_verified({"email": "x@example.com"})  # records from before: unverified


def test_reply_tokens_are_random_and_found_in_an_address_a_subject_or_a_quoted_body():
    a, b = identity.new_reply_token(), identity.new_reply_token()
    assert a != b and len(a) == 18 and a.startswith("t0") and a == a.lower()
    assert identity.find_reply_tokens(f"Support <support+{a}@example.com>") == [a]
    assert identity.find_reply_tokens("", f"Re: your request [T-12 {a.upper()}]") == [a]
    assert identity.find_reply_tokens(None, "hi", f"> On Monday support wrote:\n> ref {a}\n", f"{b} {a}") == [a, b]
    assert identity.find_reply_tokens(f"x{a}", f"{a}x", "t0abc", "no token here") == []
    many = " ".join(identity.new_reply_token() for _ in range(20))
    assert len(identity.find_reply_tokens(many)) == identity.MAX_TOKENS_LOOKED_UP
    assert identity.reply_address("support+{token}@example.com", a) == f"support+{a}@example.com"
    assert identity.reply_address(None, a) is None


def test_the_reply_address_setting_needs_one_token_placeholder():
    from pydantic import ValidationError

    from tier0.config import Settings

    assert Settings(reply_address="support+{token}@example.com").reply_address == "support+{token}@example.com"
    for bad in ("support@example.com", "{token}", "a+{token}{token}@example.com"):
        with pytest.raises(ValidationError, match="reply_address"):
            Settings(reply_address=bad)


@pytest.mark.parametrize("typed, read", [
    ("/frustration", "frustration"),
    ('  /affirm{"x": 1}', 'affirm{"x": 1}'),
    ("//deny@1.0", "deny@1.0"),
    ("/ /restart", "restart"),
    ("/", "?"),
    ("my path is /home/me", "my path is /home/me"),
])
def test_customer_text_never_reaches_rasa_as_a_forced_intent(typed, read):
    from bot.engine import rasa_text

    assert rasa_text(typed) == read
    assert not rasa_text(typed).strip().startswith("/")  # rasa.shared.constants.INTENT_MESSAGE_PREFIX


def test_a_desk_joins_inbound_mail_only_by_reply_token_or_verified_email(tmp_path):
    """The desk's side of e-mail matching on a real SQLite file: an unverified address (declared, or typed when
    nobody was online) never matches; the verified one and the reply token do."""
    import handoff.agents  # noqa: F401  (tables)
    import handoff.models  # noqa: F401
    from handoff.deskconfig import load_config
    from handoff.service import HandoffRequest, HandoffService
    from tests.conftest import REPO
    from tier0.conversations import ConversationStore
    from tier0.db import Database

    db = Database(f"sqlite:///{tmp_path}/desk.db")
    db.create_all()
    conversations = ConversationStore(db)
    desk = HandoffService(db, conversations, load_config(REPO / "data" / "desk.yml"),
                          reply_address="support+{token}@example.com")

    def ticket(customer):
        conv, _ = conversations.start(customer=customer)
        conversations.add_message(conv.id, "customer", "a person please")
        return desk.open(HandoffRequest(conv.id, "customer_request", language="en"))[0]

    claimed = ticket(identity.checked({"email": "victim@example.com", "tier": "vip"}, SECRET))
    assert claimed["contact_email"] == "victim@example.com" and claimed["priority"] == "normal"
    assert desk.find_ticket_by_email("victim@example.com") is None
    customer = {"email": "ada@example.com", "tier": "vip"}
    signed = ticket(identity.checked({**customer, "signature": identity.sign(SECRET, customer)}, SECRET))
    assert signed["priority"] == "high" and signed["priority_rule"] == "reason_default+vip_customer"
    assert desk.find_ticket_by_email("Ada@example.com")["id"] == signed["id"]
    # a verified customer without an e-mail types one: kept as the contact, never as their verified address
    verified = ticket(identity.checked({"id": "7", "signature": identity.sign(SECRET, {"id": "7"})}, SECRET))
    typed = desk.set_contact_email(verified["id"], "typed@example.com")
    assert typed["contact_email"] == "typed@example.com" and "email" not in typed["customer"]
    assert desk.find_ticket_by_email("typed@example.com") is None
    # every ticket has its own token; the view carries it and the reply address
    tokens = {t["reply_token"] for t in (claimed, signed, verified)}
    assert len(tokens) == 3 and all(identity.find_reply_tokens(t) == [t] for t in tokens)
    assert signed["reply_to"] == f"support+{signed['reply_token']}@example.com"
    assert desk.find_ticket_by_reply_token(claimed["reply_token"].upper())["id"] == claimed["id"]
    assert desk.find_ticket_by_reply_token(identity.new_reply_token()) is None
    db.dispose()


def test_migration_0006_gives_every_existing_ticket_its_own_reply_token(tmp_path):
    from alembic import command

    from tier0 import migrations
    from tier0.db import Database

    db = Database(f"sqlite:///{tmp_path}/old.db")
    with db.engine.begin() as conn:
        command.upgrade(migrations.alembic_config(conn), "0005")
        conn.exec_driver_sql("INSERT INTO conversations (id, token_hash, channel, customer, status, "
                             "low_confidence_streak, created_at, updated_at) VALUES ('c1', 'h', 'web', '{}', 'bot', 0, "
                             "'2026-01-05', '2026-01-05')")
        for _ in range(2):
            conn.exec_driver_sql("INSERT INTO tickets (conversation_id, status, queue, level, priority, reason, "
                                 "channel, customer, candidates, transcript, created_at, updated_at) VALUES ('c1', "
                                 "'waiting', 'tier1', 1, 'normal', 'email', 'email', '{}', '[]', '[]', '2026-01-05', "
                                 "'2026-01-05')")
    db.migrate()
    with db.engine.connect() as conn:
        tokens = [r[0] for r in conn.exec_driver_sql("SELECT reply_token FROM tickets")]
    assert len(set(tokens)) == 2 and all(identity.find_reply_tokens(t) == [t] for t in tokens)
    db.dispose()
