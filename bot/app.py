"""The HTTP front door: FastAPI app factory, the widget's chat API and the minimal chat page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, constr

from tier0.config import Settings, get_settings
from tier0.errors import Forbidden, NotFound, Tier0Error

log = logging.getLogger("tier0.http")
STATIC = Path(__file__).resolve().parent / "static"


# -- schemas ---------------------------------------------------------------------------------------
class Customer(BaseModel):
    id: Optional[str] = Field(None, max_length=200)
    name: Optional[str] = Field(None, max_length=200)
    email: Optional[str] = Field(None, max_length=320)
    tier: Optional[str] = Field(None, max_length=50, description="e.g. standard, vip")


class StartConversation(BaseModel):
    language: Optional[str] = Field(None, regex="^(en|fr)$", description="the page's language, if known")
    customer: Optional[Customer] = None


class ConversationStarted(BaseModel):
    conversation_id: str
    token: str = Field(..., description="customer token: send it as 'Authorization: Bearer <token>'")


class SendMessage(BaseModel):
    text: constr(strict=True, min_length=1, max_length=4000) = Field(..., description="the customer's message")


class Source(BaseModel):
    article_id: str
    title: str
    lang: str
    score: float
    url: Optional[str] = None


class BotMessageOut(BaseModel):
    id: int
    text: str
    buttons: List[Dict[str, str]] = []
    sources: List[Dict[str, Any]] = []


class TurnOut(BaseModel):
    conversation_id: str
    language: str
    messages: List[BotMessageOut]
    outcome: Dict[str, Any] = Field(..., description="type: answer | clarify | handoff | other")
    ticket: Optional[Dict[str, Any]] = None


class TranscriptMessage(BaseModel):
    id: int
    sender: str
    text: str
    data: Dict[str, Any] = {}
    created_at: str


class Transcript(BaseModel):
    conversation_id: str
    status: str
    language: Optional[str]
    messages: List[TranscriptMessage]


class ArticleOut(BaseModel):
    id: str
    title: str
    lang: str
    category: Optional[str]
    tags: List[str]
    body: str


# -- dependencies ----------------------------------------------------------------------------------
def engine_dep(request: Request):
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        from tier0.errors import NotReady

        raise NotReady("tier0 is starting")
    return engine


def bearer_token(authorization: Optional[str] = Header(None)) -> Optional[str]:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


# -- routes ----------------------------------------------------------------------------------------
widget = APIRouter(prefix="/api", tags=["widget"])


@widget.post("/conversations", response_model=ConversationStarted, status_code=201)
def start_conversation(body: Optional[StartConversation] = None, engine=Depends(engine_dep)):
    """Open a conversation. Keep the returned token: only its holder reads or writes the conversation."""
    body = body or StartConversation()
    customer = body.customer.dict(exclude_none=True) if body.customer else {}
    conv, token = engine.start(channel="web", language=body.language, customer=customer)
    return ConversationStarted(conversation_id=conv.id, token=token)


@widget.post("/conversations/{conversation_id}/messages", response_model=TurnOut)
async def send_message(
    conversation_id: str, body: SendMessage, engine=Depends(engine_dep), token=Depends(bearer_token)
):
    """Send the customer's message; returns the bot's reply, the outcome and the ticket if one was created."""
    engine.services.conversations.authorize(conversation_id, token)
    result = await engine.send(conversation_id, body.text)
    return result.as_dict()


@widget.get("/conversations/{conversation_id}/messages", response_model=Transcript)
def read_transcript(
    conversation_id: str,
    after: int = Query(0, ge=0, description="only messages with a larger id"),
    engine=Depends(engine_dep),
    token=Depends(bearer_token),
):
    """The conversation's transcript (customer, bot, agent and system messages)."""
    conv = engine.services.conversations.authorize(conversation_id, token)
    messages = engine.services.conversations.transcript(conversation_id, after_id=after)
    for m in messages:  # internal retrieval details stay on the desk side
        m["data"] = _public_data(m["data"])
    return {"conversation_id": conv.id, "status": conv.status, "language": conv.language, "messages": messages}


@widget.get("/conversations/{conversation_id}/stream")
async def stream_transcript(
    conversation_id: str,
    request: Request,
    after: int = Query(0, ge=0, description="only messages with a larger id"),
    token: Optional[str] = Query(None, description="the customer token (EventSource cannot send headers)"),
    engine=Depends(engine_dep),
    authorization: Optional[str] = Depends(bearer_token),
):
    """Server-sent events: each new message of the conversation (``event: message``) as soon as it is stored —
    an agent's reply reaches the open chat page at once."""
    from starlette.concurrency import run_in_threadpool

    from bot.live import sse

    store = engine.services.conversations
    store.authorize(conversation_id, authorization or token)
    hub = request.app.state.live
    last_id = int(request.headers.get("last-event-id") or after)

    async def gen():
        nonlocal last_id
        yield "retry: 1000\n\n"
        idle = 0.0
        while not await request.is_disconnected():
            messages = await run_in_threadpool(store.transcript, conversation_id, last_id)
            for m in messages:
                m["data"] = _public_data(m["data"])
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


