"""Rasa in-process: training (cached by the hash of its inputs), loading the Agent, running custom actions
without an action server, and collecting a turn's messages whole.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

log = logging.getLogger("tier0.rasa")

PROJECT_DIR = Path(__file__).resolve().parent
TRAINING_INPUTS = ("config.yml", "domain.yml", "data", "nlu_components.py")
_structlog_done = False


def quiet_rasa() -> None:
    """Telemetry off, Rasa / TensorFlow logging at WARNING."""
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("LOG_LEVEL_LIBRARIES", "WARNING")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    for name in ("rasa", "rasa_sdk", "tensorflow", "absl", "sanic", "apscheduler", "py.warnings"):
        logging.getLogger(name).setLevel(logging.WARNING)
    global _structlog_done
    if not _structlog_done:
        try:
            from rasa.utils.log_utils import configure_structlog

            configure_structlog(logging.WARNING)
        except ImportError:  # pragma: no cover
            pass
        _structlog_done = True


def training_files(project: Path = PROJECT_DIR) -> List[Path]:
    files: List[Path] = []
    for name in TRAINING_INPUTS:
        p = project / name
        files.extend(sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p])
    return files


def model_fingerprint(project: Path = PROJECT_DIR) -> str:
    import rasa

    h = hashlib.sha256(f"rasa {rasa.__version__}\n".encode())
    for f in training_files(project):
        h.update(str(f.relative_to(project)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def trained_model(models_dir: Path, project: Path = PROJECT_DIR, force: bool = False) -> Path:
    """Path of the model for the current inputs, training it first if no cached model matches."""
    quiet_rasa()
    models_dir = Path(models_dir)
    name = f"tier0-{model_fingerprint(project)}"
    path = models_dir / f"{name}.tar.gz"
    if path.exists() and not force:
        return path
    from rasa.model_training import train

    models_dir.mkdir(parents=True, exist_ok=True)
    log.warning("rasa.training model=%s (inputs changed or no cached model)", name)
    result = train(
        domain=str(project / "domain.yml"),
        config=str(project / "config.yml"),
        training_files=[str(project / "data")],
        output=str(models_dir),
        fixed_model_name=name,
        force_training=True,
    )
    if result.code != 0 or not result.model:
        from tier0.errors import NotReady

        raise NotReady(f"Rasa training failed (code {result.code})")
    for old in models_dir.glob("tier0-*.tar.gz"):  # keep the cache to the current model
        if old != path:
            old.unlink(missing_ok=True)
    return path


def _make_in_process_endpoint():
    from rasa.core.actions.action import RemoteAction
    from rasa.utils.endpoints import EndpointConfig
    from rasa_sdk.executor import ActionExecutor

    class InProcessActionEndpoint(EndpointConfig):
        """An action 'endpoint' that runs the rasa-sdk actions of bot.actions in this process."""

        in_process = True

        def __init__(self) -> None:
            super().__init__(url="in-process://tier0")
            self.executor = ActionExecutor()
            self.executor.register_package("bot.actions")

        async def request(self, method: str = "post", subpath: Optional[str] = None, content_type=None, **kwargs):
            return await self.executor.run(kwargs["json"])

    # The JSON-schema check of every action response exists for untrusted HTTP action servers; in-process
    # responses come from rasa_sdk's own serialiser (events already validated by the executor), and the check
    # cost most of a knowledge-base turn. Skip it for this endpoint only.
    original = RemoteAction._validate_action_result

    def _validate(self, result: Dict[str, Any]) -> bool:
        if getattr(self.action_endpoint, "in_process", False):
            return True
        return original(self, result)

    if not getattr(RemoteAction, "_tier0_patched", False):
        RemoteAction._validate_action_result = _validate
        RemoteAction._tier0_patched = True
    return InProcessActionEndpoint()


def load_agent(model_path: Path, settings: Any = None):
    """Rasa's Agent on the trained model, with the tracker and lock stores of the settings (:func:`stores`)."""
    quiet_rasa()
    from rasa.core.agent import Agent

    tracker_store, lock_store = stores(settings) if settings is not None else (None, None)
    agent = Agent.load(str(model_path), action_endpoint=_make_in_process_endpoint(), tracker_store=tracker_store,
                       lock_store=lock_store)
    quiet_rasa()
    return agent


