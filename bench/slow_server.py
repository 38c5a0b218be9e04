"""One tier0 worker for bench/load.py --slow: a turn whose text starts with "[slow] " waits one second inside the
turn, synchronously (as a slow database query or model call would), then runs as usual on the rest of the text.

    python bench/slow_server.py PORT            turns on the engine's turn threads (tier0 today)
    python bench/slow_server.py PORT --inline   turns awaited on the event loop (tier0 before the turn threads)

Bench code only: the product has no slow path.
"""

from __future__ import annotations

import sys
import time

import uvicorn

from api.app import create_app
from bot.engine import ConversationEngine
from tier0.config import get_settings

MARK = "[slow] "
_send = ConversationEngine.send


async def send(self, conversation_id: str, text: str):
    if text.startswith(MARK):
        time.sleep(1.0)  # blocking on purpose: what a synchronous slow call does to whatever thread runs it
        text = text[len(MARK):]
    return await _send(self, conversation_id, text)


async def inline_turn(self, conversation_id: str, text: str):
    return await self.send(conversation_id, text)


if __name__ == "__main__":
    ConversationEngine.send = send  # type: ignore[method-assign]
    if "--inline" in sys.argv:
        ConversationEngine.turn = inline_turn  # type: ignore[method-assign]
    uvicorn.run(create_app(get_settings()), host="127.0.0.1", port=int(sys.argv[1]), ws="wsproto",
                log_level="warning")
