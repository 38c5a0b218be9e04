"""The desk: agents work their queues; team leads also read the configuration; admins manage accounts.

Every route names its caller (:mod:`api.deps`): a signed-in account, with the role the route needs. An agent only
reaches tickets of the queues they belong to (handoff checks that on every ticket).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, List, Optional

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api import limits
from api.deps import (
    Admin,
    CurrentAgent,
    Engine,
    Lead,
    SignedInAgent,
    bearer,
    refuse_token_in_url,
    stream_tickets,
    usable,
)
from api.live import sse
from api.schemas import (
    AgentAccountOut,
    AgentOut,
    AgentPatch,
    Delivery,
    DeskConfigOut,
    EscalateBody,
    FlagBody,
    FlagOut,
    Login,
    LoginOut,
    NewAgent,
    NoteBody,
    PasswordChange,
    QueueOut,
    SlaRunOut,
    StreamTicketOut,
    TextBody,
    Ticket,
    TicketDetail,
    TicketEvents,
    TicketMessages,
)
from handoff.agents import session_key
from handoff.views import MAX_TICKET_PAGE, TICKET_PAGE
from tier0.conversations import MAX_ROW_ID, MAX_TRANSCRIPT_PAGE, TRANSCRIPT_PAGE
from tier0.errors import InvalidInput, NotFound, Unauthorized
from tier0.stream_tickets import DESK
from tier0.vocab import DeliveryStatus, Priority, TicketStatus

log = logging.getLogger("tier0.http")
router = APIRouter(prefix="/api/desk", tags=["desk"])
# a status, or 'open' for any of OPEN_TICKET_STATUSES
TICKET_FILTERS = "^(open|" + "|".join(TicketStatus.values()) + ")$"


@router.post("/login", response_model=LoginOut, dependencies=limits.LOGIN)
def login(body: Login, engine: Engine) -> Any:
    """Sign in; returns a bearer token that expires (sliding while used, and at the latest TIER0_SESSION_MAX_HOURS
    after sign-in). ``agent.must_change_password``: change it first (POST /api/desk/password)."""
    token, expires, agent = engine.services.agents.login(body.username, body.password)
    return {"token": token, "expires_at": expires.isoformat() + "Z", "agent": agent.as_dict()}


@router.post("/logout", status_code=204, response_model=None)
def logout(engine: Engine, authorization: Optional[str] = Header(None)) -> None:
    engine.services.agents.logout(bearer(authorization))


@router.get("/me", response_model=AgentOut)
def me(agent: SignedInAgent) -> Any:
    return agent.as_dict()


@router.post("/password", response_model=LoginOut)
def change_password(body: PasswordChange, engine: Engine, _agent: SignedInAgent,
                    authorization: Optional[str] = Header(None)) -> Any:
    """Change your own password (the current one is checked). Every session of yours ends, open streams included;
    the response is a new session. The first admin must do this before any other desk route answers."""
    token, expires, agent = engine.services.agents.change_password(
        bearer(authorization), body.old_password, body.new_password)
    return {"token": token, "expires_at": expires.isoformat() + "Z", "agent": agent.as_dict()}


@router.post("/stream-ticket", response_model=StreamTicketOut)
def desk_stream_ticket(engine: Engine, _agent: CurrentAgent, authorization: Optional[str] = Header(None)) -> Any:
    """A ticket for opening GET /api/desk/stream?ticket=… (EventSource cannot send the Authorization header): valid
    once, for TIER0_STREAM_TICKET_SECONDS, bound to this session. A reconnecting page asks for a new one."""
    ticket, expires = stream_tickets(engine).issue(DESK, str(session_key(bearer(authorization))))
    return {"ticket": ticket, "expires_at": expires.isoformat() + "Z"}


@router.get("/queues", response_model=List[QueueOut])
def queues(engine: Engine, agent: CurrentAgent) -> Any:
    """The queues you work, with waiting counts, who is online and SLA breaches."""
    return engine.services.handoff.queue_stats(agent)


PAGE_HEADERS = {
    "X-Total-Count": {"description": "how many tickets match, on every page", "schema": {"type": "integer"}},
    "Link": {"description": '`<…?offset=…>; rel="next"` while more tickets follow', "schema": {"type": "string"}},
}
TranscriptLimit = Query(TRANSCRIPT_PAGE, ge=1, le=MAX_TRANSCRIPT_PAGE, description="entries per page")
Before = Query(None, ge=1, le=MAX_ROW_ID, description="only entries with a smaller id (the first one shown)")


@router.get("/tickets", response_model=List[Ticket], responses={200: {"headers": PAGE_HEADERS}})
def list_tickets(
    request: Request,
    response: Response,
    engine: Engine,
    agent: CurrentAgent,
    queue: Optional[str] = Query(None, max_length=100),
    status: Optional[str] = Query(None, regex=TICKET_FILTERS),
    priority: Optional[Priority] = Query(None),
    mine: bool = False,
    limit: int = Query(TICKET_PAGE, ge=1, le=MAX_TICKET_PAGE, description="tickets per page"),
    offset: int = Query(0, ge=0, le=MAX_ROW_ID, description="how many of the most urgent to skip"),
) -> Any:
    """Your queue, most urgent first across the whole backlog: SLA breached, then priority, then soonest due, then
    age. One page of it: ``X-Total-Count`` says how many tickets match, ``Link: <…>; rel="next"`` where the next
    page is while there is one."""
    tickets, total = engine.services.handoff.ticket_page(
        agent, queue=queue, status=status, priority=str(priority) if priority else None,
        assignee=agent.username if mine else None, limit=limit, offset=offset,
    )
    response.headers["X-Total-Count"] = str(total)
    if offset + len(tickets) < total:
        nxt = request.url.remove_query_params("access_token").include_query_params(offset=offset + limit, limit=limit)
        response.headers["Link"] = f'<{nxt.path}?{nxt.query}>; rel="next"'
    return tickets


@router.get("/tickets/{reference}", response_model=TicketDetail)
def ticket_detail(reference: str, engine: Engine, agent: CurrentAgent, limit: int = TranscriptLimit) -> Any:
    """The ticket with the live transcript, what the bot tried, customer data, the SLA clock and the history; of the
    transcript and the history, the last ``limit`` entries (``earlier_messages``/``earlier_events`` say whether
    earlier ones exist: ``…/messages?before=`` and ``…/events?before=`` read them)."""
    return engine.services.handoff.detail(reference, agent, limit)


@router.get("/tickets/{reference}/messages", response_model=TicketMessages)
def ticket_messages(
    reference: str, engine: Engine, agent: CurrentAgent, before: Optional[int] = Before, limit: int = TranscriptLimit
) -> Any:
    """The conversation's messages before message ``before`` (the last ones without it), oldest first."""
    return engine.services.handoff.message_page(reference, agent, before, limit)