def _public_data(data: Dict[str, Any]) -> Dict[str, Any]:
    """What the customer's page may see of a message's data (retrieval details stay on the desk side)."""
    return {k: v for k, v in data.items() if k in ("buttons", "sources", "outcome", "agent", "notice")}


@widget.get("/articles/{article_id}", response_model=ArticleOut)
def read_article(article_id: str, engine=Depends(engine_dep)):
    """A published article, as cited by the bot."""
    art = engine.services.kb.get(article_id)
    if art.status != "published":
        raise NotFound(f"article {article_id} not found")
    return ArticleOut(id=art.id, title=art.title, lang=art.lang, category=art.category, tags=art.tags, body=art.body)


def create_app(settings: Optional[Settings] = None, engine=None, scheduler: Optional[bool] = None) -> FastAPI:
    """Build the app. With ``engine`` the app serves it; otherwise it builds one at start-up from ``settings``.

    ``scheduler``: run the SLA scheduler (and webhook deliveries) in the background; default: only when the app
    builds its own engine (``tier0 serve``) — tests drive ``POST /api/desk/sla/run`` under a frozen clock instead.
    """
    settings = settings or get_settings()
    from bot.live import LiveHub

    live = LiveHub()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.engine is None:
            from bot.runtime import build_engine

            app.state.engine = build_engine(settings)
        eng = app.state.engine
        def wake(cid, _message):
            live.notify(cid)

        eng.services.conversations.listeners.append(wake)
        eng.services.handoff.subscribe(live.desk_event)
        hooks = _start_webhooks(eng, settings)
        app.state.webhooks = hooks
        background = scheduler if scheduler is not None else engine is None
        tasks = []
        if background and settings.sla_interval > 0:
            tasks.append(asyncio.create_task(_sla_loop(eng, settings.sla_interval)))
        if background and settings.calibration_interval > 0:
            tasks.append(asyncio.create_task(_calibration_loop(eng, settings.calibration_interval)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if hooks is not None:
                hooks.stop()
                eng.services.handoff.listeners.remove(hooks.on_event)
            eng.services.conversations.listeners.remove(wake)
            eng.services.handoff.listeners.remove(live.desk_event)

    app = FastAPI(
        title="tier0",
        version=_version(),
        description="Self-hosted tier-0 support assistant: KB answers with citations, hand-off to people.",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.live = live
    app.state.webhooks = None

    @app.exception_handler(Tier0Error)
    async def _tier0_error(_request: Request, exc: Tier0Error):
        return JSONResponse(status_code=exc.status_code, content={"error": exc.code, "detail": exc.message})

    @app.get("/healthz", tags=["ops"])
    def healthz(request: Request):
        eng = request.app.state.engine
        ready = eng is not None
        body = {"status": "ok" if ready else "starting"}
        if ready:
            body["articles"] = len(eng.services.index)
        return JSONResponse(status_code=200 if ready else 503, content=body)

    @app.get("/", include_in_schema=False)
    def chat_page():
        return FileResponse(STATIC / "chat.html")

    @app.get("/desk", include_in_schema=False)
    def desk_page():
        return FileResponse(STATIC / "desk.html")

    from bot.desk_api import desk, inbound

    app.include_router(widget)
    app.include_router(desk)
    app.include_router(inbound)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


async def _sla_loop(engine, interval: float) -> None:
    """The SLA scheduler: every ``interval`` seconds, raise priorities and escalate what the SLAs require."""
    from starlette.concurrency import run_in_threadpool

    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(engine.services.handoff.run_sla)
        except Exception:  # noqa: BLE001 - keep scheduling; the error is logged
            log.exception("sla.scheduler_failed")


async def _calibration_loop(engine, interval: float) -> None:
    """Every ``interval`` seconds, refit the calibration if enough new labelled answers arrived (bot.feedback)."""
    from starlette.concurrency import run_in_threadpool

    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(engine.services.refresh_calibration)
        except Exception:  # noqa: BLE001 - keep the current calibration; the error is logged
            log.exception("calibration.refresh_failed")


def _start_webhooks(engine, settings):
    """Outbound webhooks from the desk configuration (none configured: nothing runs)."""
    endpoints = engine.services.webhook_endpoints
    if not endpoints:
        return None
    from handoff.webhooks import WebhookDispatcher

    hooks = WebhookDispatcher(engine.services.db, endpoints, engine.services.clock)
    engine.services.handoff.subscribe(hooks.on_event)
    hooks.start()
    return hooks


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("tier0")
    except Exception:  # noqa: BLE001 - not installed (running from a checkout)
        return "0.0.0"


__all__ = ["create_app", "Forbidden"]
