"""The customer's widget: open a conversation, send turns, read and stream the transcript, read a cited article.

The caller is whoever holds the conversation's token (returned once, when the conversation opens), sent as
``Authorization: Bearer``; the token expires after TIER0_CUSTOMER_TOKEN_HOURS without use (401 ``token_expired``:
start a new conversation). The event stream, which a browser opens without headers, takes a stream ticket.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Dict, Optional

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api import limits
from api.deps import CustomerToken, Engine, refuse_token_in_url, stream_tickets
from api.live import sse
from api.schemas import (
    ArticleOut,
    BotMessageOut,
    ContactIn,
    ContactOut,
    ConversationEnded,
    ConversationStarted,
    CustomerMessage,
    Outcome,
    PublicMessageData,
    PublicTicket,
    SearchResults,
    SendMessage,
    StartConversation,
    StreamTicketOut,
    SurveyIn,
    SurveyOut,
    TokenRenewed,
    Transcript,
    TurnOut,
)
from bot import widget as service
from knowledge_base import usage
from knowledge_base.render import render_markdown
from tier0 import identity
from tier0.conversations import MAX_ROW_ID, MAX_TRANSCRIPT_PAGE, TRANSCRIPT_PAGE
from tier0.errors import Forbidden, InvalidInput, NotFound
from tier0.stream_tickets import CONVERSATION
from tier0.vocab import MAX_IDEMPOTENCY_KEY_CHARS, MAX_SEARCH_CHARS, ArticleStatus, Channel, Language, TicketStatus

router = APIRouter(prefix="/api", tags=["widget"])
STATUS_RECHECK_S = 5  # while a ticket waits for an agent, its stream re-reads the place in the queue this often
PUBLIC_DATA = ("buttons", "sources", "outcome", "agent", "notice")


def public_data(data: Dict[str, Any]) -> Dict[str, Any]:
    """What the customer's page may see of a message's data (retrieval details stay on the desk side): the fields
    of PublicMessageData, each filtered by its own model (a cited article without its scores, a closed outcome)."""
    kept = {k: v for k, v in data.items() if k in PUBLIC_DATA}
    return PublicMessageData.parse_obj(kept).dict(exclude_unset=True)


def public_message(m: Dict[str, Any]) -> Dict[str, Any]:
    """A transcript message as its customer reads it (the transcript and the event stream); a message citing an
    article carries its text as sanitised HTML too."""
    data = m.get("data") or {}
    html = service.message_html(m.get("text") or "", data.get("sources"))
    out = {**m, "data": public_data(data), **({"html": html} if html is not None else {})}
    return CustomerMessage.parse_obj(out).dict(exclude_unset=True)


def public_ticket(ticket: Optional[Dict[str, Any]], agents: Any = None) -> Optional[Dict[str, Any]]:
    """A desk ticket as its customer sees it: reference, status, team, position and wait, who is on it."""
    if not ticket:
        return None
    out: Dict[str, Any] = {"id": ticket["id"], "status": ticket["status"]}
    waiting = ticket["status"] == TicketStatus.WAITING  # once an agent has it, the place in the queue is moot
    for key in ("team", "position", "expected_wait_minutes"):
        if ticket.get(key) is not None and (key == "team" or waiting):
            out[key] = ticket[key]
    if ticket.get("availability") == "offline":  # nobody can take it now: the widget offers POST …/contact (W1)
        out["offline"] = True
        if ticket.get("opens_at"):
            out["opens_at"] = ticket["opens_at"]
    assignee = ticket.get("assignee")
    if assignee and agents is not None:
        name = agents.display_name(assignee)
        if name:
            out["agent"] = name
    return PublicTicket.parse_obj(out).dict(exclude_unset=True)


def public_turn(turn: Dict[str, Any], agents: Any = None) -> Dict[str, Any]:
    """A turn's result as the customer's page receives it (TurnOut): no desk field, a closed outcome."""
    return {
        "conversation_id": turn["conversation_id"],
        "language": turn["language"],
        "messages": [bot_message(m) for m in turn["messages"]],
        "outcome": Outcome.parse_obj(turn["outcome"]).dict(exclude_unset=True),
        "ticket": public_ticket(turn["ticket"], agents),
    }


def bot_message(m: Dict[str, Any]) -> Dict[str, Any]:
    """A bot message of a turn as the customer's page receives it; citing an article, with its safe HTML."""
    html = service.message_html(m.get("text") or "", m.get("sources"))
    return BotMessageOut.parse_obj({**m, **({"html": html} if html is not None else {})}).dict(exclude_unset=True)


