"""Schema migrations on PostgreSQL: empty -> head equals the models, migrating again does nothing, a database from the
old create_all is adopted, and workers starting at once migrate once (the advisory lock). Each test gets a database
of its own, dropped after. Skipped when no PostgreSQL answers on loopback. No model is loaded."""

import importlib
import threading
import uuid

import pytest
import sqlalchemy as sa

ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def admin():
    try:
        engine = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as c:
            c.exec_driver_sql("SELECT 1")
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({type(e).__name__})")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(admin):
    name = "tier0_mig_" + uuid.uuid4().hex[:8]
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as c:
        c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def models():
    from tests.unit.test_migrations import model_modules

    for name in model_modules():
        importlib.import_module(name)
    from tier0.db import Base

    return Base.metadata


def diffs(db, metadata):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)


def revision_of(db):
    with db.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall()


def test_empty_database_to_head_and_again(pg_url, models):
    from tier0.db import Database
    from tier0.migrations import head

    db = Database(pg_url)
    first = db.migrate()
    assert (first.state, first.head) == ("empty", head())
    assert diffs(db, models) == []
    with db.engine.connect() as conn:
        tables = conn.exec_driver_sql("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        count = tables.scalar()
    again = db.migrate()
    db.create_all()
    assert again.state == "current" and revision_of(db) == [(head(),)]
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").scalar() == count
        # the advisory lock was released (held by nobody once migrate returned)
        assert conn.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").scalar() == 0
    db.dispose()


def test_database_from_the_old_create_all_is_adopted(pg_url, models):
    from tier0.db import Database
    from tier0.migrations import baseline_metadata, head

    db = Database(pg_url)
    baseline_metadata().create_all(db.engine)  # what create_all did before migrations (the baseline)
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO conversations (id, token_hash, channel, customer, status,"
                             " low_confidence_streak, created_at, updated_at) VALUES ('c1', 'h', 'web', '{}', 'bot', 0,"
                             " now(), now())"))
        conn.exec_driver_sql("DROP INDEX ix_tickets_assignee")
        conn.exec_driver_sql("ALTER TABLE tickets DROP COLUMN contact_email")
    result = db.migrate()
    assert result.state == "legacy" and set(result.repairs) == {"column tickets.contact_email", "index ix_tickets_assignee"}
    assert revision_of(db) == [(head(),)] and diffs(db, models) == []
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT id FROM conversations").fetchall() == [("c1",)]
    db.dispose()


def test_workers_starting_at_once_migrate_once(pg_url):
    from tier0.db import Database

    dbs = [Database(pg_url) for _ in range(4)]
    start = threading.Barrier(len(dbs))
    states, errors = [], []

    def run(db):
        start.wait()
        try:
            states.append(db.migrate().state)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(states) == ["current"] * 3 + ["empty"]
    for db in dbs:
        db.dispose()
