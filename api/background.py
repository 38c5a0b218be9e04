"""What runs beside the requests, in each worker, and what runs once across them.

Once across workers (whoever holds the database lease ``tier0.background``):
    the SLA scheduler       every TIER0_SLA_INTERVAL seconds: raise priorities, record breaches, escalate
    webhook deliveries      every second: send what is due, retry with back-off (handoff.webhooks); every hour,
                            delete old ones (TIER0_WEBHOOK_KEEP_DELIVERED_DAYS, TIER0_WEBHOOK_KEEP_FAILED_DAYS)
    retention               every hour (TIER0_RETENTION_DAYS > 0): anonymise conversations idle that long
                            (handoff.erasure)

In every worker:
    the KB watcher          every 0.5 s a cheap look at the KB's revision; on a change made by any worker or the
                            CLI, this worker's search index updates the changed articles only and adapts its
                            calibration (Services.refresh_index -> KbFollower.changed); a full refit follows
                            TIER0_REFIT_DELAY seconds after the last change
    calibration refresh     every TIER0_CALIBRATION_INTERVAL seconds: refit if new labelled answers arrived

A worker that dies stops renewing the lease; another takes the jobs over within the lease's time to live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Callable, List, Optional

from starlette.concurrency import run_in_threadpool

from tier0.leases import Lease, process_holder

log = logging.getLogger("tier0.background")
LEASE_NAME = "tier0.background"
LEASE_TTL_S = 10.0
TICK_S = 0.5
RETENTION_EVERY_S = 3600.0
PURGE_S = 3600.0  # how often old webhook deliveries are deleted


class Background:
    def __init__(self, engine: Any, settings: Any, webhooks: Any = None, scheduler: bool = True,
                 holder: Optional[str] = None):
        self.engine = engine
        self.settings = settings
        self.webhooks = webhooks
        # False in tests that drive the SLA run by hand under a frozen clock (webhook deliveries still run)
        self.scheduler = scheduler
        self.lease = Lease(engine.services.db, LEASE_NAME, holder or process_holder(), ttl_s=LEASE_TTL_S)
        self._tasks: List[asyncio.Task] = []

    def start(self) -> None:
        follow = getattr(self.engine.services, "follow", None)
        if follow is not None:
            follow.start()  # KB changes refit the calibration in the background, coalesced (#22 BC)
        self._tasks.append(asyncio.create_task(self._kb_watcher(), name="tier0-kb-watcher"))
        if self.scheduler or self.webhooks is not None:
            self._tasks.append(asyncio.create_task(self._once_across_workers(), name="tier0-leased-jobs"))
        if self.scheduler:
            if self.settings.calibration_interval > 0:
                self._tasks.append(asyncio.create_task(
                    _every(self.settings.calibration_interval, self.engine.services.refresh_calibration,
                           "calibration.refresh_failed"), name="tier0-calibration"))

    async def stop(self) -> None:
        follow = getattr(self.engine.services, "follow", None)
        if follow is not None:
            follow.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.lease.held:
            with contextlib.suppress(Exception):
                await run_in_threadpool(self.lease.release)

    async def _once_across_workers(self) -> None:
        services = self.engine.services
        sla_interval = self.settings.sla_interval
        next_renew = next_sla = next_purge = next_retention = next_trackers = 0.0
        while True:
            now = time.monotonic()
            try:
                if now >= next_renew:
                    await run_in_threadpool(self.lease.acquire)
                    next_renew = now + LEASE_TTL_S / 3
                if self.lease.held:
                    if self.scheduler and sla_interval > 0 and now >= next_sla:
                        if next_sla:  # not at the first tick: the first run waits one interval, as before
                            await run_in_threadpool(services.handoff.run_sla)
                        next_sla = now + sla_interval
                    if self.webhooks is not None:
                        await run_in_threadpool(self.webhooks.deliver_due)
                        if now >= next_purge:
                            next_purge = now + PURGE_S
                            await run_in_threadpool(self.webhooks.purge)
                    if self.scheduler and self.settings.retention_days > 0 and now >= next_retention:
                        next_retention = now + RETENTION_EVERY_S
                        await run_in_threadpool(self._retention)
                    if self.scheduler and self.settings.tracker == "sql" and now >= next_trackers:
                        next_trackers = now + RETENTION_EVERY_S
                        await run_in_threadpool(self._expire_trackers)
            except Exception:  # noqa: BLE001 - keep scheduling; the error is logged
                log.exception("background.leased_jobs_failed")
            await asyncio.sleep(1.0)

    def _retention(self) -> None:
        from bot.privacy import for_engine

        for_engine(self.engine).purge(self.settings.retention_days, max_batches=25)  # the rest at the next run

    def _expire_trackers(self) -> None:
        from bot.privacy import expire_sql_trackers

        # Redis expires its tracker keys itself; the SQL store's rows go the same way, 20 batches a run at most
        expire_sql_trackers(self.engine.services.db, self.settings.tracker_ttl_s, max_batches=20)

    async def _kb_watcher(self) -> None:
        services = self.engine.services
        seen = await run_in_threadpool(services.kb_revision)
        while True:
            await asyncio.sleep(TICK_S)
            try:
                now = await run_in_threadpool(services.kb_revision)
                if now != seen:
                    seen = now
                    await run_in_threadpool(services.refresh_index)
            except Exception:  # noqa: BLE001 - keep watching; the error is logged
                log.exception("background.kb_watch_failed")


async def _every(interval: float, job: Callable[[], Any], failure: str) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(job)
        except Exception:  # noqa: BLE001 - keep the current state; the error is logged
            log.exception(failure)