@router.post("/conversations", response_model=ConversationStarted, status_code=201,
             dependencies=limits.CONVERSATION_START)
def start_conversation(engine: Engine, body: Optional[StartConversation] = None) -> ConversationStarted:
    """Open a conversation. Keep the returned token: only its holder reads or writes the conversation."""
    body = body or StartConversation(language=None, customer=None)
    customer = body.customer.dict(exclude_none=True) if body.customer else {}
    customer = identity.checked(customer, engine.services.settings.identity_secret)  # 403 on a wrong signature
    language = str(body.language) if body.language else None
    conv, token = engine.start(channel=Channel.WEB, language=language, customer=customer)
    return ConversationStarted(conversation_id=conv.id, token=token)


@router.post("/conversations/{conversation_id}/messages", response_model=TurnOut, response_model_exclude_unset=True,
             dependencies=limits.MESSAGE)
async def send_message(
    conversation_id: str,
    body: SendMessage,
    engine: Engine,
    token: CustomerToken,
    idempotency_key: Optional[str] = Header(
        None, alias="Idempotency-Key", min_length=1, max_length=MAX_IDEMPOTENCY_KEY_CHARS,
        description="a key of the sender's choosing, new for each message: the same key again returns the first "
                    "result (no second turn), even from another worker; another message with it is a 422"),
) -> Any:
    """Send the customer's message; returns the bot's reply, the outcome and the ticket if one was created.

    The turn runs on the engine's turn threads: a slow turn never holds up other chats, streams or the desk.
    A conversation the customer ended takes no new turn (409)."""
    services = engine.services
    await run_in_threadpool(services.conversations.authorize, conversation_id, token)
    await run_in_threadpool(service.refuse_if_ended, services.db, conversation_id)
    if idempotency_key is None:
        result = await engine.turn(conversation_id, body.text)
        return await run_in_threadpool(public_turn, result.as_dict(), services.agents)
    keys = idempotency(engine)
    fingerprint = service.body_hash(body.text)
    kept = await run_in_threadpool(keys.claim, conversation_id, idempotency_key, fingerprint)
    if kept is not None:  # the same message again: the first result, no second turn
        turn = await run_in_threadpool(service.replayed, services.db, conversation_id, kept)
        return {**turn, "messages": [bot_message(m) for m in turn["messages"]]}
    key = idempotency_key

    async def run() -> Dict[str, Any]:
        try:
            result = await engine.turn(conversation_id, body.text)
            out = await run_in_threadpool(public_turn, result.as_dict(), services.agents)
        except Exception:
            await run_in_threadpool(keys.release, conversation_id, key)  # failed: a retry may run it
            raise
        await run_in_threadpool(keys.complete, conversation_id, key, service.remembered(out))
        return out

    # shielded: a client gone mid-turn (the widget offline) does not leave the key pending; its retry gets the result
    return await asyncio.shield(asyncio.ensure_future(run()))


def idempotency(engine: Any) -> service.Idempotency:
    s = engine.services.settings
    return service.Idempotency(engine.services.db, keep_hours=s.idempotency_keep_hours, wait_s=s.idempotency_wait_s,
                               stale_s=s.idempotency_stale_s, now=engine.services.clock.now)


@router.get("/conversations/{conversation_id}/messages", response_model=Transcript,
            response_model_exclude_unset=True)
def read_transcript(
    conversation_id: str,
    engine: Engine,
    token: CustomerToken,
    after: int = Query(0, ge=0, le=MAX_ROW_ID, description="only messages with a larger id"),
    limit: int = Query(TRANSCRIPT_PAGE, ge=1, le=MAX_TRANSCRIPT_PAGE, description="messages per page"),
) -> Any:
    """The conversation's transcript (customer, bot, agent and system messages), oldest first, one page at a time:
    ``more`` says that later messages exist (ask again with ``after`` = the last id)."""
    conv = engine.services.conversations.authorize(conversation_id, token)
    messages, more = engine.services.conversations.transcript_page(conversation_id, limit, after_id=after)
    out: Dict[str, Any] = {"conversation_id": conv.id, "status": conv.status, "language": conv.language,
           "messages": [public_message(m) for m in messages], "more": more}
    ended = service.ended_at(engine.services.db, conversation_id)
    if ended is not None:  # a page reloaded on an ended conversation offers the survey or a new one (W1)
        out["ended_at"] = ended.isoformat() + "Z"
    ticket = open_ticket(engine, conversation_id)
    if ticket is not None:
        out["ticket"] = ticket
    return out


