"""The composition root: builds every service once, from the settings, and hands them out.

Custom actions run inside Rasa and cannot receive arguments, so the running services are also registered
process-wide (:func:`current`).
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Optional

from tier0.config import Settings

if TYPE_CHECKING:  # the real types, for the type checker; imported for real inside build_services
    from bot.turns import TurnService
    from handoff.agents import AgentDirectory
    from handoff.deskconfig import DeskConfig
    from handoff.service import HandoffService
    from handoff.webhooks import WebhookEndpoint
    from knowledge_base.service import KnowledgeBase
    from retrieval.search import SearchIndex
    from tier0.clock import Clock
    from tier0.conversations import ConversationStore
    from tier0.db import Database

log = logging.getLogger("tier0")

_current: Optional["Services"] = None
# The engine handling the current turn sets this, so several engines can live in one process (tests, eval).
_turn_services: contextvars.ContextVar = contextvars.ContextVar("tier0_services", default=None)


@dataclass
class Services:
    settings: Settings
    db: "Database"
    conversations: "ConversationStore"
    kb: "KnowledgeBase"
    index: "SearchIndex"
    handoff: "HandoffService"
    turns: "TurnService"
    agents: "AgentDirectory"
    clock: "Clock"
    desk_config: "DeskConfig"
    webhook_endpoints: "List[WebhookEndpoint]"
    # re-sync the index and refit the calibration if the KB or the feedback changed (cheap when neither did)
    refresh_calibration: Callable[[], Any]
    # instant publish (#22 BC): the index follows KB changes article by article, a full refit follows later
    follow: Optional["KbFollower"] = None
    # refit the calibration now, with the feedback gathered: (the calibration before, the one after); Conflict while
    # another refit runs (the editor's refit button, #22 BC)
    recalibrate: Optional[Callable[[], Any]] = None

    def kb_revision(self) -> tuple:
        """Changes whenever the KB does, whoever changed it (see :meth:`KnowledgeBase.revision`)."""
        return self.kb.revision()

    def refresh_index(self) -> bool:
        """Bring this worker's search index and calibration to the KB's published articles, if they differ (a
        change made by another worker or the CLI); True when something was updated. Only the articles that differ
        are re-embedded (:meth:`KbFollower.changed`); the calibration is adapted, and refitted in the background
        later."""
        wanted = self.kb.fingerprint()
        held = self.index.hashes
        if wanted == held:
            return False
        ids = {a for a in set(wanted) | set(held) if wanted.get(a) != held.get(a)}
        if self.follow is None:
            self.refresh_calibration()
        else:
            self.follow.changed(sorted(ids))
        return True


def build_services(settings: Settings, import_sample: bool = True, embedder=None, clock=None) -> Services:
    """Open the database, the KB and its search index (synced), the hand-off desk and the turn logic."""
    import handoff.agents  # noqa: F401  (tables)
    import handoff.models  # noqa: F401
    import handoff.webhooks  # noqa: F401
    import knowledge_base.models  # noqa: F401
    from bot.turns import TurnService
    from handoff.agents import AgentDirectory
    from handoff.deskconfig import load_config
    from handoff.service import HandoffService
    from handoff.webhooks import parse_endpoints
    from knowledge_base.service import KnowledgeBase
    from retrieval.calibration import load_or_fit
    from retrieval.decision import DecisionPolicy
    from retrieval.embedder import every_core, lazy_embedders, load_embedders
    from retrieval.search import SearchIndex
    from tier0.clock import SystemClock
    from tier0.conversations import ConversationStore
    from tier0.db import Database

    desk_config = load_config(settings.desk_config)  # fail fast on a bad desk file, before loading models
    # the article classifier's extra models: names checked now, loaded only if the calibration reads them
    extra_models = lazy_embedders(settings.classifier_extra_models, settings.query_cache)
    webhook_endpoints = parse_endpoints(desk_config.webhooks, os.environ)
    clock = clock or SystemClock()
    db = Database(settings.db_url)
    db.migrate()
    conversations = ConversationStore(db, token_hours=settings.customer_token_hours, clock=clock)
    kb = KnowledgeBase(db)
    if import_sample and kb.count() == 0 and settings.sample_kb.is_dir():
        report = kb.import_folder(settings.sample_kb)
        log.warning("kb.sample_imported %s", report.summary())
    if embedder is None:
        embedder = load_embedders(settings.embedding_model, threads=settings.torch_threads)
        for e in embedder:
            e.query_cache = settings.query_cache  # shared with the intent featurizer (same instances)
    index = SearchIndex(embedder, settings.index_dir)

    calibration_path = settings.calibration_file

    refit_lock = threading.Lock()  # a KB change and the background feedback check must not fit at once

    def sync_index(_changed: Optional[List[str]] = None) -> None:
        from bot.feedback import read

        with refit_lock, _machine_lock(settings.index_dir):
            index.sync(kb.published(), kb.fingerprint())
            # customers' and agents' verdicts on real answers refine the KB-derived calibration, and their questions
            # tell how many the KB does not cover (bot.feedback; one scan of the conversations for both)
            feedback, traffic = read(db, per_conversation=settings.feedback_per_conversation,
                                     questions_per_conversation=settings.feedback_questions_per_conversation)
            load_or_fit(index, calibration_path, target=settings.target_wrong_rate, feedback=feedback,
                        out_of_kb_share=settings.out_of_kb_share,
                        traffic=traffic if settings.learn_out_of_kb_share else (),
                        learn_share=settings.learn_out_of_kb_share, extra_models=extra_models,
                        relax=settings.feedback_relax, keep=settings.feedback_keep,
                        min_refit_interval=settings.feedback_refit_min_interval)
            cal = index.calibrator
            reads: List[str] = cal.classifier.extra if cal and cal.classifier else []
            for e in extra_models:
                if e.name in reads:
                    e.model()  # load now, not during a customer's turn

    with every_core(settings.torch_threads):  # the first start embeds the whole KB; nothing is served yet
        sync_index()
    follow = KbFollower(kb, index, sync_index, refit_lock, settings.refit_delay)

    def recalibrate() -> tuple:
        from bot.feedback import read
        from retrieval.calibration import fit, save
        from tier0.errors import Conflict

        if not refit_lock.acquire(blocking=False):
            raise Conflict("the calibration is being refitted already: try again in a minute")
        try:
            with _machine_lock(settings.index_dir):
                index.sync(kb.published(), kb.fingerprint())
                feedback, traffic = read(db, per_conversation=settings.feedback_per_conversation,
                                         questions_per_conversation=settings.feedback_questions_per_conversation)
                before = index.calibrator
                with every_core(settings.torch_threads):
                    cal = fit(index, target=settings.target_wrong_rate, feedback=feedback,
                              out_of_kb_share=settings.out_of_kb_share,
                              traffic=traffic if settings.learn_out_of_kb_share else (),
                              learn_share=settings.learn_out_of_kb_share, extra_models=extra_models,
                              relax=settings.feedback_relax, keep=settings.feedback_keep, previous=before)
                if cal is not None:
                    save(cal, calibration_path)
                    index.calibrator = cal
                return before, cal
        finally:
            refit_lock.release()
    kb.on_change(follow.changed)
    agents = AgentDirectory(db, desk_config.queues_of, clock, session_hours=settings.session_hours,
                            session_max_hours=settings.session_max_hours)
    agents.ensure_admin(settings.home / "initial-admin-password")
    desk = HandoffService(db, conversations, desk_config, clock, agents, reply_address=settings.reply_address)
    policy = DecisionPolicy(answer_threshold=settings.answer_threshold, clarify_margin=settings.clarify_margin)
    turns = TurnService(kb, index, conversations, desk, policy)
    return Services(settings, db, conversations, kb, index, desk, turns, agents, clock, desk_config, webhook_endpoints,
                    sync_index, follow, recalibrate)


class KbFollower:
    """Instant publish: the search index follows KB changes article by article (``SearchIndex.update``: only the
    changed articles are embedded), the calibration is adapted to them at once (``retrieval.calibration.adapt``),
    and a full refit (``refit``: re-sync and ``load_or_fit``) follows ``delay`` seconds after the last change, in a
    background thread, coalesced: a burst of publishes gives one refit. ``delay`` < 0: no refit after changes (the
    periodic check, ``tier0 calibrate`` or the editor's refit button do it). Refits are scheduled only between
    :meth:`start` and :meth:`stop` (the server's background jobs, api.background): a one-shot command such as
    ``tier0 kb import`` updates the index and leaves the refit to the workers or ``tier0 calibrate``."""

    def __init__(self, kb: "KnowledgeBase", index: "SearchIndex", refit: Callable[[], Any],
                 refit_lock: threading.Lock, delay: float):
        self.kb = kb
        self.index = index
        self.refit = refit
        self.refit_lock = refit_lock
        self.delay = delay
        self.refits = 0  # background refits run (tests and the bench read it)
        self._cond = threading.Condition()
        self._due: Optional[float] = None
        self._since_fit: set = set()  # articles changed since the running refit started (re-adapted after it)
        self._thread: Optional[threading.Thread] = None
        self._follow_lock = threading.Lock()  # one update at a time (on_change runs on request threads)
        self._enabled = False

    def start(self) -> None:
        """Refit in the background after changes (the serving process)."""
        with self._cond:
            self._enabled = True

    def stop(self) -> None:
        """No more background refits; a pending one is dropped (one already running finishes)."""
        with self._cond:
            self._enabled = False
            self._due = None
            self._cond.notify_all()

    def changed(self, ids: List[str]) -> None:
        """``KnowledgeBase.on_change`` listener (and the KB watcher's, for changes made elsewhere)."""
        from retrieval.calibration.adapt import adapted, phrasing_means
        from tier0.errors import NotFound
        from tier0.vocab import ArticleStatus

        if not ids:
            return
        with self._follow_lock:
            # what the bot may answer from is the KB's fingerprint (live published content): an article in it is
            # (re)indexed with that content, one not in it is removed
            wanted = self.kb.fingerprint()
            live: List[Any] = []
            gone_ids: List[str] = []
            unsure: List[str] = []
            for a in dict.fromkeys(ids):
                if a not in wanted:
                    gone_ids.append(a)
                    continue
                try:
                    data = self.kb.get(a)
                except NotFound:
                    gone_ids.append(a)
                    continue
                if data.status == ArticleStatus.PUBLISHED and data.content_hash() == wanted[a]:
                    live.append(data)
                else:  # get() gave other content than the live one (a draft beside it): read the live one
                    unsure.append(a)
            if unsure:
                live += [d for d in self.kb.published() if d.id in set(unsure)]
            cal = self.index.calibrator
            extra = cal.classifier.extra if cal is not None and cal.classifier is not None else None
            previous = phrasing_means(self.index, ids, extra) if extra is not None else None
            done = self.index.update(live, gone_ids)
            if done["updated"] or done["removed"]:
                self.index.calibrator = adapted(self.index.calibrator, self.index, list(ids), previous)
                with self._cond:
                    self._since_fit.update(ids)
                self.schedule()

    def schedule(self, delay: Optional[float] = None) -> None:
        delay = self.delay if delay is None else delay
        if delay < 0:
            return
        with self._cond:
            if not self._enabled:
                return
            due = time.monotonic() + delay
            self._due = due if self._due is None else max(self._due, due)  # coalesced: wait for the last change
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tier0-refit", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    @property
    def pending(self) -> bool:
        with self._cond:
            return self._due is not None

    def _run(self) -> None:
        from retrieval.calibration.adapt import adapted

        while True:
            with self._cond:
                while self._due is not None and time.monotonic() < self._due:
                    self._cond.wait(timeout=max(0.01, self._due - time.monotonic()))
                if self._due is None:
                    self._thread = None
                    return
                self._due = None
                self._since_fit.clear()
            try:
                self.refit()
                self.refits += 1
            except Exception:  # noqa: BLE001 - the adapted calibration stays; the error is logged
                log.exception("calibration.background_refit_failed")
            with self._cond:
                late, self._since_fit = set(self._since_fit), set()
            if late:  # published while the refit ran: the fitted calibration has not seen them
                with self._follow_lock:
                    self.index.calibrator = adapted(self.index.calibrator, self.index, sorted(late))


@contextlib.contextmanager
def _machine_lock(index_dir: Path) -> Iterator[None]:
    """One re-sync at a time among the workers that share ``index_dir`` (one machine): the first fits the
    calibration and saves it; the others then find it saved and load it instead of fitting it again."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".sync.lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def register(services: Optional[Services]) -> None:
    global _current
    _current = services


def use(services: Services):
    """Make ``services`` the ones custom actions see for the rest of this task (one conversation turn)."""
    return _turn_services.set(services)


def current() -> Services:
    turn = _turn_services.get()
    if turn is not None:
        return turn
    if _current is None:
        from tier0.errors import NotReady

        raise NotReady("tier0 services are not started")
    return _current
