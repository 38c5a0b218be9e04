"""Who the customer is, when it matters: signed customer attributes and the reply tokens of e-mail.

**Signed identity.** A customer's id, e-mail address and tier change what tier0 does (a VIP tier raises a ticket's
priority; a verified e-mail address lets inbound mail join the customer's ticket), so tier0 trusts them only when the
company's site signs them, as chat widgets do for "identity verification" (Intercom's ``user_hash``): the site
computes, on its server, ::

    signature = hex(HMAC-SHA256(key = TIER0_IDENTITY_SECRET, message = canonical(customer)))

where ``canonical(customer)`` is the UTF-8 bytes of the compact JSON object with exactly the keys ``email``, ``id``
and ``tier``, in that order, each the string the page sends (a missing or null attribute is ``""``)::

    {"email":"ada@example.com","id":"42","tier":"vip"}

(no spaces; non-ASCII characters as themselves, not ``\\u`` escapes; ``/`` not escaped). The page sends the
attributes and ``signature`` in ``customer``; :func:`checked` marks them ``verified: true``, or ``false`` without a
signature (kept for the agents to read, trusted for nothing); a wrong signature is refused (:class:`Forbidden`: the
site is misconfigured). docs/security.md ("How a site signs its customer") has the site-side snippets (Python,
Node, PHP).

**Reply tokens.** Each ticket has a random token (:func:`new_reply_token`) that tier0 puts where outgoing mail
carries it (the reply address ``support+<token>@…``, the ticket view and the webhooks); an inbound e-mail joins a
ticket only through that token (:func:`find_reply_tokens` looks for it in the recipient, the subject and the quoted
body), or through the verified e-mail address of the ticket's customer, never by its sender address alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from typing import Any, Dict, List, Mapping, Optional

from tier0.errors import Forbidden

SIGNED_FIELDS = ("email", "id", "tier")
VERIFIED = "verified"  # the key of a customer record that says whether its attributes were signed
SIGNATURE = "signature"  # the key of the signature in the customer object a page sends

REPLY_TOKEN_PREFIX = "t0"
# "t0" + 16 characters of lowercase base32 (80 random bits): survives an e-mail address's local part, a subject line
# and quoting, and a case-folding mail system.
_REPLY_TOKEN = re.compile(r"(?<![a-z0-9])" + REPLY_TOKEN_PREFIX + r"([a-z2-7]{16})(?![a-z0-9])", re.IGNORECASE)
MAX_TOKENS_LOOKED_UP = 5


def canonical(customer: Mapping[str, Any]) -> bytes:
    """The exact bytes a site signs: compact JSON of ``email``, ``id``, ``tier`` (missing = "")."""
    values = {k: "" if customer.get(k) is None else str(customer.get(k)) for k in SIGNED_FIELDS}
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(secret: str, customer: Mapping[str, Any]) -> str:
    """The signature a site computes for these attributes (lowercase hex HMAC-SHA256)."""
    return hmac.new(secret.encode("utf-8"), canonical(customer), hashlib.sha256).hexdigest()


def verify(secret: str, customer: Mapping[str, Any], signature: str) -> bool:
    """True when ``signature`` is the site's signature of these attributes (constant-time comparison)."""
    given = (signature or "").strip().lower()
    return bool(given) and hmac.compare_digest(sign(secret, customer).encode(), given.encode())


def checked(customer: Optional[Mapping[str, Any]], secret: Optional[str]) -> Dict[str, Any]:
    """The customer record to store: the page's attributes without the signature, with ``verified`` saying whether
    the site signed them. Forbidden for a wrong signature, or a signature when no secret is configured."""
    record = {k: v for k, v in dict(customer or {}).items() if k not in (SIGNATURE, VERIFIED)}
    signature = (customer or {}).get(SIGNATURE)
    if not signature:
        return {**record, VERIFIED: False} if record else record
    if not secret:
        raise Forbidden("this page signs the customer's identity but tier0 has no identity secret to check it "
                        "(set TIER0_IDENTITY_SECRET to the site's secret, or stop sending customer.signature)")
    if not verify(secret, record, str(signature)):
        raise Forbidden("the customer's identity signature does not match its id, email and tier: the site signs "
                        "them with another secret or other values (see docs/security.md, signed identity)")
    record[VERIFIED] = True
    return record


def is_verified(customer: Optional[Mapping[str, Any]]) -> bool:
    """Whether a stored customer record's attributes were signed by the site (records from before: no)."""
    return bool(customer) and (customer or {}).get(VERIFIED) is True


def verified_email(customer: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The customer's e-mail address when the site signed it, lowercased; else None."""
    if not is_verified(customer):
        return None
    email = str((customer or {}).get("email") or "").strip().lower()
    return email or None


def new_reply_token() -> str:
    """A fresh reply token: ``t0`` and 16 random lowercase base32 characters."""
    return REPLY_TOKEN_PREFIX + base64.b32encode(secrets.token_bytes(10)).decode().lower()


def find_reply_tokens(*texts: Optional[str]) -> List[str]:
    """The distinct reply tokens in these texts (recipient, subject, body), first seen first, at most a few."""
    out: List[str] = []
    for text in texts:
        for m in _REPLY_TOKEN.finditer(text or ""):
            token = REPLY_TOKEN_PREFIX + m.group(1).lower()
            if token not in out:
                out.append(token)
            if len(out) >= MAX_TOKENS_LOOKED_UP:
                return out
    return out


def reply_address(pattern: Optional[str], token: Optional[str]) -> Optional[str]:
    """The address replies go to for this token (``pattern`` with ``{token}`` replaced); None when unset."""
    if not pattern or not token:
        return None
    return pattern.replace("{token}", token)