def open_ticket(engine: Any, conversation_id: str) -> Optional[Dict[str, Any]]:
    """The conversation's open request for a person as its customer sees it now (its place in the queue moves as
    the tickets ahead are claimed; the agent's name appears once one claims it)."""
    services = engine.services
    return public_ticket(services.handoff.open_ticket_for(conversation_id, availability=True), services.agents)


def customer_status(engine: Any, conversation_id: str) -> Dict[str, Any]:
    """The stream's ``status`` event: the conversation's status and its open ticket, if any."""
    conv = engine.services.conversations.get(conversation_id)
    ticket = open_ticket(engine, conversation_id)
    return {"status": conv.status, **({"ticket": ticket} if ticket is not None else {})}


def resume_from(last_event_id: Optional[str], after: int) -> int:
    """Where a reconnecting stream resumes: the ``Last-Event-ID`` the browser sends back (a message id this stream
    sent), else ``after``. Anything else in the header is a 422 (invalid_input), never a 500."""
    if last_event_id is None or not last_event_id.strip():
        return after
    value = last_event_id.strip()
    if not re.fullmatch(r"[0-9]{1,19}", value) or int(value) > MAX_ROW_ID:  # ASCII digits: no sign, no "²"
        raise InvalidInput("Last-Event-ID must be the id of a message this stream sent (a whole number)")
    return int(value)


@router.post("/conversations/{conversation_id}/stream-ticket", response_model=StreamTicketOut)
def conversation_stream_ticket(conversation_id: str, engine: Engine, token: CustomerToken) -> Any:
    """A ticket for opening this conversation's event stream (``?ticket=``; EventSource cannot send the
    Authorization header): valid once, for TIER0_STREAM_TICKET_SECONDS. A reconnecting page asks for a new one."""
    engine.services.conversations.authorize(conversation_id, token)
    ticket, expires = stream_tickets(engine).issue(CONVERSATION, conversation_id)
    return {"ticket": ticket, "expires_at": expires.isoformat() + "Z"}


@router.get("/conversations/{conversation_id}/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "message and status events"}},
            dependencies=limits.STREAM)
async def stream_transcript(
    conversation_id: str,
    request: Request,
    engine: Engine,
    authorization: CustomerToken,
    after: int = Query(0, ge=0, le=MAX_ROW_ID, description="only messages with a larger id"),
    ticket: Optional[str] = Query(None, max_length=200, description="from POST …/stream-ticket (EventSource)"),
) -> StreamingResponse:
    """Server-sent events: each new message of the conversation (``event: message``) as soon as it is stored, by
    whichever worker stored it — an agent's reply reaches the open chat page at once. Opened with ``?ticket=``
    (browsers) or the Authorization header."""
    refuse_token_in_url(request, "token", "access_token")
    store = engine.services.conversations
    if ticket is not None:
        subject = await run_in_threadpool(stream_tickets(engine).redeem, CONVERSATION, ticket)
        if subject != conversation_id:
            raise Forbidden("this stream ticket is for another conversation")
    else:
        await run_in_threadpool(store.authorize, conversation_id, authorization)
    hub = request.app.state.live
    last_id = resume_from(request.headers.get("last-event-id"), after)

    async def gen():
        yield "retry: 1000\n\n"
        wake = hub.subscribe(conversation_id)  # before the first read: nothing stored after it is missed
        try:
            async for event in events(wake):
                yield event
        finally:
            hub.unsubscribe(conversation_id, wake)

    async def events(wake):
        nonlocal last_id
        idle = since_check = 0.0
        status: Optional[Dict[str, Any]] = None
        woken = True
        while not await request.is_disconnected():
            messages, more = await run_in_threadpool(store.transcript_page, conversation_id, TRANSCRIPT_PAGE, last_id)
            for m in messages:
                last_id = m["id"]
                yield sse("message", public_message(m), m["id"])
            if more:
                continue  # the next page at once
            if messages:
                idle = 0.0
            # the status, with the ticket's place in the queue or its agent: when something happened to the
            # conversation or its ticket (woken), every STATUS_RECHECK_S while its ticket waits for an agent (the
            # tickets ahead move), and every 15 s anyway (which also keeps proxies from closing an idle stream)
            waiting = bool(status and status.get("ticket") and "agent" not in status["ticket"])
            if woken or idle >= 15 or (waiting and since_check >= STATUS_RECHECK_S):
                now = await run_in_threadpool(customer_status, engine, conversation_id)
                since_check = 0.0
                if now != status or idle >= 15:
                    yield sse("status", now)
                    idle = 0.0
                status = now
            woken = await wake.wait(timeout=1.0)  # at once if something came meanwhile
            idle += 1.0
            since_check += 1.0

    return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.get("/articles/{article_id}", response_model=ArticleOut)