def _pooled_sqlite(tracker: Any, url: str) -> None:
    """Rasa's SQLTrackerStore opens a new SQLite connection per unit of work with SQLite's defaults (a full fsync
    at every commit); give it a pool of connections with tier0's pragmas instead (tier0.db.sqlite_pragmas)."""
    import sqlalchemy as sa
    from sqlalchemy.pool import QueuePool

    from tier0.db import sqlite_pragmas

    old = tracker.engine
    tracker.engine = sa.create_engine(url, poolclass=QueuePool, pool_size=5, max_overflow=10,
                                      connect_args={"check_same_thread": False})
    sa.event.listen(tracker.engine, "connect", sqlite_pragmas)
    tracker.sessionmaker = sa.orm.session.sessionmaker(bind=tracker.engine)
    old.dispose()


def stores(settings: Any):
    """Rasa's own store classes, chosen so any worker can serve any turn of any conversation.

    Trackers (what Rasa remembers of a conversation: slots, the last intents): ``sql`` keeps them in tier0's
    database, in Rasa's ``events`` table (SQLTrackerStore); ``redis`` in Redis, expiring after TIER0_TRACKER_TTL_S
    (RedisTrackerStore); ``memory`` in this process. Locks (one turn of a conversation at a time): in Redis when
    TIER0_REDIS_URL is set (RedisLockStore), so two workers never run turns of one conversation at once; else in
    this process, which is all one worker needs.
    """
    from urllib.parse import unquote, urlsplit

    from rasa.core.lock_store import InMemoryLockStore, RedisLockStore
    from rasa.core.tracker_store import InMemoryTrackerStore, RedisTrackerStore, SQLTrackerStore
    from sqlalchemy.engine import make_url

    def redis_parts(url: str) -> Dict[str, Any]:
        u = urlsplit(url)
        db = (u.path or "/0").lstrip("/") or "0"
        return {"host": u.hostname or "localhost", "port": u.port or 6379, "db": int(db),
                "username": unquote(u.username) if u.username else None,
                "password": unquote(u.password) if u.password else None, "use_ssl": u.scheme == "rediss"}

    kind = settings.tracker
    if kind == "redis":
        if not settings.redis_url:
            from tier0.errors import InvalidInput

            raise InvalidInput("TIER0_TRACKER_STORE=redis needs TIER0_REDIS_URL")
        tracker = RedisTrackerStore(domain=None, record_exp=settings.tracker_ttl_s, key_prefix="tier0",
                                    **redis_parts(settings.redis_url))
    elif kind == "sql":
        url = make_url(settings.db_url)
        if url.get_backend_name() == "sqlite":
            tracker = SQLTrackerStore(domain=None, dialect="sqlite", db=url.database)
            _pooled_sqlite(tracker, settings.db_url)
        else:
            tracker = SQLTrackerStore(domain=None, dialect=url.drivername, host=url.host, port=url.port,
                                      db=url.database, username=url.username, password=url.password,
                                      query=dict(url.query) or None)
    else:
        tracker = InMemoryTrackerStore(domain=None)
    if settings.redis_url:
        lock = RedisLockStore(key_prefix="tier0", **redis_parts(settings.redis_url))
    else:
        lock = InMemoryLockStore()
    return tracker, lock


def collecting_channel():
    from rasa.core.channels.channel import CollectingOutputChannel

    class TurnCollector(CollectingOutputChannel):
        """Keeps each bot message whole (text, buttons and our custom payload together)."""

        @classmethod
        def name(cls) -> str:
            return "tier0"

        async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
            self.messages.append(dict(message, recipient_id=recipient_id))

    return TurnCollector()
