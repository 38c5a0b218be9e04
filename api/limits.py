"""Limits per client and the desk's sign-in throttle: what keeps one client from flooding tier0 (issue #21).

    conversations opened per IP              POST /api/conversations                 a rate
    messages per conversation and per IP     POST /api/conversations/{id}/messages   a rate
    event streams per conversation and IP    GET  /api/conversations/{id}/stream     a cap on streams open at once
    sign-in                                  POST /api/desk/login                    :class:`LoginThrottle`
    public searches per IP                   GET  /api/search                        a rate

Over a limit: 429 ``{"error": "rate_limited", "detail": ...}`` with ``Retry-After`` in seconds
(:class:`tier0.errors.RateLimited`). Each applies as a dependency of its route, before the route runs. The counters
live in the storage of the `limits` library: in this process with one worker, in Redis (TIER0_REDIS_URL) when
several workers share them. Rates use its moving window (no burst at a window's edge).

The client's IP is ``request.client``: uvicorn replaces it with the X-Forwarded-For address only when the peer is
one of TIER0_TRUSTED_PROXIES (:func:`proxy_options`, given to uvicorn by ``tier0 serve``).

Also here, what every response says to the browser (:func:`security_headers`, applied by ``api.app._guard``) and
the widget API's CORS for the company's sites (:class:`WidgetCORS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, Iterator, List, Optional
from urllib.parse import quote

from fastapi import Depends, Request
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from tier0.config import Settings
from tier0.errors import RateLimited, Unauthorized

log = logging.getLogger("tier0.http")
NAMESPACE = "tier0"
# A cap's count (streams open) is forgotten after this long without a stream opening or closing: what a worker
# that died with streams open leaves behind does not last.
CAP_TTL = 3600
CAP_RETRY_AFTER = 10  # a cap has no window: try again in this many seconds
LOGIN_MEMORY = 24 * 3600  # a pair's failures are forgotten this long after its last failure

# what each rate counts, for the refusal's detail
RATES = {
    "conversations-per-ip": "conversations opened from your address",
    "messages-per-conversation": "messages in this conversation",
    "messages-per-ip": "messages from your address",
    "login-failures-per-ip": "failed sign-ins from your address",
    "login-failures-per-account": "failed sign-ins of this account",
    "search-per-ip": "searches from your address",
}


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def client_key(request: Request) -> str:
    """Whom a per-IP limit counts: the IPv4 address, or the IPv6 /64 (one subscriber holds a whole /64)."""
    ip = client_ip(request)
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if addr.version == 6 and addr.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{addr}/64", strict=False))
    return str(addr.ipv4_mapped or addr) if addr.version == 6 else ip


def proxy_options(settings: Settings) -> Dict[str, Any]:
    """uvicorn's options for TIER0_TRUSTED_PROXIES: the proxies whose X-Forwarded-For / -Proto it believes."""
    trusted = ",".join(p.strip() for p in settings.trusted_proxies.split(",") if p.strip())
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None}


def seconds_until(when: float) -> int:
    """Whole seconds from now until the storage's time ``when`` (whole seconds), and one more: by then it has
    passed (a window's oldest hit still counts at the very second it leaves)."""
    return max(1, int(when - time.time()) + 1)


def _rates(spec: str) -> List[RateLimitItem]:
    return [type(i)(i.amount, i.multiples, namespace=NAMESPACE) for i in parse_many(spec)] if spec.strip() else []


