"""The privacy service (handoff.erasure) wired to this deployment: the database, the desk that closes an erased
customer's open tickets, and Rasa's tracker store, where every turn's text is kept too (bot.rasa_runtime.stores):

    sql      the rows of Rasa's ``events`` table (in tier0's database) whose sender is the conversation, deleted in
             the erasure's own transaction
    redis    the conversation's tracker key (``tier0:tracker:<conversation id>``)
    memory   the tracker held by this process's Rasa agent, when one is given (the CLI has none: that store is lost
             at every restart anyway)
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

from sqlalchemy import bindparam, inspect, text
from sqlalchemy.orm import Session

from handoff.erasure import PrivacyService, TrackerEraser

log = logging.getLogger("tier0.privacy")
RASA_EVENTS_TABLE = "events"  # rasa.core.tracker_store.SQLTrackerStore.SQLEvent.__tablename__
# RedisTrackerStore's key: its key_prefix ("tier0", bot.rasa_runtime.stores) + ":" + Rasa's "tracker:" + sender id
REDIS_TRACKER_PREFIX = "tier0:tracker:"


def sql_trackers(s: Session, ids: Sequence[str]) -> int:
    """Delete Rasa's tracker events of these conversations from this database (none when Rasa never made its table)."""
    if not ids or not inspect(s.connection()).has_table(RASA_EVENTS_TABLE):
        return 0
    stmt = text(f"DELETE FROM {RASA_EVENTS_TABLE} WHERE sender_id IN :ids").bindparams(
        bindparam("ids", expanding=True))
    return int(s.execute(stmt, {"ids": list(ids)}).rowcount or 0)


def redis_trackers(url: str) -> TrackerEraser:
    import redis

    client = redis.Redis.from_url(url)

    def erase(_s: Session, ids: Sequence[str]) -> int:
        return int(client.delete(*[REDIS_TRACKER_PREFIX + i for i in ids])) if ids else 0

    return erase


def memory_trackers(agent: Any) -> TrackerEraser:
    def erase(_s: Session, ids: Sequence[str]) -> int:
        store = getattr(getattr(agent, "tracker_store", None), "store", None)
        if not isinstance(store, dict):
            return 0
        return sum(1 for i in ids if store.pop(i, None) is not None)

    return erase


def tracker_eraser(settings: Any, agent: Any = None) -> Optional[TrackerEraser]:
    kind = settings.tracker
    if kind == "sql":
        return sql_trackers
    if kind == "redis" and settings.redis_url:
        return redis_trackers(settings.redis_url)
    if kind == "memory" and agent is not None:
        return memory_trackers(agent)
    return None


def privacy_service(settings: Any, db: Any, clock: Any, handoff: Any = None, agent: Any = None) -> PrivacyService:
    return PrivacyService(db, clock, handoff=handoff, trackers=tracker_eraser(settings, agent))


def for_engine(engine: Any) -> PrivacyService:
    """The privacy service of a running engine (the admin route, the background jobs)."""
    services = engine.services
    return privacy_service(services.settings, services.db, services.clock, services.handoff,
                           getattr(engine, "agent", None))