def read_article(article_id: str, engine: Engine) -> ArticleOut:
    """A published article, as cited by the bot."""
    art = engine.services.kb.get(article_id)
    if art.status == ArticleStatus.PUBLISHED:  # one more view of its full text (#22 D: the editors' figures)
        usage.count_view(engine.services.db, art.id)
    if art.status != ArticleStatus.PUBLISHED:
        raise NotFound(f"article {article_id} not found")
    return ArticleOut(id=art.id, title=art.title, lang=art.lang, category=art.category, tags=art.tags, body=art.body,
                      html=render_markdown(art.body))


# -- the website widget's backend (#23 W1) -----------------------------------------------------------------------
@router.get("/search", response_model=SearchResults, dependencies=limits.SEARCH)
def search_articles(
    engine: Engine,
    q: str = Query(..., min_length=1, max_length=MAX_SEARCH_CHARS, description="what the customer is typing"),
    lang: Optional[Language] = Query(None, description="only articles in this language"),
) -> Any:
    """Suggestions while the customer types (no sign-in; its own rate per IP, TIER0_LIMIT_SEARCH_PER_IP): the best
    published articles for ``q`` (2 to 200 characters once stripped), each with a snippet and its full text's URL."""
    query = service.search_query(q)
    hits = service.search(engine.services.index, engine.services.kb, query, str(lang) if lang else None)
    return {"query": query, "results": hits}


@router.post("/conversations/{conversation_id}/token", response_model=TokenRenewed)
def renew_token(conversation_id: str, engine: Engine, token: CustomerToken) -> Any:
    """A new token for the conversation (a widget kept open renews its token before it expires); the old token
    stops working at once. Keep the new one where the old one was (the widget: localStorage)."""
    services = engine.services
    services.conversations.authorize(conversation_id, token)
    new = service.renew_token(services.db, conversation_id, token or "", services.settings.customer_token_hours,
                              now=services.clock.now)
    return {"conversation_id": conversation_id, "token": new}


@router.post("/conversations/{conversation_id}/end", response_model=ConversationEnded,
             response_model_exclude_unset=True)
def end_conversation(conversation_id: str, engine: Engine, token: CustomerToken) -> Any:
    """The customer closes the conversation: the bot says goodbye and takes no new message (409). The transcript,
    the survey and the contact address stay available. Ending it again changes nothing."""
    services = engine.services
    services.conversations.authorize(conversation_id, token)
    out = service.end(services.db, services.conversations, conversation_id, now=services.clock.now)
    return {**out, "messages": [bot_message(m) for m in out["messages"]]}


@router.post("/conversations/{conversation_id}/survey", response_model=SurveyOut)
def answer_survey(conversation_id: str, body: SurveyIn, engine: Engine, token: CustomerToken) -> Any:
    """The satisfaction survey: a rating from 1 to 5 and an optional comment. It rates the person if a ticket of
    the conversation was resolved, else the bot; 409 while there is nothing to rate (no answer, no resolved
    ticket). One answer a conversation: answering again replaces the first answer."""
    services = engine.services
    services.conversations.authorize(conversation_id, token)
    return service.survey(services.db, conversation_id, body.rating, body.comment, now=services.clock.now)


@router.post("/conversations/{conversation_id}/contact", response_model=ContactOut, response_model_exclude_unset=True)
def leave_contact(conversation_id: str, body: ContactIn, engine: Engine, token: CustomerToken) -> Any:
    """Nobody online to take the request: the customer leaves an e-mail address (stored on the conversation's open
    ticket) and learns when they will hear back (the queue's next opening when the team is closed). 409 when no
    request of this conversation waits for a person; 422 for an address that is not one."""
    services = engine.services
    services.conversations.authorize(conversation_id, token)
    return service.contact(services.handoff, services.conversations, conversation_id, body.email)
