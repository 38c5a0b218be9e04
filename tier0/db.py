"""The one storage layer: SQLAlchemy engine, session factory and the declarative base.

SQLite (a file under TIER0_HOME) is the embedded default; any SQLAlchemy URL works (PostgreSQL for scale).
Domain packages declare their tables on :data:`Base` and get sessions from a :class:`Database`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, declarative_base, sessionmaker
from sqlalchemy.pool import QueuePool

Base = declarative_base()


def utcnow() -> dt.datetime:
    """Naive UTC timestamp (SQLite has no time zones; every timestamp in tier0 is UTC)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - exercised on connect
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


class Database:
    """Owns the engine and hands out sessions (one unit of work each)."""

    def __init__(self, url: str):
        self.url = url
        kwargs: dict = {"future": True}
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                # SQLAlchemy 1.4 opens a new connection per session for SQLite files (NullPool); keep a pool so
                # a turn does not pay a connect + PRAGMAs on each of its units of work.
                kwargs["poolclass"] = QueuePool
                kwargs["pool_size"] = 5
                kwargs["max_overflow"] = 10
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(bind=self.engine, future=True, expire_on_commit=False)

    def create_all(self) -> None:
        """Create missing tables for every model module imported so far (the composition root imports them),
        and add columns that a newer tier0 declares to tables an older one created (additive upgrades only:
        new columns are nullable). Anything else is a migration and will need one."""
        Base.metadata.create_all(self.engine)
        insp = inspect(self.engine)
        with self.engine.begin() as conn:
            for table in Base.metadata.sorted_tables:
                existing = {c["name"] for c in insp.get_columns(table.name)}
                for col in table.columns:
                    if col.name in existing or col.primary_key:
                        continue
                    ddl_type = col.type.compile(dialect=self.engine.dialect)
                    conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" {ddl_type}'))

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        s = self._sessions()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def dispose(self) -> None:
        self.engine.dispose()
