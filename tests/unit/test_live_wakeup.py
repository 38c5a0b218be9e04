"""A conversation stream's wake-up (api.live.LiveHub.subscribe): a notification that arrives while the stream is busy
is kept for its next wait — the agent's reply that follows a claim at once is not left for the one-second re-read."""

import asyncio

import pytest

from api.live import LiveHub

pytestmark = pytest.mark.unit


def test_a_notification_while_busy_wakes_the_next_wait_at_once_and_only_once():
    async def run():
        hub = LiveHub()
        sub = hub.subscribe("c1")
        hub.notify("c1")  # the stream is busy (reading, sending): nobody is waiting yet
        await asyncio.sleep(0)  # the loop runs the call_soon_threadsafe that sets the event
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await sub.wait(timeout=2.0) is True
        assert loop.time() - started < 0.5
        assert await sub.wait(timeout=0.2) is False  # consumed: no second wake-up for it
        hub.notify("c2")  # another conversation
        assert await sub.wait(timeout=0.2) is False
        hub.unsubscribe("c1", sub)
        hub.notify("c1")
        assert await sub.wait(timeout=0.2) is False  # gone: nothing delivered after unsubscribe
        assert hub._waiters == {}

    asyncio.run(run())