class Limits:
    """The rates and caps of one deployment, on one storage (memory, or Redis shared by the workers)."""

    def __init__(self, settings: Settings, storage: Any = None):
        self.settings = settings
        self.storage = storage or storage_from_string(settings.redis_url or "memory://")
        self.window = MovingWindowRateLimiter(self.storage)
        self.rates: Dict[str, List[RateLimitItem]] = {
            "conversations-per-ip": _rates(settings.limit_conversations_per_ip),
            "messages-per-conversation": _rates(settings.limit_messages_per_conversation),
            "messages-per-ip": _rates(settings.limit_messages_per_ip),
            "login-failures-per-ip": _rates(settings.limit_login_failures_per_ip),
            "login-failures-per-account": _rates(settings.limit_login_failures_per_account),
            "search-per-ip": _rates(settings.limit_search_per_ip),
        }
        self.login = LoginThrottle(self)

    # -- rates -------------------------------------------------------------------------------------------
    def check(self, name: str, key: str) -> None:
        """Raise :class:`RateLimited` if ``key`` has used up one of the rates ``name``; counts nothing."""
        for item in self.rates[name]:
            if not self.window.test(item, name, key):
                reset, _ = self.window.get_window_stats(item, name, key)
                wait = seconds_until(reset)
                raise RateLimited(f"too many {RATES[name]}: at most {item}; try again in {wait} s", wait)

    def record(self, name: str, key: str) -> None:
        """Count one against every rate ``name`` of ``key``."""
        for item in self.rates[name]:
            self.window.hit(item, name, key)

    def hit(self, name: str, key: str) -> None:
        """:meth:`check`, then :meth:`record`."""
        self.check(name, key)
        self.record(name, key)

    # -- caps (how many at once) ---------------------------------------------------------------------------
    def acquire(self, name: str, key: str, cap: int, what: str) -> Callable[[], None]:
        """Take one of ``cap`` places of ``key`` (RateLimited when none is free); returns what gives it back."""
        k = f"{NAMESPACE}/{name}/{key}"
        if self.storage.incr(k, CAP_TTL, elastic_expiry=True) > cap:
            self._release(k)
            raise RateLimited(f"too many {what} at once (at most {cap}); close one first", CAP_RETRY_AFTER)
        return lambda: self._release(k)

    def _release(self, k: str) -> None:
        if self.storage.incr(k, CAP_TTL, elastic_expiry=True, amount=-1) <= 0:
            self.storage.clear(k)  # nothing held: no key kept (a count forgotten after CAP_TTL ends here too)

    @contextlib.contextmanager
    def hold(self, name: str, key: str, cap: int, what: str) -> Iterator[None]:
        release = self.acquire(name, key, cap, what)
        try:
            yield
        finally:
            release()


class LoginThrottle:
    """Sign-in throttling that an attacker cannot turn against a real agent for long.

    - Per (account, IP): after ``login_lockout_after`` failures the pair is refused for ``login_lockout_s``,
      doubling with each further failure (one more try each time the lock lifts), at most ``login_lockout_max_s``;
      a success clears the pair. An attacker locks out only the pairs of their own addresses.
    - Per IP, across accounts: ``limit_login_failures_per_ip`` (credential stuffing from one address). Refuses
      only that address, until the window moves on.
    - Per account, across IPs: past ``limit_login_failures_per_account`` each attempt waits ``login_slowdown_s``
      (at most 10 s) before its password is checked; never a refusal, so the real agent signs in from their own
      address with their password, at worst that much later.
    - Per IP, ``max_logins_per_ip`` attempts in progress at once (each password check costs 64 MiB).

    A refusal comes before the Argon2 hash is computed.
    """

    def __init__(self, limits: Limits):
        self.limits = limits
        self.settings = limits.settings
        self.storage = limits.storage
        self.sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep

    @staticmethod
    def _keys(username: str, ip: str) -> tuple:
        pair = f"{quote(username, safe='')}/{ip}"
        return f"{NAMESPACE}/login-failures/{pair}", f"{NAMESPACE}/login-locked/{pair}"

    def check(self, username: str, ip: str) -> float:
        """Raise RateLimited when the pair is locked out or the IP failed too often; else the slow-down (s)."""
        _, locked = self._keys(username, ip)
        if self.storage.get(locked) > 0:
            wait = seconds_until(self.storage.get_expiry(locked))
            raise RateLimited(f"too many failed sign-ins of this account from your address; try again in {wait} s",
                              wait)
        self.limits.check("login-failures-per-ip", ip)
        try:
            self.limits.check("login-failures-per-account", username)
        except RateLimited:
            return self.settings.login_slowdown_s
        return 0.0

    def failed(self, username: str, ip: str) -> Optional[float]:
        """Count a failure; returns the lock-out it starts (seconds), if any."""
        failures, locked = self._keys(username, ip)
        n = self.storage.incr(failures, LOGIN_MEMORY, elastic_expiry=True)
        self.limits.record("login-failures-per-ip", ip)
        self.limits.record("login-failures-per-account", username)
        s = self.settings
        if n < s.login_lockout_after:
            return None
        seconds = min(s.login_lockout_max_s, s.login_lockout_s * 2 ** min(n - s.login_lockout_after, 32))
        self.storage.clear(locked)
        self.storage.incr(locked, max(1, math.ceil(seconds)))
        return seconds

    def succeeded(self, username: str, ip: str) -> None:
        for k in self._keys(username, ip):
            self.storage.clear(k)


# -- the dependencies the routes declare -------------------------------------------------------------------------
def _limits(request: Request) -> Limits:
    return request.app.state.limits


def _conversation_start(request: Request) -> None:
    _limits(request).hit("conversations-per-ip", client_key(request))


def _message(request: Request, conversation_id: str) -> Iterator[None]:
    lim = _limits(request)
    lim.hit("messages-per-ip", client_key(request))  # every attempt counts, signed or not
    lim.check("messages-per-conversation", conversation_id)
    yield
    # counted once the route accepted it: a caller without the conversation's token cannot use up its messages
    lim.record("messages-per-conversation", conversation_id)


