"""Live updates for open pages (the customer's chat and the agent console) over server-sent events.

Services run in worker threads; :class:`LiveHub` wakes the asyncio streams from there. With several workers
(``TIER0_REDIS_URL`` set) a :class:`RedisBus` carries each wake-up and ticket event to the other workers over Redis
pub/sub, so an agent's reply stored by worker A reaches the chat page streamed by worker B at once. Chat streams also
re-read the database every second, so a lost pub/sub message (Redis restarting) delays a message, never loses it.

An agent who signs out, is disabled or changes their password loses their open desk streams at once
(:meth:`LiveHub.revoke`, also carried by the bus to the other workers); each stream also re-checks its session in the
database (a revocation lost on the bus, a session that simply expired).
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
        self._desk: Set[DeskSubscription] = set()
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

    def subscribe(self, topic: str) -> "Subscription":
        """A stream's wake-up for ``topic``, registered until :meth:`unsubscribe`: a notification that arrives while
        the stream is busy (reading the database, sending) is kept for its next :meth:`Subscription.wait`."""
        sub = Subscription(asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.setdefault(topic, set()).add((sub.loop, sub.event))
        return sub

    def unsubscribe(self, topic: str, sub: "Subscription") -> None:
        with self._lock:
            waiters = self._waiters.get(topic)
            if waiters is not None:
                waiters.discard((sub.loop, sub.event))
                if not waiters:
                    self._waiters.pop(topic, None)

    # -- the desk -----------------------------------------------------------------------------------------------
    def desk_subscribe(self, agent, session: Optional[str] = None) -> "DeskSubscription":
        """A desk stream of ``agent``'s, opened with the session ``session`` (its key, handoff.agents.session_key):
        its queue receives ticket events, and None when the session is revoked."""
        sub = DeskSubscription(asyncio.get_running_loop(), asyncio.Queue(maxsize=1000), agent, session)
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
        self._wake_customer(payload)
        if self.bus is not None:
            self.bus.publish({"kind": "desk", "payload": payload})

    def _wake_customer(self, payload: Dict[str, Any]) -> None:
        """A ticket changed (claimed, moved, resolved…): its conversation's open widget re-reads who is on it and its
        place in the queue (the stream's ``status`` event)."""
        conversation = payload["ticket"].get("conversation_id")
        if conversation:
            self._wake(str(conversation))

    def _fan_out(self, payload: Dict[str, Any]) -> None:
        event, ticket = payload["event"], payload["ticket"]
        with self._lock:
            subs = list(self._desk)
        for sub in subs:
            agent = sub.agent
            if agent.can_see_queue(ticket["queue"]) or agent.can_see_queue(event.get("data", {}).get("from_queue", "")):
                try:
                    sub.loop.call_soon_threadsafe(_put, sub.queue, payload)
                except RuntimeError:
                    pass

    def revoke(self, username: str, session: Optional[str] = None) -> None:
        """AgentDirectory listener: end ``username``'s desk streams opened with ``session`` (all of theirs when
        None), in this worker and, through the bus, in the others."""
        self._end_streams(username, session)
        if self.bus is not None:
            self.bus.publish({"kind": "revoke", "username": username, "session": session})

    def _end_streams(self, username: str, session: Optional[str]) -> None:
        with self._lock:
            subs = [s for s in self._desk
                    if s.agent.username == username and (session is None or s.session == session)]
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(_end, sub.queue)
            except RuntimeError:
                pass

    def deliver(self, message: Dict[str, Any]) -> None:
        """A message another worker published (see :class:`RedisBus`)."""
        if message.get("kind") == "conversation":
            self._wake(str(message["topic"]))
        elif message.get("kind") == "desk":
            self._fan_out(message["payload"])
            self._wake_customer(message["payload"])
        elif message.get("kind") == "revoke":
            self._end_streams(str(message["username"]), message.get("session"))


class Subscription:
    """One conversation stream's wake-up (:meth:`LiveHub.subscribe`)."""

    __slots__ = ("loop", "event")

    def __init__(self, loop: asyncio.AbstractEventLoop, event: asyncio.Event):
        self.loop, self.event = loop, event

    async def wait(self, timeout: float) -> bool:
        """True at once if notified since the last wait (or when notified within ``timeout`` seconds), else False.
        Cleared on return, before the caller reads what changed: a later notification is kept for the next wait."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self.event.clear()


class DeskSubscription:
    """One open desk stream: where its events go (``queue``, on ``loop``), whose it is, and which session opened
    it. Compared by identity."""

    __slots__ = ("loop", "queue", "agent", "session")

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue, agent: Any, session: Optional[str]):
        self.loop, self.queue, self.agent, self.session = loop, queue, agent, session


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


def _end(queue: asyncio.Queue) -> None:
    """Tell the stream reading ``queue`` to end (None), even when the queue is full."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(None)


def sse(event: str, data: Any, event_id: Any = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
