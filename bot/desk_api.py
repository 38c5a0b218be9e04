"""The desk's HTTP API (agents, team leads, admins) and the inbound e-mail webhook.

Every route checks the caller: a signed-in agent (``Authorization: Bearer <token>`` from ``POST /api/desk/login``,
or ``?access_token=`` for the event stream, which browsers open without headers) with the role the route needs;
an agent only reaches tickets of the queues they belong to (handoff.service checks that on every ticket).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any, Dict, List, Optional

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, constr, root_validator
from starlette.concurrency import run_in_threadpool

from bot.live import sse
from tier0.errors import Forbidden, InvalidInput, NotFound

log = logging.getLogger("tier0.http")
ROLE_RANK = {"agent": 0, "lead": 1, "admin": 2}


# -- schemas ------------------------------------------------------------------------------------------------
class Login(BaseModel):
    username: constr(strict=True, min_length=1, max_length=64)
    password: constr(strict=True, min_length=1, max_length=1000)


class TextBody(BaseModel):
    text: constr(strict=True, min_length=1, max_length=4000)


class NoteBody(BaseModel):
    note: Optional[constr(strict=True, max_length=4000)] = None


class EscalateBody(BaseModel):
    kind: str = Field("functional", regex="^(functional|hierarchical)$")
    note: constr(strict=True, min_length=1, max_length=4000) = Field(..., description="why: the next level reads it")


class FlagBody(BaseModel):
    message_id: int = Field(..., ge=1, description="the bot message that was wrong")
    note: Optional[constr(strict=True, max_length=4000)] = None


class NewAgent(BaseModel):
    username: constr(strict=True, min_length=2, max_length=63)
    password: constr(strict=True, min_length=10, max_length=1000)
    role: str = Field("agent", regex="^(agent|lead|admin)$")
    display_name: Optional[constr(strict=True, max_length=200)] = None


class AgentPatch(BaseModel):
    active: Optional[bool] = None
    password: Optional[constr(strict=True, min_length=10, max_length=1000)] = None


class InboundEmail(BaseModel):
    """An e-mail as mail providers post it. Accepts Postmark (From, FromName, Subject, TextBody, MessageID),
    Mailgun (sender, subject, body-plain / stripped-text, Message-Id) and SendGrid-style (from, subject, text)."""

    sender: constr(strict=True, min_length=3, max_length=320)
    name: Optional[str] = None
    subject: str = ""
    text: constr(strict=True, min_length=1, max_length=20000)
    message_id: Optional[str] = None

    @root_validator(pre=True)
    def _aliases(cls, values: Dict[str, Any]) -> Dict[str, Any]:  # noqa: N805
        def first(*keys):
            for k in keys:
                if values.get(k):
                    return values[k]
            return None

        raw_from = first("sender", "from", "From", "from_email")
        name = first("name", "FromName", "from_name")
        if isinstance(raw_from, str) and "<" in raw_from and raw_from.rstrip().endswith(">"):
            display, _, addr = raw_from.rpartition("<")
            name = name or display.strip().strip('"') or None
            raw_from = addr.rstrip(">").strip()
        return {
            "sender": raw_from,
            "name": name,
            "subject": first("subject", "Subject") or "",
            "text": first("text", "TextBody", "stripped-text", "body-plain", "body"),
            "message_id": first("message_id", "MessageID", "Message-Id", "message-id"),
        }


# -- dependencies -----------------------------------------------------------------------------------------------
def engine_dep(request: Request):
    from bot.app import engine_dep as _dep

    return _dep(request)


def _token(authorization: Optional[str], access_token: Optional[str]) -> Optional[str]:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return access_token


def current_agent(
    engine=Depends(engine_dep),
    authorization: Optional[str] = Header(None),
    access_token: Optional[str] = Query(None, description="for EventSource, which cannot send headers"),
):
    return engine.services.agents.authenticate(_token(authorization, access_token))


def require(role: str):
    def dep(agent=Depends(current_agent)):
        if ROLE_RANK[agent.role] < ROLE_RANK[role]:
            raise Forbidden(f"this needs the {role} role; you are {agent.role}")
        return agent

    return dep


# -- routes -----------------------------------------------------------------------------------------------------
desk = APIRouter(prefix="/api/desk", tags=["desk"])


@desk.post("/login")
def login(body: Login, engine=Depends(engine_dep)):
    """Sign in; returns a bearer token that expires (sliding while used)."""
    token, expires, agent = engine.services.agents.login(body.username, body.password)
    return {"token": token, "expires_at": expires.isoformat() + "Z", "agent": agent.as_dict()}


@desk.post("/logout", status_code=204)
def logout(engine=Depends(engine_dep), authorization: Optional[str] = Header(None)):
    engine.services.agents.logout(_token(authorization, None))


@desk.get("/me")
def me(agent=Depends(current_agent)):
    return agent.as_dict()


@desk.get("/queues")
def queues(engine=Depends(engine_dep), agent=Depends(current_agent)):
    """The queues you work, with waiting counts, who is online and SLA breaches."""
    return engine.services.handoff.queue_stats(agent)


@desk.get("/tickets")
def list_tickets(
    queue: Optional[str] = Query(None, max_length=100),
    status: Optional[str] = Query(None, regex="^(open|waiting|agent|resolved|returned)$"),
    priority: Optional[str] = Query(None, regex="^(low|normal|high|urgent)$"),
    mine: bool = False,
    engine=Depends(engine_dep),
    agent=Depends(current_agent),
):
    """Your queue, most urgent first: SLA breached, then soonest due, then priority, then age."""
    return engine.services.handoff.list_tickets(
        agent, queue=queue, status=status, priority=priority, assignee=agent.username if mine else None
    )


@desk.get("/tickets/{reference}")
def ticket_detail(reference: str, engine=Depends(engine_dep), agent=Depends(current_agent)):
    """The ticket with the live transcript, what the bot tried, customer data, the SLA clock and the history."""
    return engine.services.handoff.detail(reference, agent)


@desk.post("/tickets/{reference}/claim")
def claim(reference: str, engine=Depends(engine_dep), agent=Depends(current_agent)):
    return engine.services.handoff.claim(reference, agent)


@desk.post("/tickets/{reference}/release")
def release(reference: str, body: Optional[NoteBody] = None, engine=Depends(engine_dep), agent=Depends(current_agent)):
    return engine.services.handoff.release(reference, agent, (body or NoteBody()).note)


@desk.post("/tickets/{reference}/reply")
def reply(reference: str, body: TextBody, engine=Depends(engine_dep), agent=Depends(current_agent)):
    """A public reply: it appears in the customer's chat at once."""
    return engine.services.handoff.reply(reference, agent, body.text)


