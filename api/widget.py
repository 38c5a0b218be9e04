"""The customer's widget: open a conversation, send turns, read and stream the transcript, read a cited article.

The caller is whoever holds the conversation's token (returned once, when the conversation opens).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api import limits
from api.deps import CustomerToken, Engine
from api.live import sse
from api.schemas import ArticleOut, ConversationStarted, SendMessage, StartConversation, Transcript, TurnOut
from tier0.errors import NotFound
from tier0.vocab import ArticleStatus, Channel

router = APIRouter(prefix="/api", tags=["widget"])
PUBLIC_DATA = ("buttons", "sources", "outcome", "agent", "notice")


def public_data(data: Dict[str, Any]) -> Dict[str, Any]:
    """What the customer's page may see of a message's data (retrieval details stay on the desk side)."""
    return {k: v for k, v in data.items() if k in PUBLIC_DATA}


@router.post("/conversations", response_model=ConversationStarted, status_code=201,
             dependencies=limits.CONVERSATION_START)
def start_conversation(engine: Engine, body: Optional[StartConversation] = None) -> ConversationStarted:
    """Open a conversation. Keep the returned token: only its holder reads or writes the conversation."""
    body = body or StartConversation(language=None, customer=None)
    customer = body.customer.dict(exclude_none=True) if body.customer else {}
    language = str(body.language) if body.language else None
    conv, token = engine.start(channel=Channel.WEB, language=language, customer=customer)
    return ConversationStarted(conversation_id=conv.id, token=token)


@router.post("/conversations/{conversation_id}/messages", response_model=TurnOut, dependencies=limits.MESSAGE)
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


@router.get("/conversations/{conversation_id}/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "message and status events"}},
            dependencies=limits.STREAM)
async def stream_transcript(
    conversation_id: str,
    request: Request,
    engine: Engine,
    authorization: CustomerToken,
    after: int = Query(0, ge=0, description="only messages with a larger id"),
    token: Optional[str] = Query(None, description="the customer token (EventSource cannot send headers)"),
) -> StreamingResponse:
    """Server-sent events: each new message of the conversation (``event: message``) as soon as it is stored, by
    whichever worker stored it — an agent's reply reaches the open chat page at once."""
    store = engine.services.conversations
    await run_in_threadpool(store.authorize, conversation_id, authorization or token)
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
