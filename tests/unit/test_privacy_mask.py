"""tier0.privacy: what mask() hides (card numbers, IBANs, phone numbers, e-mail addresses in French and English text,
grouped with spaces, dashes or dots) and what it must leave alone (ticket references, order numbers, prices, dates,
times, ids); the masked logs; the webhook payloads of a `redact: true` endpoint. No model is loaded."""

import io
import json
import logging

import pytest

from tier0.privacy import MaskingFilter, install_log_masking, mask, mask_data

MASKED = [
    # card numbers (Luhn-valid test numbers of the networks), grouped or not
    ("ma carte 4242 4242 4242 4242 exp 12/27", "ma carte [card ••••4242] exp 12/27"),
    ("card: 4111-1111-1111-1111.", "card: [card ••••1111]."),
    ("numéro 5555.5555.5555.4444 svp", "numéro [card ••••4444] svp"),
    ("Amex 3782 822463 10005 here", "Amex [card ••••0005] here"),
    ("4000056655665556", "[card ••••5556]"),
    ("carte\u00a04242\u00a04242\u00a04242\u00a04242", "carte\u00a0[card ••••4242]"),
    ("cards 4242 4242 4242 4242 5555 5555 5555 4444", "cards [card ••••4242] [card ••••4444]"),
    ("commande 12 4242 4242 4242 4242", "commande 12 [card ••••4242]"),
    # IBANs: grouped, compact, lower case, with a space inside the country code's group, followed by words
    ("IBAN : FR76 3000 6000 0112 3456 7890 189 merci", "IBAN : [IBAN FR76 ••••] merci"),
    ("mon iban fr7630006000011234567890189", "mon iban [IBAN FR76 ••••]"),
    ("FR 76 3000 6000 0112 3456 7890 189", "[IBAN FR76 ••••]"),
    ("GB82 WEST 1234 5698 7654 32 thanks", "[IBAN GB82 ••••] thanks"),
    ("DE89-3704-0044-0532-0130-00", "[IBAN DE89 ••••]"),
    ("BE71 0961 2345 6769, merci", "[IBAN BE71 ••••], merci"),
    # phone numbers: French national (spaces, dots, none), international, British, American
    ("appelez-moi au 06 12 34 56 78 svp", "appelez-moi au [phone] svp"),
    ("tel 06.12.34.56.78 ou 0612345678", "tel [phone] ou [phone]"),
    ("mon portable : +33 6 12 34 56 78", "mon portable : [phone]"),
    ("+33612345678", "[phone]"),
    ("ring me on 020 7946 0958 tomorrow", "ring me on [phone] tomorrow"),
    ("call +44 20 7946 0958", "call [phone]"),
    ("call (415) 555-0132 today", "call [phone] today"),
    ("tel:+1-202-555-0173", "tel:[phone]"),
    ("en Belgique +32 470 12 34 56", "en Belgique [phone]"),
    # e-mail addresses
    ("écrivez à jean.dupont+sav@exemple.fr merci", "écrivez à [email] merci"),
    ("Contact: Ada.Lovelace@Example.co.uk.", "Contact: [email]."),
    ("<bob_smith@mail.example.org>", "<[email]>"),
    # all at once
    ("je suis jean@exemple.fr, 06 12 34 56 78, carte 4242424242424242, FR7630006000011234567890189",
     "je suis [email], [phone], carte [card ••••4242], [IBAN FR76 ••••]"),
]

KEPT = [
    "ticket T-1042",
    "votre ticket T-12 est en cours",
    "commande 100045678 du 12/03/2024 à 14:30",
    "order #4155550132",  # ten digits: a US number's length, but no grouping: an order number
    "ma commande 12345678901",
    "réf 3000600001123456",  # 16 digits that fail the Luhn check
    "commande 12345678901234567",
    "ma commande 2024-000123-45",
    "facture FA-2024-00012345",
    "nº de suivi 6A12345678901 colissimo",
    "prix 1 299,99 €",
    "montant 1234567,89 EUR",
    "it costs $1,299.99",
    "2026-01-05T09:21:00Z",
    "at 2026-01-05 09:21:00",
    "le 12/03/2024 à 14h30",
    "le 12.03.2024",
    "version 3.6.21",
    "IP 192.168.100.200",
    "conversation 3f2a9c0b1d4e5f60718293a4b5c6d7e8",
    "bot.turn conversation=0123456789abcdef0123456789abcdef outcome=answer ms=12.3",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "user@localhost is not an address on the internet",
    "@lena merci",
    "FR76 is a code, not an IBAN",
    "mot de passe oublié",
    "",
]


@pytest.mark.parametrize("text,expected", MASKED)
def test_personal_data_is_masked_with_a_hint(text, expected):
    assert mask(text) == expected
    assert mask(expected) == expected, "masking twice changes nothing"


@pytest.mark.parametrize("text", KEPT)
def test_what_is_not_personal_data_is_kept(text):
    assert mask(text) == text


def test_a_text_without_anything_to_mask_is_returned_as_it_is():
    text = "bonjour, je voudrais savoir où en est ma commande"
    assert mask(text) is text
    assert mask(None) is None