@desk.post("/tickets/{reference}/notes")
def note(reference: str, body: TextBody, engine=Depends(engine_dep), agent=Depends(current_agent)):
    """An internal note, never shown to the customer."""
    return engine.services.handoff.note(reference, agent, body.text)


@desk.post("/tickets/{reference}/resolve")
def resolve(reference: str, body: Optional[NoteBody] = None, engine=Depends(engine_dep), agent=Depends(current_agent)):
    return engine.services.handoff.resolve(reference, agent, (body or NoteBody()).note)


@desk.post("/tickets/{reference}/escalate")
def escalate(reference: str, body: EscalateBody, engine=Depends(engine_dep), agent=Depends(current_agent)):
    """One level up: functional (a specialist team) or hierarchical (authority), with a note for the next level."""
    return engine.services.handoff.escalate(reference, agent, body.kind, body.note)


@desk.post("/tickets/{reference}/return-to-bot")
def return_to_bot(
    reference: str, body: Optional[NoteBody] = None, engine=Depends(engine_dep), agent=Depends(current_agent)
):
    """Hand the conversation back to the bot."""
    return engine.services.handoff.return_to_bot(reference, agent, (body or NoteBody()).note)


@desk.post("/tickets/{reference}/flag")
def flag(reference: str, body: FlagBody, engine=Depends(engine_dep), agent=Depends(current_agent)):
    """Flag one of the bot's answers in this conversation as wrong (linked to the article it cited)."""
    return engine.services.handoff.flag_answer(reference, agent, body.message_id, body.note)


