"""Outbound webhooks: every ticket event posted to the operator's endpoints, signed, retried with back-off.

A receiver verifies a delivery like this (Python; any language with HMAC-SHA256 does the same)::

    import hashlib, hmac, time
    def verify(secret: str, headers, body: bytes) -> bool:
        ts = headers["X-Tier0-Timestamp"]
        if abs(time.time() - int(ts)) > 300:            # refuse replays of old deliveries
            return False
        expected = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, headers["X-Tier0-Signature"])

Headers: ``X-Tier0-Event`` (``ticket.created`` …), ``X-Tier0-Delivery`` (unique id; the same on retries, so a
receiver can drop duplicates), ``X-Tier0-Timestamp`` (unix seconds of this attempt) and ``X-Tier0-Signature``.
Body: ``{"type", "id", "created_at", "event": {...}, "ticket": {...}}``.

Deliveries are rows in ``webhook_deliveries`` (an outbox) written by :meth:`WebhookDispatcher.enqueue` in the unit of
work of the ticket change they announce (handoff.context.DeskContext.publish): committed with it or not at all. They
are sent by :meth:`WebhookDispatcher.deliver_due` (the server calls it every second on the worker that holds the
background lease, api.background) in order per endpoint and fairly across endpoints (round robin: one endpoint's
backlog never delays the others), retried on any non-2xx answer (a redirect too: its ``Location`` is never fetched),
timeout or connection error after 30 s, 60 s, 120 s … (capped at 1 hour), and marked ``failed`` after
``max_attempts``. One attempt has a total time limit (connect, send, the answer's status and headers). Pending rows
survive a restart. Rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two dispatchers never send one
twice. :meth:`WebhookDispatcher.purge` deletes delivered rows after ``keep_delivered_days`` and failed ones after
``keep_failed_days`` (the background jobs run it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from sqlalchemy import Column, DateTime, Index, Integer, String, Text, delete, func, select

from tier0.db import Base, Database, after_commit
from tier0.errors import Conflict, InvalidInput, NotFound
from tier0.privacy import mask_data
from tier0.vocab import DeliveryStatus

log = logging.getLogger("tier0.webhooks")
MAX_DELAY_S = 3600.0
PER_ENDPOINT = 20  # an endpoint's oldest pending rows looked at per run (in order; they are sent one round each)
MAX_ROW_ID = 2**63 - 1  # beyond what the id column holds: no such delivery
Sender = Callable[[str, bytes, Dict[str, str], float], Tuple[int, str]]


@dataclass(frozen=True)
class WebhookEndpoint:
    url: str
    secret: str
    events: Tuple[str, ...] = ("*",)  # "ticket.created" …, or "*" for every event
    name: str = ""
    redact: bool = True  # personal data in the payload masked (tier0.privacy.mask_data); false: verbatim

    def wants(self, event_type: str) -> bool:
        return "*" in self.events or event_type in self.events


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id = Column(Integer, primary_key=True, autoincrement=True)
    delivery_id = Column(String(40), nullable=False, unique=True)
    endpoint_url = Column(String(2000), nullable=False)
    endpoint_name = Column(String(200), nullable=True)
    event_type = Column(String(64), nullable=False)
    event_id = Column(Integer, nullable=True)
    payload = Column(Text, nullable=False)  # the exact bytes that are signed and sent
    status = Column(String(12), nullable=False, default=DeliveryStatus.PENDING.value, index=True)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=False, index=True)
    last_status_code = Column(Integer, nullable=True)
    last_error = Column(Text, nullable=True)
    created_at = Column(DateTime, nullable=False)
    delivered_at = Column(DateTime, nullable=True)
    last_attempt_at = Column(DateTime, nullable=True)  # when it was last sent (a failed row is purged from then on)

    # an endpoint's pending rows in order, the way the dispatcher reads them (handoff.webhooks.deliver_due)
    __table_args__ = (Index("ix_webhook_deliveries_endpoint_status", "endpoint_url", "status", "id"),)


def parse_endpoints(raw: Optional[Sequence[Any]], env: Mapping[str, str]) -> List[WebhookEndpoint]:
    """Endpoints from the desk file's ``webhooks:`` list: ``{url, secret | secret_env, events?, name?}``."""
    out = []
    for i, item in enumerate(raw or []):
        where = f"webhooks[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidInput(f"{where}: expected a mapping with url and secret (or secret_env)")
        unknown = sorted(set(item) - {"url", "secret", "secret_env", "events", "name", "redact"})
        if unknown:
            raise InvalidInput(f"{where}: unknown key(s) {', '.join(unknown)}; "
                               "expected url, secret, secret_env, events, name, redact")
        if not isinstance(item.get("redact", True), bool):
            raise InvalidInput(f"{where}.redact: expected true (mask personal data, the default) or false")
        url = str(item.get("url") or "")
        if not (url.startswith("http://") or url.startswith("https://")) or len(url) > 2000:
            raise InvalidInput(f"{where}.url: {url!r} is not an http(s) URL")
        if item.get("secret") and item.get("secret_env"):
            raise InvalidInput(f"{where}: give secret or secret_env, not both")
        if item.get("secret_env"):
            secret = env.get(str(item["secret_env"]))
            if not secret:
                raise InvalidInput(f"{where}.secret_env: environment variable {item['secret_env']} is not set")
        else:
            secret = item.get("secret")
        if not secret or len(str(secret)) < 16:
            raise InvalidInput(f"{where}: a secret of at least 16 characters is required (secret or secret_env)")
        events = item.get("events", ["*"])
        if isinstance(events, str):
            events = [events]
        for e in events:
            if e != "*" and not str(e).startswith("ticket."):
                raise InvalidInput(f"{where}.events: {e!r} is not '*' or a ticket event like ticket.created")
        out.append(WebhookEndpoint(url, str(secret), tuple(str(e) for e in events), str(item.get("name") or ""),
                                   redact=item.get("redact", True)))
    return out


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    header: Optional[str],
    now: Optional[float] = None,
    tolerance_s: float = 300.0,
) -> bool:
    """What a receiver does: the signature matches and, given ``now`` (unix seconds), the timestamp is recent."""
    if not header or not timestamp:
        return False
    if now is not None:
        try:
            if abs(now - int(timestamp)) > tolerance_s:
                return False
        except ValueError:
            return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def http_send(url: str, body: bytes, headers: Dict[str, str], timeout: float) -> Tuple[int, str]:
    """POST ``body`` to ``url``: ``(status code, error)``, ``(0, error)`` when no answer came.

    ``timeout`` is the whole attempt's limit (connecting, sending, the answer's status line and headers), not one of
    each blocking read: a receiver that answers a byte at a time is cut off when it runs out (a watchdog shuts the
    socket). A redirect is an answer like any other (3xx, a failed delivery): its ``Location`` is never fetched, so a
    receiver cannot point the dispatcher at another address. The answer's body is never read."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return 0, f"not an http(s) URL: {url[:200]}"
    deadline = time.monotonic() + timeout
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    timed_out = threading.Event()

    def cut() -> None:
        timed_out.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    watchdog = threading.Timer(timeout, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(max(0.01, deadline - time.monotonic()))
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        code = response.status
        if timed_out.is_set():
            raise TimeoutError
        if 300 <= code < 400:
            return code, f"HTTP {code}: redirects are not followed"
        return code, "" if 200 <= code < 300 else f"HTTP {code}"
    except (OSError, http.client.HTTPException, ValueError) as e:
        if timed_out.is_set() or isinstance(e, (socket.timeout, TimeoutError)):
            return 0, f"no answer within {timeout:g} s"
        return 0, f"{type(e).__name__}: {e}"[:500]
    finally:
        watchdog.cancel()
        conn.close()


class WebhookDispatcher:
    def __init__(
        self,
        db: Database,
        endpoints: List[WebhookEndpoint],
        clock,
        *,
        max_attempts: int = 8,
        base_delay_s: float = 30.0,
        timeout_s: float = 10.0,
        poll_s: float = 5.0,
        sender: Optional[Sender] = None,
        keep_delivered_days: float = 7.0,
        keep_failed_days: float = 30.0,
        max_per_run: int = 50,
    ):
        if not timeout_s > 0:
            raise ValueError(f"the webhook time limit (TIER0_WEBHOOK_TIMEOUT_S) must be more than 0 s, not {timeout_s}")
        self.db = db
        self.endpoints = list(endpoints)
        self.clock = clock
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.sender = sender or http_send
        self.keep_delivered_days = keep_delivered_days
        self.keep_failed_days = keep_failed_days
        self.max_per_run = max_per_run
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._sending = threading.Lock()
        self._secrets = {e.url: e.secret for e in self.endpoints}

    # -- the outbox ----------------------------------------------------------------------------------------------
    def enqueue(self, s: Any, event: Dict[str, Any], ticket: Dict[str, Any]) -> None:
        """HandoffService outbox writer (``subscribe_outbox``): one delivery row per interested endpoint, written in
        ``s``, the unit of work of the change the event announces; the sender wakes once it is committed."""
        event_type = "ticket." + event["kind"]
        targets = [e for e in self.endpoints if e.wants(event_type)]
        if not targets:
            return
        now = self.clock.now()
        for ep in targets:
            delivery_id = uuid.uuid4().hex
            body = {
                "type": event_type,
                "id": delivery_id,
                "created_at": now.isoformat() + "Z",
                "event": event,
                "ticket": ticket,
            }
            s.add(
                WebhookDelivery(
                    delivery_id=delivery_id,
                    endpoint_url=ep.url,
                    endpoint_name=ep.name,
                    event_type=event_type,
                    event_id=event.get("id"),
                    payload=json.dumps(mask_data(body) if ep.redact else body, ensure_ascii=False,
                                       separators=(",", ":"), default=str),
                    status=DeliveryStatus.PENDING.value,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        s.flush()
        after_commit(s, self._wake.set)

    def on_event(self, event: Dict[str, Any], ticket: Dict[str, Any]) -> None:
        """A listener for what is not written in a unit of work of its own: queue the deliveries in a transaction
        of their own (after the change: a crash in between loses them; the desk uses :meth:`enqueue`). Never
        raises."""
        try:
            with self.db.session() as s:
                self.enqueue(s, event, ticket)
        except Exception:  # noqa: BLE001 - losing a webhook must never break the desk
            log.exception("webhook.enqueue_failed kind=%s", event.get("kind"))

    # -- sending -------------------------------------------------------------------------------------------------
    def _due_by_endpoint(self, now: dt.datetime) -> Dict[str, List[int]]:
        """Per endpoint, oldest first: its pending rows in order up to the first that is not due yet (an endpoint
        waits behind a row being retried: its events keep their order). Endpoints in the order of their oldest
        due row."""
        with self.db.session() as s:
            heads = s.execute(
                select(WebhookDelivery.endpoint_url, func.min(WebhookDelivery.id))
                .where(WebhookDelivery.status == DeliveryStatus.PENDING.value, WebhookDelivery.next_attempt_at <= now)
                .group_by(WebhookDelivery.endpoint_url)
                .order_by(func.min(WebhookDelivery.id))
            ).all()
            out: Dict[str, List[int]] = {}
            for url, _first in heads:
                rows = s.execute(
                    select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
                    .where(WebhookDelivery.endpoint_url == url, WebhookDelivery.status == DeliveryStatus.PENDING.value)
                    .order_by(WebhookDelivery.id)
                    .limit(PER_ENDPOINT)
                ).all()
                ids = []
                for rid, at in rows:
                    if at > now:
                        break
                    ids.append(rid)
                if ids:
                    out[url] = ids
            return out

    def deliver_due(self, now: Optional[dt.datetime] = None) -> int:
        """Send pending deliveries that are due, one per endpoint per round (round robin): an endpoint that fails
        stops for this run (its later events wait, in order) and never holds the others back; at most
        ``max_per_run`` attempts. Returns how many were attempted."""
        with self._sending:
            now = now or self.clock.now()
            queues = self._due_by_endpoint(now)
            attempted = 0
            while queues and attempted < self.max_per_run:
                for url in list(queues):
                    if attempted >= self.max_per_run:
                        break
                    sent, go_on = self._attempt(queues[url].pop(0), now)
                    attempted += sent
                    if not go_on or not queues[url]:
                        del queues[url]
            return attempted

    def _attempt(self, did: int, now: dt.datetime) -> Tuple[int, bool]:
        """Send one delivery: ``(1 if it was sent else 0, whether its endpoint's next row may go now)``."""
        with self.db.session() as s:
            q = select(WebhookDelivery).where(WebhookDelivery.id == did)
            if self.db.engine.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            d = s.execute(q).scalars().first()
            if d is None or d.status != DeliveryStatus.PENDING.value or d.next_attempt_at > now:
                return 0, False  # another dispatcher has it, or it changed since
            earlier = s.execute(
                select(WebhookDelivery.id).where(
                    WebhookDelivery.endpoint_url == d.endpoint_url,
                    WebhookDelivery.status == DeliveryStatus.PENDING.value,
                    WebhookDelivery.id < d.id,
                ).limit(1)
            ).first()
            if earlier is not None:  # in order per endpoint: wait behind an earlier one being retried
                return 0, False
            secret = self._secrets.get(d.endpoint_url)
            if secret is None:  # endpoint removed from the configuration since
                d.status, d.last_error = DeliveryStatus.FAILED.value, "endpoint no longer configured"
                d.last_attempt_at = now
                return 0, True
            body = d.payload.encode()
            ts = str(int(now.replace(tzinfo=dt.timezone.utc).timestamp()))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "tier0-webhooks/1",
                "X-Tier0-Event": d.event_type,
                "X-Tier0-Delivery": d.delivery_id,
                "X-Tier0-Timestamp": ts,
                "X-Tier0-Signature": sign(secret, ts, body),
            }
            code, error = self.sender(d.endpoint_url, body, headers, self.timeout_s)
            d.attempts += 1
            d.last_status_code = code or None
            d.last_attempt_at = now
            if 200 <= code < 300:
                d.status, d.delivered_at, d.last_error = DeliveryStatus.DELIVERED.value, now, None
                log.info("webhook.delivered id=%s event=%s url=%s", d.delivery_id, d.event_type, d.endpoint_url)
                return 1, True
            d.last_error = error or f"HTTP {code}"
            if d.attempts >= self.max_attempts:
                d.status = DeliveryStatus.FAILED.value
                log.warning("webhook.failed id=%s event=%s url=%s attempts=%d error=%s",
                            d.delivery_id, d.event_type, d.endpoint_url, d.attempts, d.last_error)
            else:
                delay = min(MAX_DELAY_S, self.base_delay_s * 2 ** (d.attempts - 1))
                d.next_attempt_at = now + dt.timedelta(seconds=delay)
                log.info("webhook.retry id=%s attempt=%d in_s=%.0f error=%s",
                         d.delivery_id, d.attempts, delay, d.last_error)
            return 1, False

    def purge(self, now: Optional[dt.datetime] = None) -> int:
        """Delete delivered rows older than ``keep_delivered_days`` (since delivery) and failed ones older than
        ``keep_failed_days`` (since their last attempt); 0 days keeps them. Pending rows stay. Returns how many."""
        now = now or self.clock.now()
        deleted = 0
        with self.db.session() as s:
            if self.keep_delivered_days > 0:
                cutoff = now - dt.timedelta(days=self.keep_delivered_days)
                deleted += s.execute(delete(WebhookDelivery).where(
                    WebhookDelivery.status == DeliveryStatus.DELIVERED.value, WebhookDelivery.delivered_at < cutoff,
                ).execution_options(synchronize_session=False)).rowcount or 0
            if self.keep_failed_days > 0:
                cutoff = now - dt.timedelta(days=self.keep_failed_days)
                deleted += s.execute(delete(WebhookDelivery).where(
                    WebhookDelivery.status == DeliveryStatus.FAILED.value,
                    func.coalesce(WebhookDelivery.last_attempt_at, WebhookDelivery.created_at) < cutoff,
                ).execution_options(synchronize_session=False)).rowcount or 0
        if deleted:
            log.info("webhook.purged rows=%d", deleted)
        return deleted

    # -- the background worker ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="tier0-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # noqa: BLE001 - keep delivering; the error is logged
                log.exception("webhook.worker_error")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    # -- admin ---------------------------------------------------------------------------------------------------
    def list_deliveries(self, status: Optional[str] = None, limit: int = 100) -> List[Dict[str, Any]]:
        with self.db.session() as s:
            q = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(min(max(1, limit), 1000))
            if status:
                q = q.where(WebhookDelivery.status == status)
            return [delivery_dict(d) for d in s.execute(q).scalars()]

    def redeliver(self, delivery_id: int) -> Dict[str, Any]:
        """Send a delivery again, now (a failed or delivered one; a pending one is made due now). NotFound for one
        that does not exist (or was purged), Conflict when its endpoint is no longer configured."""
        missing = (f"webhook delivery {delivery_id} not found (delivered ones are kept {self.keep_delivered_days:g} "
                   f"days, failed ones {self.keep_failed_days:g} days)")
        if not 1 <= delivery_id <= MAX_ROW_ID:
            raise NotFound(missing)
        with self.db.session() as s:
            d = s.get(WebhookDelivery, delivery_id)
            if d is None:
                raise NotFound(missing)
            if d.endpoint_url not in self._secrets:
                raise Conflict(f"webhook delivery {delivery_id} went to {d.endpoint_name or d.endpoint_url}, which is "
                               "no longer configured: it cannot be sent again")
            d.status, d.attempts, d.next_attempt_at = DeliveryStatus.PENDING.value, 0, self.clock.now()
            out = delivery_dict(d)
            after_commit(s, self._wake.set)
        return out


def delivery_dict(d: WebhookDelivery) -> Dict[str, Any]:
    def at(t: Optional[dt.datetime]) -> Optional[str]:
        return t.isoformat() + "Z" if t else None

    return {
        "id": d.id,
        "delivery_id": d.delivery_id,
        "endpoint": d.endpoint_name or d.endpoint_url,
        "url": d.endpoint_url,
        "event_type": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": at(d.next_attempt_at),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": at(d.created_at),
        "delivered_at": at(d.delivered_at),
        "last_attempt_at": at(d.last_attempt_at),
    }
