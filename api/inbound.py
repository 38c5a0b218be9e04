"""Channels that post to tier0: the inbound e-mail webhook of a mail provider (a shared secret)."""

from __future__ import annotations

import hmac
from typing import Any, Optional

from fastapi import APIRouter, Header
from starlette.concurrency import run_in_threadpool

from api.deps import Engine, bearer
from api.schemas import InboundAccepted, InboundEmail
from tier0.errors import Forbidden, NotFound

router = APIRouter(prefix="/api/inbound", tags=["channels"])


@router.post("/email", status_code=202, response_model=InboundAccepted)
async def inbound_email(
    body: InboundEmail,
    engine: Engine,
    x_tier0_secret: Optional[str] = Header(None),
    authorization: Optional[str] = Header(None),
) -> Any:
    """An e-mail from a customer, as posted by a mail provider's inbound webhook (shared secret in
    ``X-Tier0-Secret`` or ``Authorization: Bearer``). It joins a ticket through the reply token tier0 sent (in the
    recipient address, the subject or the quoted body) or the customer's verified e-mail address, whatever channel
    opened it; otherwise it opens a ticket."""
    secret = engine.services.settings.inbound_email_secret
    if not secret:
        raise NotFound("inbound e-mail is not enabled (set TIER0_INBOUND_EMAIL_SECRET)")
    given = x_tier0_secret or bearer(authorization) or ""
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise Forbidden("wrong inbound e-mail secret")
    return await run_in_threadpool(engine.inbound_email, body.sender, body.name, body.subject, body.text,
                                   body.message_id, body.recipient, body.quoted)