@desk.get("/stream")
async def desk_stream(request: Request, engine=Depends(engine_dep), agent=Depends(current_agent)):
    """Server-sent events: every change to a ticket in your queues (``event: ticket``)."""
    hub = request.app.state.live
    sub = hub.desk_subscribe(agent)
    token = _token(request.headers.get("authorization"), request.query_params.get("access_token"))

    async def gen():
        try:
            yield sse("hello", agent.as_dict())
            while not await request.is_disconnected():
                try:
                    item = await asyncio.wait_for(sub[1].get(), 15)
                    yield sse("ticket", item, item["event"]["id"])
                except asyncio.TimeoutError:
                    await run_in_threadpool(engine.services.agents.authenticate, token)  # session still valid?
                    yield ": keep-alive\n\n"
        except Exception as e:  # noqa: BLE001 - an expired session ends the stream
            log.info("desk.stream_closed reason=%s", type(e).__name__)
        finally:
            hub.desk_unsubscribe(sub)

    return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@desk.get("/agents")
def list_agents(engine=Depends(engine_dep), _agent=Depends(require("lead"))):
    return engine.services.agents.list()


@desk.post("/agents", status_code=201)
def create_agent(body: NewAgent, engine=Depends(engine_dep), _agent=Depends(require("admin"))):
    view = engine.services.agents.create(body.username, body.password, body.role, body.display_name)
    return view.as_dict()


@desk.patch("/agents/{username}")
def patch_agent(username: str, body: AgentPatch, engine=Depends(engine_dep), admin=Depends(require("admin"))):
    if body.active is False and username == admin.username:
        raise InvalidInput("you cannot disable your own account")
    if body.password is not None:
        engine.services.agents.set_password(username, body.password)
    if body.active is not None:
        engine.services.agents.set_active(username, body.active)
    return next(a for a in engine.services.agents.list() if a["username"] == username)


@desk.get("/config")
def desk_config(engine=Depends(engine_dep), _agent=Depends(require("lead"))):
    """The escalation matrix and SLA targets in force (from the desk YAML file)."""
    cfg = engine.services.desk_config
    return {
        "source": cfg.source,
        "queues": {
            q.name: {"level": q.level, "names": dict(q.names), "hours": q.hours.name, "members": list(q.members),
                     "escalate": dict(q.escalate)}
            for q in cfg.queues.values()
        },
        "routes": [{"when": {k: list(v) for k, v in r.when.items()}, "queue": r.queue} for r in cfg.routes],
        "sla": {
            f"level{level}": {p: {"first_response_min": t.first_response_min, "resolution_min": t.resolution_min}
                              for p, t in per.items()}
            for level, per in cfg.sla.targets.items()
        },
    }


@desk.post("/sla/run")
def run_sla(engine=Depends(engine_dep), _agent=Depends(require("admin"))):
    """Run the SLA scheduler now (it also runs in the background every TIER0_SLA_INTERVAL seconds)."""
    return {"actions": engine.services.handoff.run_sla()}


@desk.get("/webhooks/deliveries")
def webhook_deliveries(
    status: Optional[str] = Query(None, regex="^(pending|delivered|failed)$"),
    request: Request = None,
    _agent=Depends(require("admin")),
):
    hooks = getattr(request.app.state, "webhooks", None)
    return hooks.list_deliveries(status=status) if hooks is not None else []


@desk.post("/webhooks/deliveries/{delivery_id}/redeliver")
def redeliver(delivery_id: int, request: Request, _agent=Depends(require("admin"))):
    hooks = getattr(request.app.state, "webhooks", None)
    if hooks is None:
        raise NotFound("no webhooks are configured")
    return hooks.redeliver(delivery_id)


# -- inbound e-mail ------------------------------------------------------------------------------------------------
inbound = APIRouter(prefix="/api/inbound", tags=["channels"])


@inbound.post("/email", status_code=202)
async def inbound_email(
    body: InboundEmail,
    engine=Depends(engine_dep),
    x_tier0_secret: Optional[str] = Header(None),
    authorization: Optional[str] = Header(None),
):
    """An e-mail from a customer, as posted by a mail provider's inbound webhook (shared secret in
    ``X-Tier0-Secret`` or ``Authorization: Bearer``). It joins the sender's open ticket whatever channel opened
    it, or opens a ticket."""
    secret = engine.services.settings.inbound_email_secret
    if not secret:
        raise NotFound("inbound e-mail is not enabled (set TIER0_INBOUND_EMAIL_SECRET)")
    given = x_tier0_secret or _token(authorization, None) or ""
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise Forbidden("wrong inbound e-mail secret")
    return await run_in_threadpool(engine.inbound_email, body.sender, body.name, body.subject, body.text,
                                   body.message_id)


__all__: List[str] = ["desk", "inbound"]
