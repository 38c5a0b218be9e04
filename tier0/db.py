"""The one storage layer: SQLAlchemy engine, session factory and the declarative base.

SQLite (a file under TIER0_HOME) is the embedded default; any SQLAlchemy URL works (PostgreSQL for scale).
Domain packages declare their tables on :data:`Base` and get sessions from a :class:`Database`.

The schema is versioned with Alembic (tier0/migrations): :meth:`Database.migrate` brings a database to this tier0's
newest revision, or refuses with one line (:class:`SchemaMismatch`) when a newer tier0 has already migrated it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, List, Optional, Sequence, Tuple

from sqlalchemy import Column, MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, declarative_base, sessionmaker
from sqlalchemy.pool import QueuePool

Base = declarative_base()
log = logging.getLogger("tier0.db")

# Session.info key: what to run once the session's transaction is committed (:func:`after_commit`).
AFTER_COMMIT = "tier0.after_commit"

# pg_advisory_lock key held while a PostgreSQL database is migrated ("tier0_db" in ASCII): several workers starting
# at once migrate one after the other, and all but the first find the schema at head.
MIGRATION_LOCK_KEY = 0x74696572305F6462


class SchemaMismatch(RuntimeError):
    """The database's schema is not one this tier0 can run on or migrate to; the message is one line: what the
    database has, what this tier0 knows, what to do."""


def utcnow() -> dt.datetime:
    """Naive UTC timestamp (SQLite has no time zones; every timestamp in tier0 is UTC)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def sqlite_pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - exercised on connect
    """Every SQLite connection: WAL (readers never wait for the writer), NORMAL sync (no fsync per commit in WAL),
    foreign keys on, and wait up to 5 s for the write lock rather than fail."""
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def after_commit(s: Session, fn: Callable[[], None]) -> None:
    """Run ``fn`` once the transaction of ``s`` (a session of :meth:`Database.session`) is committed; never when it
    rolls back. For what may be lost without losing data (waking live pages); what must not be lost is written in
    the transaction itself."""
    s.info.setdefault(AFTER_COMMIT, []).append(fn)


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
            event.listen(self.engine, "connect", sqlite_pragmas)
        self._sessions = sessionmaker(bind=self.engine, future=True, expire_on_commit=False)

    def create_all(self) -> None:
        """Kept for the callers from before migrations: the same as :meth:`migrate` (every tier0 table, at head)."""
        self.migrate()

    def migrate(self) -> "MigrationResult":
        """Bring the schema to this tier0's newest revision, in one transaction, under a lock.

        - empty database (no tier0 table): create everything by upgrading to head;
        - tables made by the create_all of a tier0 from before migrations (no ``alembic_version``): create what is
          missing of the baseline (tables, indexes, nullable columns: what create_all did on start-up), check the
          result equals the baseline, stamp it ``0001`` and upgrade to head;
        - an older revision this tier0 knows: upgrade to head; already at head: nothing;
        - a revision this tier0 does not know (a newer tier0 migrated it): :class:`SchemaMismatch`, nothing written.

        The lock: on PostgreSQL an advisory lock (:data:`MIGRATION_LOCK_KEY`), on SQLite the write lock of
        ``BEGIN IMMEDIATE``; whoever comes second waits, then finds the schema at head.
        """
        from alembic import command

        from tier0 import migrations

        script = migrations.script_directory()
        head = migrations.head(script)
        with self.engine.connect() as conn, _migration_transaction(conn):
            state, current = _schema_state(conn, script)
            if state == "unknown":
                raise SchemaMismatch(_unknown_revision_message(current, migrations.known_revisions(script)))
            if state == "current":
                return MigrationResult(state, current, head)
            repairs: List[str] = []
            if state == "legacy":
                repairs = _adopt_legacy(conn, migrations.baseline_metadata(script))
                command.stamp(migrations.alembic_config(conn), migrations.BASELINE)
            command.upgrade(migrations.alembic_config(conn), "head")
            after = _schema_state(conn, script)[1]
            if after != (head,):  # pragma: no cover - alembic upgrades to head or raises
                raise RuntimeError(f"the migration ended at {', '.join(after)}, expected {head}")
            result = MigrationResult(state, current, head, tuple(repairs))
        log.warning("db.migrated %s", result.summary())
        return result

    def schema_status(self) -> "MigrationResult":
        """Where the schema stands, read only (what :meth:`migrate` would do); SchemaMismatch on an unknown revision."""
        from tier0 import migrations

        script = migrations.script_directory()
        head = migrations.head(script)
        with self.engine.connect() as conn:
            state, current = _schema_state(conn, script)
        if state == "unknown":
            raise SchemaMismatch(_unknown_revision_message(current, migrations.known_revisions(script)))
        return MigrationResult(state, current, head, planned=True)

    @contextlib.contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back when it raises; then what
        :func:`after_commit` registered runs (only after a commit).

        ``write``: a read-modify-write that must see and change the latest state (a claim, a hand-off). On SQLite it
        takes the database's write lock first (``BEGIN IMMEDIATE``; a second writer waits for the commit, then reads
        what the first wrote); on PostgreSQL the unit takes row locks as it reads (``SELECT … FOR UPDATE``).
        """
        s = self._sessions()
        committed = False
        try:
            if write and self.engine.dialect.name == "sqlite":
                s.connection().exec_driver_sql("BEGIN IMMEDIATE")
            yield s
            s.commit()
            committed = True
        except BaseException:
            s.rollback()
            raise
        finally:
            callbacks = s.info.pop(AFTER_COMMIT, [])
            s.close()
            if committed:
                for fn in callbacks:
                    try:
                        fn()
                    except Exception:  # noqa: BLE001 - the change is committed; a notification never undoes it
                        log.exception("db.after_commit_failed")

    def unit(self, session: Optional[Session] = None, write: bool = False) -> ContextManager[Session]:
        """The caller's unit of work when it passes one (its commit decides, and :func:`after_commit` work waits for
        it), else a new :meth:`session` of its own."""
        return contextlib.nullcontext(session) if session is not None else self.session(write=write)

    def dispose(self) -> None:
        self.engine.dispose()


@dataclass(frozen=True)
class MigrationResult:
    """What :meth:`Database.migrate` found and did (or, from :meth:`Database.schema_status`, would do)."""

    state: str  # empty | legacy (create_all tables, no revision) | behind | current
    before: Tuple[str, ...]  # the revision(s) the database was at; () for empty and legacy
    head: str  # this tier0's newest revision, where the database is now
    repairs: Tuple[str, ...] = ()  # what adopting a legacy database added ("column tickets.topic" …)
    planned: bool = False  # True: a status report, nothing was done yet

    @property
    def changed(self) -> bool:
        return self.state != "current"

    def summary(self) -> str:
        at = ", ".join(self.before)
        if self.planned:
            return {
                "empty": f"empty (no tier0 table); `tier0 db upgrade` creates the schema at {self.head}",
                "legacy": "tier0 tables without a revision (made before migrations); `tier0 db upgrade` adopts them"
                          f" as the baseline and upgrades to {self.head}",
                "behind": f"at {at}; `tier0 db upgrade` upgrades it to {self.head}",
            }.get(self.state, f"at {at} (head)")
        if self.state == "empty":
            return f"created the schema at {self.head} (head)"
        if self.state == "legacy":
            added = f", added {len(self.repairs)}: {', '.join(self.repairs)}" if self.repairs else ""
            return f"adopted the tables made before migrations as the baseline{added}; upgraded to {self.head} (head)"
        if self.state == "behind":
            return f"upgraded from {at} to {self.head} (head)"
        return f"at {self.head} (head), nothing to do"


def migrate_command(url: str, action: str = "upgrade") -> int:
    """``tier0 db upgrade`` (action "upgrade") and ``tier0 db current`` (action "current"): one line on stdout and
    exit code 0, or one line on stderr and 2 when this tier0 cannot run on the database (or cannot open it)."""
    if action not in ("upgrade", "current"):
        raise ValueError(f"action must be upgrade or current, not {action!r}")
    db = Database(url)
    shown = db.engine.url.render_as_string(hide_password=True)
    try:
        result = db.migrate() if action == "upgrade" else db.schema_status()
        print(f"tier0 db: {shown}: {result.summary()}")
        return 0
    except SchemaMismatch as e:
        print(f"tier0 db: {shown}: {e}", file=sys.stderr)
        return 2
    except OperationalError as e:
        reason = str(e.orig if e.orig is not None else e).strip().splitlines()[0]
        print(f"tier0 db: {shown}: cannot open the database: {reason}", file=sys.stderr)
        return 2
    finally:
        db.dispose()


@contextlib.contextmanager
def _migration_transaction(conn: Connection) -> Iterator[None]:
    """One transaction for the whole migration, taken under the lock that makes concurrent starts wait."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        # Foreign keys off while tables are rebuilt (batch mode copies a table and drops the old one; SQLite ignores
        # the pragma inside a transaction, hence before BEGIN), checked before the commit, and back on after.
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # takes the write lock now; a second process waits here
            try:
                yield
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration left {len(broken)} rows whose foreign key points nowhere "
                                       f"(first: table {broken[0][0]}, rowid {broken[0][1]}); nothing was changed")
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        finally:
            try:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()
            except Exception:  # noqa: BLE001 - a pooled connection must not keep foreign keys off
                conn.invalidate()
                raise
    elif dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        conn.commit()  # the lock belongs to the session, not to this transaction
        try:
            with conn.begin():
                yield
        finally:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                conn.commit()
            except Exception:  # noqa: BLE001 - closing the session releases the lock too
                conn.invalidate()
                log.warning("db.migrate_unlock_failed; the connection is closed instead", exc_info=True)
    else:
        with conn.begin():
            yield


