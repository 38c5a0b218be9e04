"""The customer's widget: open a conversation, send turns, read and stream the transcript, read a cited article.

The caller is whoever holds the conversation's token (returned once, when the conversation opens), sent as
``Authorization: Bearer``; the token expires after TIER0_CUSTOMER_TOKEN_HOURS without use (401 ``token_expired``:
start a new conversation). The event stream, which a browser opens without headers, takes a stream ticket.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import CustomerToken, Engine, refuse_token_in_url, stream_tickets
from api.live import sse
from api.schemas import (
    ArticleOut,
    ConversationStarted,
    SendMessage,
    StartConversation,
    StreamTicketOut,
    Transcript,
    TurnOut,
)
from tier0.errors import Forbidden, NotFound
from tier0.stream_tickets import CONVERSATION
from tier0.vocab import ArticleStatus, Channel

router = APIRouter(prefix="/api", tags=["widget"])
PUBLIC_DATA = ("buttons", "sources", "outcome", "agent", "notice")


def public_data(data: Dict[str, Any]) -> Dict[str, Any]:
    """What the customer's page may see of a message's data (retrieval details stay on the desk side)."""
    return {k: v for k, v in data.items() if k in PUBLIC_DATA}


@router.post("/conversations", response_model=ConversationStarted, status_code=201)
def start_conversation(engine: Engine, body: Optional[StartConversation] = None) -> ConversationStarted:
    """Open a conversation. Keep the returned token: only its holder reads or writes the conversation."""
    body = body or StartConversation(language=None, customer=None)
    customer = body.customer.dict(exclude_none=True) if body.customer else {}
    language = str(body.language) if body.language else None
    conv, token = engine.start(channel=Channel.WEB, language=language, customer=customer)
    return ConversationStarted(conversation_id=conv.id, token=token)


@router.post("/conversations/{conversation_id}/messages", response_model=TurnOut)
async def send_message(conversation_id: str, body: SendMessage, engine: Engine, token: CustomerToken) -> Any:
    """Send the customer's message; returns the bot's reply, the outcome and the ticket if one was created.

    The turn runs on the engine's turn threads: a slow turn never holds up other chats, streams or the desk."""
    await run_in_threadpool(engine.services.conversations.authorize, conversation_id, token)
    result = await engine.turn(conversation_id, body.text)
    return result.as_dict()


@router.get("/conversations/{conversation_id}/messages", response_model=Transcript)
def read_transcript(
    conversation_id: str,
    engine: Engine,
    token: CustomerToken,
    after: int = Query(0, ge=0, description="only messages with a larger id"),
) -> Any:
    """The conversation's transcript (customer, bot, agent and system messages)."""
    conv = engine.services.conversations.authorize(conversation_id, token)
    messages = engine.services.conversations.transcript(conversation_id, after_id=after)
    for m in messages:
        m["data"] = public_data(m["data"])
    return {"conversation_id": conv.id, "status": conv.status, "language": conv.language, "messages": messages}


@router.post("/conversations/{conversation_id}/stream-ticket", response_model=StreamTicketOut)
def conversation_stream_ticket(conversation_id: str, engine: Engine, token: CustomerToken) -> Any:
    """A ticket for opening this conversation's event stream (``?ticket=``; EventSource cannot send the
    Authorization header): valid once, for TIER0_STREAM_TICKET_SECONDS. A reconnecting page asks for a new one."""
    engine.services.conversations.authorize(conversation_id, token)
    ticket, expires = stream_tickets(engine).issue(CONVERSATION, conversation_id)
    return {"ticket": ticket, "expires_at": expires.isoformat() + "Z"}


@router.get("/conversations/{conversation_id}/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "message and status events"}})
async def stream_transcript(
    conversation_id: str,
    request: Request,
    engine: Engine,
    authorization: CustomerToken,
    after: int = Query(0, ge=0, description="only messages with a larger id"),
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
    last_id = int(request.headers.get("last-event-id") or after)

    async def gen():
        nonlocal last_id
        yield "retry: 1000\n\n"
        idle = 0.0
        while not await request.is_disconnected():
            messages = await run_in_threadpool(store.transcript, conversation_id, last_id)
            for m in messages:
                m["data"] = public_data(m["data"])
                last_id = m["id"]
                yield sse("message", m, m["id"])
            if messages:
                idle = 0.0
            elif idle >= 15:
                conv = await run_in_threadpool(store.get, conversation_id)
                yield sse("status", {"status": conv.status})
                idle = 0.0
            await hub.wait(conversation_id, timeout=1.0)
            idle += 1.0

    return StreamingResponse(gen(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.get("/articles/{article_id}", response_model=ArticleOut)
def read_article(article_id: str, engine: Engine) -> ArticleOut:
    """A published article, as cited by the bot."""
    art = engine.services.kb.get(article_id)
    if art.status != ArticleStatus.PUBLISHED:
        raise NotFound(f"article {article_id} not found")
    return ArticleOut(id=art.id, title=art.title, lang=art.lang, category=art.category, tags=art.tags, body=art.body)
