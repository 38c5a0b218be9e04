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

Deliveries are rows in ``webhook_deliveries`` written by :meth:`WebhookDispatcher.on_event` (fast, never raises),
sent by :meth:`WebhookDispatcher.deliver_due` (the server calls it every second on the worker that holds the
background lease, api.background) in order per endpoint, retried on any non-2xx answer, timeout or connection error
after 30 s, 60 s, 120 s … (capped at 1 hour), and marked ``failed`` after ``max_attempts``. Pending rows survive a
restart. Rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two dispatchers never send one twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from sqlalchemy import Column, DateTime, Integer, String, Text, select

from tier0.db import Base, Database
from tier0.errors import InvalidInput, NotFound
from tier0.privacy import mask_data
from tier0.vocab import DeliveryStatus

log = logging.getLogger("tier0.webhooks")
MAX_DELAY_S = 3600.0
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


def _urllib_send(url: str, body: bytes, headers: Dict[str, str], timeout: float) -> Tuple[int, str]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - the operator's configured URL
            return r.status, ""
    except urllib.error.HTTPError as e:
        return e.code, f"HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        return 0, f"{type(e).__name__}: {reason}"[:500]


class WebhookDispatcher:
    def __init__(
        self,
        db: Database,
        endpoints: List[WebhookEndpoint],
        clock,
        *,
        max_attempts: int = 8,
        base_delay_s: float = 30.0,
        timeout_s: float = 5.0,
        poll_s: float = 5.0,
        sender: Optional[Sender] = None,
    ):
        self.db = db
        self.endpoints = list(endpoints)
        self.clock = clock
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.sender = sender or _urllib_send
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._sending = threading.Lock()
        self._secrets = {e.url: e.secret for e in self.endpoints}

    # -- the listener ------------------------------------------------------------------------------------------
    def on_event(self, event: Dict[str, Any], ticket: Dict[str, Any]) -> None:
        """HandoffService listener: queue one delivery per interested endpoint. Fast; never raises."""
        try:
            event_type = "ticket." + event["kind"]
            targets = [e for e in self.endpoints if e.wants(event_type)]
            if not targets:
                return
            now = self.clock.now()
            with self.db.session() as s:
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
            self._wake.set()
        except Exception:  # noqa: BLE001 - losing a webhook must never break the desk
            log.exception("webhook.enqueue_failed kind=%s", event.get("kind"))

    # -- sending -------------------------------------------------------------------------------------------------
    def _claim_due(self, now: dt.datetime, limit: int = 50) -> List[int]:
        with self.db.session() as s:
            q = (
                select(WebhookDelivery.id)
                .where(WebhookDelivery.status == DeliveryStatus.PENDING.value, WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.id)
                .limit(limit)
            )
            if self.db.engine.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            return list(s.execute(q).scalars())

    def deliver_due(self, now: Optional[dt.datetime] = None) -> int:
        """Send every pending delivery that is due; returns how many were attempted."""
        with self._sending:
            now = now or self.clock.now()
            attempted = 0
            blocked: set = set()  # an endpoint that failed waits: its later events keep their order
            for did in self._claim_due(now):
                with self.db.session() as s:
                    q = select(WebhookDelivery).where(WebhookDelivery.id == did)
                    if self.db.engine.dialect.name == "postgresql":
                        q = q.with_for_update(skip_locked=True)
                    d = s.execute(q).scalars().first()
                    if d is None or d.status != DeliveryStatus.PENDING.value or d.endpoint_url in blocked:
                        continue
                    earlier = s.execute(
                        select(WebhookDelivery.id).where(
                            WebhookDelivery.endpoint_url == d.endpoint_url,
                            WebhookDelivery.status == DeliveryStatus.PENDING.value,
                            WebhookDelivery.id < d.id,
                        ).limit(1)
                    ).first()
                    if earlier is not None:  # in order per endpoint: wait behind an earlier one being retried
                        blocked.add(d.endpoint_url)
                        continue
                    secret = self._secrets.get(d.endpoint_url)
                    if secret is None:  # endpoint removed from the configuration since
                        d.status, d.last_error = DeliveryStatus.FAILED.value, "endpoint no longer configured"
                        continue
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
                    attempted += 1
                    d.attempts += 1
                    d.last_status_code = code or None
                    if 200 <= code < 300:
                        d.status, d.delivered_at, d.last_error = DeliveryStatus.DELIVERED.value, now, None
                        log.info("webhook.delivered id=%s event=%s url=%s", d.delivery_id, d.event_type, d.endpoint_url)
                        continue
                    d.last_error = error or f"HTTP {code}"
                    blocked.add(d.endpoint_url)
                    if d.attempts >= self.max_attempts:
                        d.status = DeliveryStatus.FAILED.value
                        log.warning("webhook.failed id=%s event=%s url=%s attempts=%d error=%s",
                                    d.delivery_id, d.event_type, d.endpoint_url, d.attempts, d.last_error)
                    else:
                        delay = min(MAX_DELAY_S, self.base_delay_s * 2 ** (d.attempts - 1))
                        d.next_attempt_at = now + dt.timedelta(seconds=delay)
                        log.info("webhook.retry id=%s attempt=%d in_s=%.0f error=%s",
                                 d.delivery_id, d.attempts, delay, d.last_error)
            return attempted

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
            return [
                {
                    "id": d.id,
                    "delivery_id": d.delivery_id,
                    "endpoint": d.endpoint_name or d.endpoint_url,
                    "url": d.endpoint_url,
                    "event_type": d.event_type,
                    "status": d.status,
                    "attempts": d.attempts,
                    "next_attempt_at": d.next_attempt_at.isoformat() + "Z",
                    "last_status_code": d.last_status_code,
                    "last_error": d.last_error,
                    "created_at": d.created_at.isoformat() + "Z",
                    "delivered_at": d.delivered_at.isoformat() + "Z" if d.delivered_at else None,
                }
                for d in s.execute(q).scalars()
            ]

    def redeliver(self, delivery_id: int) -> Dict[str, Any]:
        """Send a failed (or delivered) delivery again, now."""
        with self.db.session() as s:
            d = s.get(WebhookDelivery, delivery_id)
            if d is None:
                raise NotFound(f"webhook delivery {delivery_id} not found")
            d.status, d.attempts, d.next_attempt_at = DeliveryStatus.PENDING.value, 0, self.clock.now()
        self._wake.set()
        return next(x for x in self.list_deliveries(limit=1000) if x["id"] == delivery_id)