def _schema_state(conn: Connection, script: Any) -> Tuple[str, Tuple[str, ...]]:
    """("empty" | "legacy" | "behind" | "current" | "unknown", the revisions in alembic_version)."""
    from alembic.runtime.migration import MigrationContext

    from tier0 import migrations

    current = tuple(MigrationContext.configure(conn).get_current_heads())
    known = set(migrations.known_revisions(script))
    if any(rev not in known for rev in current):  # exact ids: alembic would also accept a prefix
        return "unknown", current
    if current:
        return ("current" if current == (migrations.head(script),) else "behind"), current
    baseline_tables = set(migrations.baseline_metadata(script).tables)
    return ("legacy" if baseline_tables & set(inspect(conn).get_table_names()) else "empty"), current


def _unknown_revision_message(current: Sequence[str], known: Sequence[str]) -> str:
    knows = known[0] if len(known) == 1 else f"{known[0]} to {known[-1]}"
    return (f"the database schema is at revision {', '.join(current)}, which this tier0 does not know (it knows "
            f"{knows}): a newer tier0 has migrated it; run that version or a newer one, or restore the backup "
            f"taken before that upgrade")


def _adopt_legacy(conn: Connection, baseline: MetaData) -> List[str]:
    """Make a database from the old create_all equal the baseline, or raise SchemaMismatch (the caller rolls back).

    What create_all did on start-up is done here once more: missing tables are created and missing nullable columns
    added; so are missing indexes (create_all did not index a column it added, e.g. tickets.assignee).
    """
    from alembic.autogenerate import compare_metadata
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    insp = inspect(conn)
    existing = set(insp.get_table_names())
    ops = Operations(MigrationContext.configure(conn))
    added: List[str] = []
    problems: List[str] = []
    for table in baseline.sorted_tables:
        if table.name not in existing:
            table.create(conn)
            added.append(f"table {table.name}")
            continue
        columns = {c["name"] for c in insp.get_columns(table.name)}
        for col in table.columns:
            if col.name in columns:
                continue
            if col.nullable and not col.primary_key:
                ops.add_column(table.name, Column(col.name, col.type, nullable=True))
                columns.add(col.name)
                added.append(f"column {table.name}.{col.name}")
            else:
                problems.append(f"{table.name}.{col.name} is missing and cannot be added (NOT NULL)")
        indexes = {i["name"] for i in insp.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes and all(c.name in columns for c in index.columns):
                index.create(conn)
                added.append(f"index {index.name}")
    if not problems:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "include_name": lambda name, kind, _parents: kind != "table" or name in baseline.tables,
        })
        problems = [_describe_diff(d) for d in compare_metadata(context, baseline)]
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise SchemaMismatch(
            "the database has tier0 tables but no schema revision (made before migrations), and they differ from "
            f"the baseline: {'; '.join(problems[:3])}{more}; make them match the baseline "
            "(tier0/migrations/versions/0001_baseline.py) or start from an empty database, then migrate again")
    return added


def _describe_diff(diff: Any) -> str:
    """One of alembic's compare_metadata differences in a few words ("modify_type tickets.queue" …)."""
    if isinstance(diff, list):  # modify_* of one column: [(kind, schema, table, column, existing, old, new), …]
        return "; ".join(_describe_diff(d) for d in diff)
    kind = diff[0]
    if kind.startswith("modify_"):
        return f"{kind} {diff[2]}.{diff[3]}: database {diff[5]!r}, baseline {diff[6]!r}".replace("\n", " ")
    if kind in ("add_column", "remove_column"):
        return f"{kind} {diff[2]}.{diff[3].name}"
    obj = diff[-1]
    if kind in ("add_table", "remove_table"):
        return f"{kind} {obj.name}"
    table = getattr(getattr(obj, "table", None), "name", "?")
    name = getattr(obj, "name", None) or ", ".join(getattr(obj, "columns", {}).keys())
    return f"{kind} {table} ({name})".replace("\n", " ")