@router.get("/tickets/{reference}/events", response_model=TicketEvents)
def ticket_events(
    reference: str, engine: Engine, agent: CurrentAgent, before: Optional[int] = Before, limit: int = TranscriptLimit
) -> Any:
    """The ticket's history before event ``before`` (the last events without it), oldest first."""
    return engine.services.handoff.event_page(reference, agent, before, limit)


@router.post("/tickets/{reference}/claim", response_model=Ticket)
def claim(reference: str, engine: Engine, agent: CurrentAgent) -> Any:
    return engine.services.handoff.claim(reference, agent)


@router.post("/tickets/{reference}/release", response_model=Ticket)
def release(reference: str, engine: Engine, agent: CurrentAgent, body: Optional[NoteBody] = None) -> Any:
    return engine.services.handoff.release(reference, agent, (body or NoteBody()).note)


@router.post("/tickets/{reference}/reply", response_model=Ticket)
def reply(reference: str, body: TextBody, engine: Engine, agent: CurrentAgent) -> Any:
    """A public reply: it appears in the customer's chat at once."""
    return engine.services.handoff.reply(reference, agent, body.text)


@router.post("/tickets/{reference}/notes", response_model=Ticket)
def note(reference: str, body: TextBody, engine: Engine, agent: CurrentAgent) -> Any:
    """An internal note, never shown to the customer."""
    return engine.services.handoff.note(reference, agent, body.text)


@router.post("/tickets/{reference}/resolve", response_model=Ticket)
def resolve(reference: str, engine: Engine, agent: CurrentAgent, body: Optional[NoteBody] = None) -> Any:
    return engine.services.handoff.resolve(reference, agent, (body or NoteBody()).note)


@router.post("/tickets/{reference}/escalate", response_model=Ticket)
def escalate(reference: str, body: EscalateBody, engine: Engine, agent: CurrentAgent) -> Any:
    """One level up: functional (a specialist team) or hierarchical (authority), with a note for the next level."""
    return engine.services.handoff.escalate(reference, agent, str(body.kind), body.note)


@router.post("/tickets/{reference}/return-to-bot", response_model=Ticket)
def return_to_bot(reference: str, engine: Engine, agent: CurrentAgent, body: Optional[NoteBody] = None) -> Any:
    """Hand the conversation back to the bot."""
    return engine.services.handoff.return_to_bot(reference, agent, (body or NoteBody()).note)


@router.post("/tickets/{reference}/flag", response_model=FlagOut)
def flag(reference: str, body: FlagBody, engine: Engine, agent: CurrentAgent) -> Any:
    """Flag one of the bot's answers in this conversation as wrong (linked to the article it cited)."""
    return engine.services.handoff.flag_answer(reference, agent, body.message_id, body.note)


STREAM_KEEPALIVE_S = 5.0  # a comment line this often; the session is checked again then (a CLI change)
STREAM_RECHECK_S = 1.0  # before delivering an event, the session is checked if not in the last second


