"""Live updates for open pages (the customer's chat and the agent console) over server-sent events.

Services run in worker threads; :class:`LiveHub` wakes the asyncio streams from there. With several workers
(``TIER0_REDIS_URL`` set) a :class:`RedisBus` carries each wake-up and ticket event to the other workers over Redis
pub/sub, so an agent's reply stored by worker A reaches the chat page streamed by worker B at once. Chat streams also
re-read the database every second, so a lost pub/sub message (Redis restarting) delays a message, never loses it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from typing import Any, Dict, Optional, Set, Tuple

log = logging.getLogger("tier0.live")
CHANNEL = "tier0:live"


class LiveHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: Dict[str, Set[Tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._desk: Set[Tuple[asyncio.AbstractEventLoop, asyncio.Queue, Any]] = set()
        self.bus: Optional["RedisBus"] = None  # set when several workers share Redis

    # -- conversations ----------------------------------------------------------------------------------------
    def notify(self, topic: str) -> None:
        """Wake this worker's streams of ``topic`` (a conversation id), and the other workers' through the bus."""
        self._wake(topic)
        if self.bus is not None:
            self.bus.publish({"kind": "conversation", "topic": topic})

    def _wake(self, topic: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(topic, ()))
        for loop, ev in waiters:
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:  # loop closed: the page went away
                pass

    async def wait(self, topic: str, timeout: float) -> None:
        ev = asyncio.Event()
        key = (asyncio.get_running_loop(), ev)
        with self._lock:
            self._waiters.setdefault(topic, set()).add(key)
        try:
            await asyncio.wait_for(ev.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._lock:
                waiters = self._waiters.get(topic)
                if waiters is not None:
                    waiters.discard(key)
                    if not waiters:
                        self._waiters.pop(topic, None)

    # -- the desk -----------------------------------------------------------------------------------------------
    def desk_subscribe(self, agent) -> Tuple[asyncio.AbstractEventLoop, asyncio.Queue, Any]:
        sub: Tuple[asyncio.AbstractEventLoop, asyncio.Queue, Any] = (
            asyncio.get_running_loop(), asyncio.Queue(maxsize=1000), agent)
        with self._lock:
            self._desk.add(sub)
        return sub

    def desk_unsubscribe(self, sub) -> None:
        with self._lock:
            self._desk.discard(sub)

    def desk_event(self, event: Dict[str, Any], ticket: Dict[str, Any]) -> None:
        """HandoffService listener: fan a ticket event out to the consoles allowed to see its queue, in this worker
        and, through the bus, in the others."""
        payload = {"event": event, "ticket": {k: v for k, v in ticket.items() if k != "transcript"}}
        self._fan_out(payload)
        if self.bus is not None:
            self.bus.publish({"kind": "desk", "payload": payload})

    def _fan_out(self, payload: Dict[str, Any]) -> None:
        event, ticket = payload["event"], payload["ticket"]
        with self._lock:
            subs = list(self._desk)
        for loop, queue, agent in subs:
            if agent.can_see_queue(ticket["queue"]) or agent.can_see_queue(event.get("data", {}).get("from_queue", "")):
                try:
                    loop.call_soon_threadsafe(_put, queue, payload)
                except RuntimeError:
                    pass


    def deliver(self, message: Dict[str, Any]) -> None:
        """A message another worker published (see :class:`RedisBus`)."""
        if message.get("kind") == "conversation":
            self._wake(str(message["topic"]))
        elif message.get("kind") == "desk":
            self._fan_out(message["payload"])


class RedisBus:
    """Redis pub/sub between the workers' hubs: one channel, JSON messages tagged with their sender, so a worker
    skips its own (it delivered them locally already). A daemon thread listens and reconnects with back-off."""

    def __init__(self, url: str, hub: LiveHub, channel: str = CHANNEL):
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5, health_check_interval=30)
        self.hub = hub
        self.channel = channel
        self.origin = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.received = 0

    def start(self) -> "RedisBus":
        self._redis.ping()  # fail at start-up, not at the first message, when Redis is unreachable
        ready = threading.Event()
        self._thread = threading.Thread(target=self._listen, args=(ready,), name="tier0-live-bus", daemon=True)
        self._thread.start()
        ready.wait(5)
        self.hub.bus = self
        return self

    def stop(self) -> None:
        self.hub.bus = None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)
        self._redis.close()

    def publish(self, message: Dict[str, Any]) -> None:
        try:
            self._redis.publish(self.channel, json.dumps({**message, "origin": self.origin}, default=str))
        except Exception:  # noqa: BLE001 - the other workers' streams re-read the database; log and go on
            log.warning("live.publish_failed channel=%s", self.channel, exc_info=True)

    def _listen(self, ready: threading.Event) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                ready.set()
                backoff = 0.5
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=1.0)
                    if msg is None or msg.get("type") != "message":
                        continue
                    data = json.loads(msg["data"])
                    if data.get("origin") != self.origin:
                        self.received += 1
                        self.hub.deliver(data)
            except Exception:  # noqa: BLE001 - Redis restarting: wait and subscribe again
                log.warning("live.bus_disconnected retry_in=%.1fs", backoff, exc_info=True)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                try:
                    pubsub.close()
                except Exception:  # noqa: BLE001
                    pass


def _put(queue: asyncio.Queue, item: Any) -> None:
    if not queue.full():
        queue.put_nowait(item)


def sse(event: str, data: Any, event_id: Any = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