def _stream(request: Request, conversation_id: str) -> Iterator[None]:
    lim = _limits(request)
    s = lim.settings
    with lim.hold("streams-per-ip", client_key(request), s.max_streams_per_ip, "event streams from your address"), \
            lim.hold("streams-per-conversation", conversation_id, s.max_streams_per_conversation,
                     "event streams on this conversation"):
        yield  # held until the stream ends (FastAPI closes this after the response)


async def _username(request: Request) -> Optional[str]:
    try:
        body = await request.json()
    except Exception:  # noqa: BLE001 - not JSON: the route answers 422
        return None
    name = body.get("username") if isinstance(body, dict) else None
    return name.strip().lower()[:64] if isinstance(name, str) else None


async def _login(request: Request) -> AsyncIterator[None]:
    lim = _limits(request)
    username = await _username(request)
    if username is None:
        yield  # the route refuses the body
        return
    ip = client_key(request)
    throttle = lim.login
    delay = await run_in_threadpool(throttle.check, username, ip)  # refused here: no hash is computed
    release = await run_in_threadpool(lim.acquire, "logins-per-ip", ip, lim.settings.max_logins_per_ip,
                                      "sign-ins from your address")
    try:
        if delay:
            await throttle.sleep(delay)
        try:
            yield
        except Unauthorized:
            locked = await run_in_threadpool(throttle.failed, username, ip)
            log.warning("desk.login_failed username=%s ip=%s%s", repr(username)[1:-1], client_ip(request),
                        f" locked_for_s={locked:.0f}" if locked else "")
            raise
        await run_in_threadpool(throttle.succeeded, username, ip)
    finally:
        await run_in_threadpool(release)


def _search(request: Request) -> None:
    _limits(request).hit("search-per-ip", client_key(request))


CONVERSATION_START = [Depends(_conversation_start)]
MESSAGE = [Depends(_message)]
STREAM = [Depends(_stream)]
LOGIN = [Depends(_login)]
SEARCH = [Depends(_search)]


# -- headers ------------------------------------------------------------------------------------------------------
# The pages load their one script and one style sheet from /static (no inline script, style or handler).
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "font-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'")
# FastAPI's /docs and /redoc load Swagger UI / ReDoc from a CDN and start them with an inline script.
DOCS_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
            "font-src https://fonts.gstatic.com; "
            "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
            "connect-src 'self'; worker-src blob:; base-uri 'none'; object-src 'none'")
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
CHAT_PAGE = "/"


def parse_origins(spec: str) -> List[str]:
    return [o.strip().rstrip("/") for o in spec.split(",") if o.strip()]


def security_headers(settings: Settings) -> Callable[[Request], Dict[str, str]]:
    """The headers of a response to ``request``: nosniff everywhere; nothing framed, except the chat page by the
    widget's origins (TIER0_WIDGET_ORIGINS); HSTS when the request came over HTTPS (as uvicorn sees it behind a
    trusted proxy)."""
    allowed = parse_origins(settings.widget_origins)
    common = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
    denied = {**common, "X-Frame-Options": "DENY", "Content-Security-Policy": f"{PAGE_CSP}; frame-ancestors 'none'"}
    docs = {**common, "X-Frame-Options": "DENY", "Content-Security-Policy": f"{DOCS_CSP}; frame-ancestors 'none'"}
    # X-Frame-Options cannot name several origins; browsers that read frame-ancestors ignore it anyway
    chat = ({**common, "Content-Security-Policy": f"{PAGE_CSP}; frame-ancestors 'self' {' '.join(allowed)}"}
            if allowed else denied)
    hsts = {"Strict-Transport-Security": f"max-age={settings.hsts_seconds}"} if settings.hsts_seconds else {}

    def headers(request: Request) -> Dict[str, str]:
        path = request.url.path
        chosen = chat if path == CHAT_PAGE else docs if path in DOCS_PATHS else denied
        return {**chosen, **hsts} if request.url.scheme == "https" else chosen

    return headers


class WidgetCORS:
    """CORS for the widget API only (``/api/...`` but not the desk's or the inbound channels'), for exactly the
    widget's origins: the company's site calls it from the visitor's browser. Bearer tokens, no cookies."""

    def __init__(self, app: ASGIApp, origins: str):
        self.app = app
        self.cors = CORSMiddleware(app, allow_origins=parse_origins(origins), allow_methods=["GET", "POST"],
                                   allow_headers=["authorization", "content-type", "last-event-id", "idempotency-key"],
                                   expose_headers=["Retry-After"], max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith("/api/") and not path.startswith(("/api/desk/", "/api/inbound/")):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
