"""The app: one FastAPI application, its three audiences' routers, the pages, and what runs beside the requests.

    /api/...           the customer's widget (api.widget)
    /api/desk/...      agents, team leads, admins (api.desk)
    /api/inbound/...   channels that post to tier0 (api.inbound)
    /api/editor/...    KB editors (api.editor)
    /api/analytics/... team leads' figures (api.analytics)
    /, /desk, /editor, /analytics   the pages; /static their files; /healthz for load balancers

The body limit and security headers are applied in one place, :func:`_guard`, for every route; the rate limits
and the sign-in throttle as dependencies of their routes (:mod:`api.limits`). A worker is one process
running this app; ``tier0 serve --workers N`` runs N of them (:func:`factory` builds each worker's app).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from api import analytics, desk, editor, inbound, privacy, widget
from api.background import Background
from api.embed import WidgetScript, demo_page
from api.limits import Limits, WidgetCORS, security_headers
from api.live import LiveHub, RedisBus
from api.schemas import ERRORS, Health
from tier0.config import Settings, get_settings
from tier0.errors import RateLimited, Tier0Error
from tier0.privacy import install_log_masking
from tier0.vocab import Language

log = logging.getLogger("tier0.http")
STATIC = Path(__file__).resolve().parent / "static"


def create_app(settings: Optional[Settings] = None, engine: Any = None, scheduler: Optional[bool] = None) -> FastAPI:
    """Build the app. With ``engine`` the app serves it; otherwise it builds one at start-up from ``settings``.

    ``scheduler``: run the SLA scheduler and webhook deliveries in the background (once across workers, under a
    lease); default: only when the app builds its own engine (``tier0 serve``). Tests drive
    ``POST /api/desk/sla/run`` under a frozen clock instead.
    """
    settings = settings or get_settings()
    live = LiveHub()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_log_masking()  # logging is configured by now (uvicorn's too): personal data masked in every line
        if app.state.engine is None:
            from bot.runtime import build_engine

            app.state.engine = await run_in_threadpool(build_engine, settings)
        eng = app.state.engine
        services = eng.services
        bus = RedisBus(settings.redis_url, live).start() if settings.redis_url else None

        def wake(cid: str, _message: Any) -> None:
            live.notify(cid)

        services.conversations.listeners.append(wake)
        services.handoff.subscribe(live.desk_event)
        services.agents.revocations.append(live.revoke)  # sign-out, disabled, password changed: streams end
        hooks = _webhooks(eng)
        app.state.webhooks = hooks
        background = Background(eng, settings, webhooks=hooks,
                                scheduler=scheduler if scheduler is not None else engine is None)
        background.start()
        app.state.background = background
        try:
            yield
        finally:
            await background.stop()
            if hooks is not None:
                services.handoff.outbox.remove(hooks.enqueue)
            services.conversations.listeners.remove(wake)
            services.handoff.listeners.remove(live.desk_event)
            services.agents.revocations.remove(live.revoke)
            if bus is not None:
                bus.stop()
            if engine is None:  # the app built it: it closes it
                eng.close()

    app = FastAPI(
        title="tier0",
        version=_version(),
        description="Self-hosted tier-0 support assistant: KB answers with citations, hand-off to people.",
        lifespan=lifespan,
        docs_url="/docs" if settings.openapi_docs else None,
        redoc_url="/redoc" if settings.openapi_docs else None,
        openapi_url="/openapi.json" if settings.openapi_docs else None,
    )
    app.state.engine = engine
    app.state.limits = Limits(settings)
    app.state.headers = security_headers(settings)
    app.state.max_request_bytes = settings.max_request_bytes
    # the routes allowed a larger body than max_request_bytes: a KB archive uploaded by an editor
    app.state.body_limits = {"/api/editor/import": max(settings.max_request_bytes, settings.import_max_upload_bytes)}
    app.state.live = live
    app.state.webhooks = None
    app.middleware("http")(_guard)
    if settings.widget_origins.strip():
        app.add_middleware(WidgetCORS, origins=settings.widget_origins)

    @app.exception_handler(Tier0Error)
    async def _tier0_error(_request: Request, exc: Tier0Error) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return JSONResponse(status_code=exc.status_code, content={"error": exc.code, "detail": exc.message},
                            headers=headers)

    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeout

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeout)
    async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
        """Redis (rate limits, live events of several workers) does not answer: 503 and a retry, never a 500."""
        log.error("redis.unavailable path=%s error=%s", request.url.path, type(exc).__name__)
        return JSONResponse(status_code=503, headers={"Retry-After": "5"}, content={
            "error": "unavailable", "detail": "a service tier0 needs (Redis) does not answer; try again shortly"})

    @app.get("/healthz", tags=["ops"], response_model=Health, responses={503: {"model": Health}})
    def healthz(request: Request) -> Any:
        """200 when this worker serves turns; 503 while it starts (load balancers wait for 200)."""
        eng = request.app.state.engine
        if eng is None:
            return JSONResponse(status_code=503, content={"status": "starting"})
        return {"status": "ok", "articles": len(eng.services.index)}

    @app.get("/", include_in_schema=False)
    def chat_page() -> FileResponse:
        return FileResponse(STATIC / "chat.html")

    @app.get("/desk", include_in_schema=False)
    def desk_page() -> FileResponse:
        return FileResponse(STATIC / "desk.html")

    @app.get("/editor", include_in_schema=False)
    def editor_page() -> FileResponse:
        return FileResponse(STATIC / "editor.html")

    @app.get("/analytics", include_in_schema=False)
    def analytics_page() -> FileResponse:
        return FileResponse(STATIC / "analytics.html")

    # -- the website widget's files: /widget.js, /demo (#23 H1) ----------------------------------------------------
    script = WidgetScript()

    @app.get("/widget.js", include_in_schema=False)
    def widget_script(request: Request, v: Optional[str] = Query(None, max_length=64)) -> Response:
        """The website widget (api.embed): pinned with ?v=<hash> (cached a year), else cached five minutes."""
        status, body, headers = script.response(v, request.headers.get("if-none-match"),
                                                request.headers.get("accept-encoding", ""))
        return Response(body, status_code=status, headers=headers)

    @app.get("/demo", include_in_schema=False)
    def demo(lang: Language = Query(Language.EN, description="the page's language: en or fr")) -> HTMLResponse:
        """A fictional shop page embedding the widget with one script tag."""
        return HTMLResponse(demo_page(lang.value, script.version))


    # every API route documents the refusals it may answer (api.schemas.ERRORS), checked by schemathesis
    app.include_router(widget.router, responses=ERRORS)
    app.include_router(desk.router, responses=ERRORS)
    app.include_router(inbound.router, responses=ERRORS)
    app.include_router(privacy.router, responses=ERRORS)
    app.include_router(editor.router, responses=ERRORS)
    app.include_router(analytics.router, responses=ERRORS)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


def factory() -> FastAPI:
    """What each worker of ``tier0 serve --workers N`` (or ``uvicorn --factory api.app:factory``) runs: the app
    on the settings of the environment, building its own engine."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    install_log_masking()
    return create_app(get_settings())