def test_mask_data_masks_every_string_of_a_payload_and_nothing_else():
    payload = {"type": "ticket.created", "id": "6f1c0a9e", "created_at": "2026-01-05T09:21:00Z",
               "event": {"id": 42, "ticket": "T-12", "note": "rappel au 06 12 34 56 78", "data": {"n": 3}},
               "ticket": {"customer": {"email": "ada@example.com", "name": "Ada"}, "contact_email": "ada@example.com",
                          "confidence": 0.42, "resolved_at": None, "sla": {"breached": False},
                          "transcript": [{"sender": "customer", "text": "carte 4242 4242 4242 4242"}]}}
    out = mask_data(payload)
    assert out["event"]["note"] == "rappel au [phone]"
    assert out["ticket"]["customer"] == {"email": "[email]", "name": "Ada"}
    assert out["ticket"]["contact_email"] == "[email]"
    assert out["ticket"]["transcript"][0]["text"] == "carte [card ••••4242]"
    assert (out["type"], out["id"], out["created_at"], out["event"]["id"], out["ticket"]["confidence"]) == (
        "ticket.created", "6f1c0a9e", "2026-01-05T09:21:00Z", 42, 0.42)
    assert out["ticket"]["resolved_at"] is None and out["ticket"]["sla"] == {"breached": False}
    assert payload["event"]["note"] == "rappel au 06 12 34 56 78", "the original is not changed"


def test_log_lines_are_masked_arguments_and_tracebacks_included():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tier0.test_privacy_mask")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        assert install_log_masking(["tier0.test_privacy_mask"]) == 1
        assert install_log_masking(["tier0.test_privacy_mask"]) == 0, "installed once"
        logger.warning("inbound from %s: %s", "ada@example.com", "carte 4242 4242 4242 4242")
        logger.warning("turn ticket=T-1042 ms=%.1f", 12.34)
        try:
            raise ValueError("bad phone 06 12 34 56 78")
        except ValueError:
            logger.exception("failed for %s", "FR76 3000 6000 0112 3456 7890 189")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "inbound from [email]: carte [card ••••4242]" in out
    assert "turn ticket=T-1042 ms=12.3" in out
    assert "failed for [IBAN FR76 ••••]" in out and "ValueError: bad phone [phone]" in out
    for secret in ("ada@example.com", "4242 4242", "06 12 34 56 78", "3000 6000"):
        assert secret not in out


def test_the_filter_leaves_a_record_without_personal_data_as_it_was():
    record = logging.LogRecord("tier0", logging.INFO, __file__, 1, "queue %s has %d tickets", ("tier1", 3), None)
    assert MaskingFilter().filter(record) is True
    assert (record.msg, record.args) == ("queue %s has %d tickets", ("tier1", 3))


# -- webhooks: redact is the endpoint's choice ------------------------------------------------------------------
def test_redact_is_read_from_the_desk_file_and_defaults_to_true():
    from handoff.webhooks import parse_endpoints
    from tier0.errors import InvalidInput

    secret = "s3cret-s3cret-s3cret"
    eps = parse_endpoints([{"url": "https://a.example/h", "secret": secret},
                           {"url": "https://b.example/h", "secret": secret, "redact": False},
                           {"url": "https://c.example/h", "secret": secret, "redact": True}], {})
    assert [e.redact for e in eps] == [True, False, True]
    with pytest.raises(InvalidInput, match="redact"):
        parse_endpoints([{"url": "https://a.example/h", "secret": secret, "redact": "no"}], {})


def test_a_redacting_endpoint_gets_masked_payloads_and_the_other_one_what_the_customer_wrote(tmp_path):
    import datetime as dt

    import handoff.webhooks  # noqa: F401  (its table)
    from handoff.webhooks import WebhookDispatcher, WebhookEndpoint, verify_signature
    from tier0.clock import FrozenClock
    from tier0.db import Database

    db = Database(f"sqlite:///{tmp_path / 'hooks.db'}")
    db.migrate()
    secret = "s3cret-s3cret-s3cret"
    sent = {}

    def capture(url, body, headers, _timeout):  # the dispatcher's seam for the HTTP POST: what would go out
        sent[url] = (body, headers)
        return 204, ""

    clock = FrozenClock(dt.datetime(2026, 1, 5, 9, 0))
    hooks = WebhookDispatcher(db, [WebhookEndpoint("https://mirror.example/h", secret, redact=True),
                                   WebhookEndpoint("https://mailer.example/h", secret, redact=False)],
                              clock, sender=capture)
    event = {"id": 7, "ticket": "T-3", "kind": "customer_message", "actor": "customer",
             "note": "IBAN FR76 3000 6000 0112 3456 7890 189, tel 06 12 34 56 78", "data": {}, "at": "2026-01-05T09:00:00Z"}
    ticket = {"id": "T-3", "channel": "email", "contact_email": "ada@example.com",
              "customer": {"email": "ada@example.com"},
              "transcript": [{"sender": "customer", "text": "carte 4242 4242 4242 4242"}]}
    hooks.on_event(event, ticket)
    assert hooks.deliver_due() == 2
    masked_body, masked_headers = sent["https://mirror.example/h"]
    verbatim_body, _ = sent["https://mailer.example/h"]
    masked, verbatim = json.loads(masked_body), json.loads(verbatim_body)
    assert masked["event"]["note"] == "IBAN [IBAN FR76 ••••], tel [phone]"
    assert masked["ticket"]["contact_email"] == "[email]" and masked["ticket"]["customer"]["email"] == "[email]"
    assert masked["ticket"]["transcript"][0]["text"] == "carte [card ••••4242]"
    for secret_text in ("4242 4242", "06 12 34 56 78", "ada@example.com", "3000 6000"):
        assert secret_text not in masked_body.decode()
    assert (masked["ticket"]["id"], masked["event"]["ticket"], masked["type"]) == ("T-3", "T-3", "ticket.customer_message")
    # the signature is over the masked bytes: a receiver verifies what it got
    assert verify_signature(secret, masked_headers["X-Tier0-Timestamp"], masked_body,
                            masked_headers["X-Tier0-Signature"])
    assert verbatim["event"] == event and verbatim["ticket"] == ticket
    db.dispose()