@router.get("/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "ticket events"}})
async def desk_stream(
    request: Request,
    engine: Engine,
    ticket: Optional[str] = Query(None, max_length=200, description="from POST /api/desk/stream-ticket (EventSource)"),
    authorization: Optional[str] = Header(None),
) -> StreamingResponse:
    """Server-sent events: every change to a ticket in your queues (``event: ticket``), from any worker. Opened
    with ``?ticket=`` (browsers) or the Authorization header. It ends at once (``event: bye``) when the session
    ends: sign-out, account disabled, password changed, expiry."""
    refuse_token_in_url(request, "access_token")
    agents = engine.services.agents
    if ticket is not None:
        session = await run_in_threadpool(stream_tickets(engine).redeem, DESK, ticket)
    elif bearer(authorization):
        session = str(session_key(bearer(authorization)))
    else:
        raise Unauthorized("open the stream with ?ticket= from POST /api/desk/stream-ticket, or send "
                           "'Authorization: Bearer <token>'")
    agent = usable(await run_in_threadpool(agents.authenticate_session, session))
    hub = request.app.state.live
    sub = hub.desk_subscribe(agent, session)

    async def gen():
        checked = time.monotonic()
        reason = "disconnected"
        try:
            yield sse("hello", agent.as_dict())
            while not await request.is_disconnected():
                try:
                    item = await asyncio.wait_for(sub.queue.get(), STREAM_KEEPALIVE_S)
                except asyncio.TimeoutError:
                    item = False
                if item is None:  # revoked (sign-out, disabled, password changed), here or in another worker
                    reason = "revoked"
                    break
                if item is False or time.monotonic() - checked >= STREAM_RECHECK_S:
                    await run_in_threadpool(agents.authenticate_session, session)  # still valid?
                    checked = time.monotonic()
                yield ": keep-alive\n\n" if item is False else sse("ticket", item, item["event"]["id"])
        except Unauthorized:  # expired, or revoked while the revocation did not reach this worker
            reason = "session_ended"
        finally:
            hub.desk_unsubscribe(sub)
            log.info("desk.stream_ended username=%s reason=%s", agent.username, reason)
        if reason != "disconnected":
            yield sse("bye", {"reason": reason})  # EventSource reconnects with a used ticket: refused, then signs out

    return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.get("/agents", response_model=List[AgentAccountOut])
def list_agents(engine: Engine, _lead: Lead) -> Any:
    return engine.services.agents.list()


@router.post("/agents", status_code=201, response_model=AgentOut)
def create_agent(body: NewAgent, engine: Engine, _admin: Admin) -> Any:
    view = engine.services.agents.create(body.username, body.password, str(body.role), body.display_name)
    return view.as_dict()


@router.patch("/agents/{username}", response_model=AgentAccountOut)
def patch_agent(username: str, body: AgentPatch, engine: Engine, admin: Admin) -> Any:
    _account(engine, username)  # 404 before anything changes
    if body.active is False and username == admin.username:
        raise InvalidInput("you cannot disable your own account")
    if body.password is not None:
        engine.services.agents.set_password(username, body.password)
    if body.active is not None:
        engine.services.agents.set_active(username, body.active)
    return _account(engine, username)


def _account(engine: Any, username: str) -> Any:
    found = next((a for a in engine.services.agents.list() if a["username"] == username), None)
    if found is None:
        raise NotFound(f"agent {username!r} not found")
    return found


@router.get("/config", response_model=DeskConfigOut)
def desk_config(engine: Engine, _lead: Lead) -> Any:
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
            f"level{level}": {str(p): {"first_response_min": t.first_response_min,
                                       "resolution_min": t.resolution_min}
                              for p, t in per.items()}
            for level, per in cfg.sla.targets.items()
        },
    }


@router.post("/sla/run", response_model=SlaRunOut)
def run_sla(engine: Engine, _admin: Admin) -> Any:
    """Run the SLA scheduler now (it also runs in the background, on one worker, every TIER0_SLA_INTERVAL s)."""
    return {"actions": engine.services.handoff.run_sla()}


@router.get("/webhooks/deliveries", response_model=List[Delivery])
def webhook_deliveries(
    request: Request, _admin: Admin, status: Optional[str] = Query(None, regex=DeliveryStatus.pattern())
) -> Any:
    hooks = getattr(request.app.state, "webhooks", None)
    return hooks.list_deliveries(status=status) if hooks is not None else []


@router.post("/webhooks/deliveries/{delivery_id}/redeliver", response_model=Delivery)
def redeliver(delivery_id: int, request: Request, _admin: Admin) -> Any:
    hooks = getattr(request.app.state, "webhooks", None)
    if hooks is None:
        raise NotFound("no webhooks are configured")
    return hooks.redeliver(delivery_id)
