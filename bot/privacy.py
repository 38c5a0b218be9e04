"""The privacy service (handoff.erasure) wired to this deployment: the database, the desk that closes an erased
customer's open tickets, and Rasa's tracker store, where every turn's text is kept too (bot.rasa_runtime.stores):

    sql      the rows of Rasa's ``events`` table (in tier0's database) whose sender is the conversation, deleted in
             the erasure's own transaction
    redis    the conversation's tracker key (``tier0:tracker:<conversation id>``)
    memory   the tracker held by this process's Rasa agent, when one is given (the CLI has none: that store is lost
             at every restart anyway)

Trackers also expire, whoever the customer is: Redis drops a key TIER0_TRACKER_TTL_S after its last turn, and
:func:`expire_sql_trackers` does the same to the ``events`` rows (the background jobs, hourly, and ``tier0 privacy
purge``). Only Rasa's working memory goes: the transcript stays in tier0's own tables until the retention.
"""

from __future__ import annotations

import logging
import time
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


def expire_sql_trackers(db: Any, ttl_s: float, now: Optional[float] = None, batch: int = 500,
                        max_batches: Optional[int] = None) -> int:
    """Delete the ``events`` rows of every conversation whose last tracker event is more than ``ttl_s`` seconds old
    (Rasa's ``timestamp``, seconds since the epoch; ``now`` defaults to the wall clock), ``batch`` conversations a
    transaction: a conversation taken up again later starts a new Rasa session, as when Redis expires its key.
    Returns the rows deleted; 0 when ``ttl_s <= 0`` (never expire) or Rasa never made its table."""
    if ttl_s <= 0:
        return 0
    cutoff = (time.time() if now is None else now) - ttl_s
    silent = text(f"SELECT sender_id FROM {RASA_EVENTS_TABLE} GROUP BY sender_id HAVING MAX(timestamp) < :cutoff "
                  "ORDER BY sender_id LIMIT :batch")
    old = text(f"DELETE FROM {RASA_EVENTS_TABLE} WHERE sender_id IN :ids AND timestamp < :cutoff").bindparams(
        bindparam("ids", expanding=True))
    deleted = runs = 0
    while max_batches is None or runs < max_batches:
        with db.session() as s:
            if not inspect(s.connection()).has_table(RASA_EVENTS_TABLE):
                return 0
            ids = list(s.execute(silent, {"cutoff": cutoff, "batch": batch}).scalars())
            if ids:  # only rows older than the cutoff: a turn that lands meanwhile keeps its own events
                deleted += int(s.execute(old, {"ids": ids, "cutoff": cutoff}).rowcount or 0)
        runs += 1
        if len(ids) < batch:
            break
    if deleted:
        log.info("privacy.trackers_expired ttl_s=%s rows=%d", ttl_s, deleted)
    return deleted


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