async def _guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Every request: a body over TIER0_MAX_REQUEST_BYTES (an editor's KB archive: TIER0_IMPORT_MAX_UPLOAD_BYTES) is
    refused (413) before it is read; every response carries
    the security headers (:func:`api.limits.security_headers`: no sniffing, no framing but the chat page's by the
    widget's origins, the pages' scripts and styles from this origin only, HSTS over HTTPS)."""
    response = await _limited(request) or await call_next(request)
    for name, value in request.app.state.headers(request).items():
        response.headers.setdefault(name, value)
    return response


async def _limited(request: Request) -> Optional[Response]:
    """The refusal when the body is over the limit (or says a length that is no number); None when it is fine."""
    limit = request.app.state.body_limits.get(request.url.path, request.app.state.max_request_bytes)
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):  # "²" is a digit to Python, not to int()
            return JSONResponse(status_code=400, content={"error": "invalid_input",
                                                          "detail": "Content-Length is not a number"})
        if int(declared) > limit:
            return _too_large(limit)
    elif request.method in ("POST", "PUT", "PATCH") and "chunked" in request.headers.get("transfer-encoding", ""):
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return _too_large(limit)
        request._body = body  # read once, within the limit; the route reads it from here
    return None


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(status_code=413, content={
        "error": "too_large", "detail": f"the request body is larger than {limit} bytes"})


def _webhooks(engine: Any) -> Any:
    """Outbound webhooks from the desk configuration (none configured: None). Deliveries are sent by the
    background jobs of whichever worker holds the lease (api.background)."""
    endpoints = engine.services.webhook_endpoints
    if not endpoints:
        return None
    from handoff.webhooks import WebhookDispatcher

    settings = engine.services.settings
    hooks = WebhookDispatcher(engine.services.db, endpoints, engine.services.clock,
                              timeout_s=settings.webhook_timeout_s,
                              keep_delivered_days=settings.webhook_keep_delivered_days,
                              keep_failed_days=settings.webhook_keep_failed_days)
    engine.services.handoff.subscribe_outbox(hooks.enqueue)  # written with each ticket change (an outbox)
    return hooks


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("tier0")
    except Exception:  # noqa: BLE001 - not installed (running from a checkout)
        return "0.0.0"
