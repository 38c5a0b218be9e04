"""Live updates for open pages (the customer's chat and the agent console) over server-sent events.

Services run in worker threads; :class:`LiveHub` wakes the asyncio streams from there. Each stream also re-reads
the database at least every ``poll_s`` seconds, so a page served by one worker still sees, within that second, a
message stored by another worker (several uvicorn workers on PostgreSQL) — notifications only make it immediate.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Dict, Set, Tuple


class LiveHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: Dict[str, Set[Tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._desk: Set[Tuple[asyncio.AbstractEventLoop, asyncio.Queue, Any]] = set()

    # -- conversations ----------------------------------------------------------------------------------------
    def notify(self, topic: str) -> None:
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
        sub = (asyncio.get_running_loop(), asyncio.Queue(maxsize=1000), agent)
        with self._lock:
            self._desk.add(sub)
        return sub

    def desk_unsubscribe(self, sub) -> None:
        with self._lock:
            self._desk.discard(sub)

    def desk_event(self, event: Dict[str, Any], ticket: Dict[str, Any]) -> None:
        """HandoffService listener: fan a ticket event out to the consoles allowed to see its queue."""
        with self._lock:
            subs = list(self._desk)
        payload = {"event": event, "ticket": {k: v for k, v in ticket.items() if k != "transcript"}}
        for loop, queue, agent in subs:
            if agent.can_see_queue(ticket["queue"]) or agent.can_see_queue(event.get("data", {}).get("from_queue", "")):
                try:
                    loop.call_soon_threadsafe(_put, queue, payload)
                except RuntimeError:
                    pass


def _put(queue: asyncio.Queue, item: Any) -> None:
    if not queue.full():
        queue.put_nowait(item)


def sse(event: str, data: Any, event_id: Any = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
