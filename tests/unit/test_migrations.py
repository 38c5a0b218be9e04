"""Schema migrations (tier0/migrations, Database.migrate) on SQLite files: from an empty database, from one the old
create_all made, between revisions, and the refusal of a revision this tier0 does not know. No model is loaded.

`test_models_and_migrations_agree` is the one that fails when a model changes without a migration. Draft the missing
revision with ``.venv/bin/python -m tests.unit.test_migrations "what changed"``, then read it and fix it.
"""

from __future__ import annotations

import ast
import importlib
import shutil
import sys
import threading
from pathlib import Path
from typing import List

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("tier0", "knowledge_base", "handoff", "retrieval", "bot", "api")


def model_modules() -> List[str]:
    """Every module that declares a table (a class deriving from ``Base``), found by reading the source: a new model
    module is compared with the migrations without anyone listing it."""
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" in path.parts or "Base" not in (source := path.read_text(encoding="utf-8")):
                continue
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.ClassDef) and any(
                        (isinstance(b, ast.Name) and b.id == "Base") or (isinstance(b, ast.Attribute) and b.attr == "Base")
                        for b in node.bases):
                    found.append(".".join(path.relative_to(REPO).with_suffix("").parts))
                    break
    return found


@pytest.fixture(scope="module", autouse=True)
def models():
    for name in model_modules():
        importlib.import_module(name)
    from tier0.db import Base

    return Base.metadata


def sqlite_url(tmp_path, name="tier0.db") -> str:
    return f"sqlite:///{tmp_path / name}"


def schema_diffs(db, metadata) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)


def revision_of(db) -> tuple:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return tuple(MigrationContext.configure(conn).get_current_heads())


def schema_sql(db) -> list:
    with db.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()


def head() -> str:
    from tier0 import migrations

    return migrations.head()


def add_conversation(conn, cid="c1"):
    conn.execute(sa.text("INSERT INTO conversations (id, token_hash, channel, customer, status, low_confidence_streak,"
                         " created_at, updated_at) VALUES (:id, 'h', 'web', '{}', 'bot', 0, '2026-01-01 00:00:00',"
                         " '2026-01-01 00:00:00')"), {"id": cid})
    conn.execute(sa.text("INSERT INTO messages (conversation_id, sender, text, data, created_at)"
                         " VALUES (:id, 'customer', 'hello', '{}', '2026-01-01 00:00:00')"), {"id": cid})


def test_empty_database_is_migrated_to_head_and_equals_the_models(tmp_path, models):
    from tier0.db import Database

    db = Database(sqlite_url(tmp_path))
    assert db.schema_status().state == "empty"
    result = db.migrate()
    assert (result.state, result.before, result.head) == ("empty", (), head())
    assert revision_of(db) == (head(),)
    assert schema_diffs(db, models) == []
    db.dispose()


def test_models_and_migrations_agree(tmp_path, models):
    """Fails when a model gains (or loses) a table, column, index or type without a migration saying so."""
    from tier0 import migrations
    from tier0.db import Database

    script = migrations.script_directory()
    revisions = migrations.known_revisions(script)
    assert revisions == [f"{n:04d}" for n in range(1, len(revisions) + 1)], "revisions are numbered 0001, 0002 …"
    assert script.get_heads() == [revisions[-1]], "one straight line of revisions"
    for rev in revisions:
        assert Path(script.get_revision(rev).path).name.startswith(rev + "_")

    db = Database(sqlite_url(tmp_path))
    db.migrate()
    diffs = schema_diffs(db, models)
    db.dispose()
    assert not diffs, (
        f"the models and the migrations differ: {diffs}\n"
        "write a migration: .venv/bin/python -m tests.unit.test_migrations \"what changed\" drafts it in "
        "tier0/migrations/versions/; read it before committing")


def test_database_from_the_old_create_all_keeps_its_rows_and_is_at_head(tmp_path, models):
    from tier0 import migrations
    from tier0.db import Database

    db = Database(sqlite_url(tmp_path))
    migrations.baseline_metadata().create_all(db.engine)  # what create_all did before migrations: the baseline
    with db.engine.begin() as conn:
        add_conversation(conn)
    assert db.schema_status().state == "legacy"
    result = db.migrate()
    assert (result.state, result.head, result.repairs) == ("legacy", head(), ())
    assert revision_of(db) == (head(),)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT id, token_hash FROM conversations").fetchall() == [("c1", "h")]
        assert conn.exec_driver_sql("SELECT text FROM messages").scalar() == "hello"
    assert schema_diffs(db, models) == []
    db.dispose()


def older_release(baseline: sa.MetaData) -> sa.MetaData:
    """The schema of the first tier0 with a desk: no accounts, sessions, webhooks, no SLA or assignee columns."""
    gone_tables = {"agents", "agent_sessions", "webhook_deliveries"}
    gone_columns = {"assignee", "topic", "level_started_at", "first_response_at", "resolved_at", "sla_pauses",
                    "sla_flags", "contact_email"}
    md = sa.MetaData()
    for table in baseline.sorted_tables:
        if table.name in gone_tables:
            continue
        keep = [c for c in table.columns if table.name != "tickets" or c.name not in gone_columns]
        columns = [sa.Column(c.name, c.type, *[sa.ForeignKey(fk.target_fullname) for fk in c.foreign_keys],
                             primary_key=c.primary_key, nullable=c.nullable) for c in keep]
        names = {c.name for c in keep}
        extras = [sa.Index(i.name, *[c.name for c in i.columns]) for i in table.indexes
                  if all(c.name in names for c in i.columns)]
        extras += [sa.UniqueConstraint(*[c.name for c in u.columns]) for u in table.constraints
                   if isinstance(u, sa.UniqueConstraint)]
        sa.Table(table.name, md, *columns, *extras)
    return md


def test_database_from_an_older_release_gets_what_create_all_would_have_added(tmp_path, models):
    from tier0 import migrations
    from tier0.db import Database

    db = Database(sqlite_url(tmp_path))
    older_release(migrations.baseline_metadata()).create_all(db.engine)
    with db.engine.begin() as conn:
        add_conversation(conn)
        conn.execute(sa.text("INSERT INTO tickets (conversation_id, status, queue, level, priority, reason, channel,"
                             " customer, candidates, transcript, created_at, updated_at) VALUES ('c1', 'waiting',"
                             " 'general', 1, 'normal', 'customer_request', 'web', '{}', '[]', '[]',"
                             " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
    result = db.migrate()
    assert result.state == "legacy" and revision_of(db) == (head(),)
    assert {"table agents", "table agent_sessions", "table webhook_deliveries", "column tickets.assignee",
            "column tickets.contact_email", "index ix_tickets_assignee"} <= set(result.repairs)
    assert "adopted" in result.summary() and "\n" not in result.summary()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT conversation_id, assignee FROM tickets").fetchall() == [("c1", None)]
    assert schema_diffs(db, models) == []
    db.dispose()


def test_database_from_before_migrations_that_differs_is_refused_and_left_alone(tmp_path):
    from tier0 import migrations
    from tier0.db import Database, SchemaMismatch

    db = Database(sqlite_url(tmp_path))
    md = older_release(migrations.baseline_metadata())
    md.remove(md.tables["ticket_events"])
    sa.Table("ticket_events", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("ticket_id", sa.Integer, nullable=False))  # no kind, actor …: NOT NULL columns missing
    md.create_all(db.engine)
    before = schema_sql(db)
    with pytest.raises(SchemaMismatch) as e:
        db.migrate()
    message = str(e.value)
    assert "\n" not in message and "ticket_events.kind is missing" in message and "and 1 more" in message
    assert schema_sql(db) == before  # rolled back: no table, column or alembic_version was added
    db.dispose()


def test_unknown_revision_is_refused_in_one_line(tmp_path, capsys):
    from tier0.db import Database, SchemaMismatch, migrate_command

    url = sqlite_url(tmp_path)
    db = Database(url)
    db.migrate()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0999'")
    before = schema_sql(db)
    for call in (db.migrate, db.schema_status, db.create_all):
        with pytest.raises(SchemaMismatch) as e:
            call()
        message = str(e.value)
        assert "\n" not in message
        assert "revision 0999" in message and (f"0001 to {head()}" in message or f"knows {head()}" in message)
        assert "newer tier0" in message
    assert schema_sql(db) == before and revision_of(db) == ("0999",)
    db.dispose()

    capsys.readouterr()
    for action in ("upgrade", "current"):
        assert migrate_command(url, action) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and "0999" in err and "tier0 db:" in err


def test_migrating_twice_is_a_no_op(tmp_path):
    from tier0.db import Database

    db = Database(sqlite_url(tmp_path))
    db.migrate()
    schema = schema_sql(db)
    again = db.migrate()
    assert (again.state, again.changed) == ("current", False)
    db.create_all()  # the old name does the same
    assert schema_sql(db) == schema
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall() == [(head(),)]
    db.dispose()


def test_database_at_an_older_revision_is_upgraded(tmp_path):
    from alembic import command

    from tier0 import migrations
    from tier0.db import Database

    db = Database(sqlite_url(tmp_path))
    with db.engine.begin() as conn:
        command.upgrade(migrations.alembic_config(conn), migrations.BASELINE)
        add_conversation(conn)
    assert revision_of(db) == ("0001",)
    status = db.schema_status()
    assert status.state == ("current" if head() == "0001" else "behind") and status.planned
    result = db.migrate()
    assert result.before == ("0001",) and revision_of(db) == (head(),)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM messages").scalar() == 1
    db.dispose()


NEXT_REVISION = '''
"""test: a revision after head that rebuilds tables referenced by foreign keys"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("conversations") as batch:  # SQLite: copy, drop the old table, rename
        batch.add_column(sa.Column("subject", sa.String(200), nullable=True))
        batch.alter_column("language", existing_type=sa.String(8), type_=sa.String(16))
    op.execute("UPDATE conversations SET subject = 'migrated'")
    {fail}


def downgrade():
    pass
'''


@pytest.fixture
def next_revision(tmp_path, monkeypatch):
    """A copy of tier0's migrations with one more revision; Database.migrate uses the copy."""
    from tier0 import migrations

    def make(fail: bool = False) -> str:
        where = tmp_path / "migrations"
        shutil.copytree(migrations.HERE, where, ignore=shutil.ignore_patterns("__pycache__"))
        rev = f"{int(migrations.head()) + 1:04d}"
        (where / "versions" / f"{rev}_test.py").write_text(NEXT_REVISION.format(
            rev=rev, down=migrations.head(), fail="raise RuntimeError('the revision fails')" if fail else ""))
        monkeypatch.setattr(migrations, "HERE", where)
        return rev

    return make


def test_upgrade_to_a_new_revision_rebuilds_tables_and_keeps_rows_and_foreign_keys(tmp_path, next_revision):
    from tier0.db import Database

    db = Database(sqlite_url(tmp_path))
    db.migrate()
    with db.engine.begin() as conn:
        add_conversation(conn)
    old = head()
    new = next_revision()
    result = db.migrate()
    assert (result.state, result.before, result.head) == ("behind", (old,), new)
    assert revision_of(db) == (new,)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT id, subject FROM conversations").fetchall() == [("c1", "migrated")]
        assert conn.exec_driver_sql("SELECT count(*) FROM messages").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # back on for the pooled connection
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
    db.dispose()


def test_a_failing_revision_changes_nothing(tmp_path, next_revision):
    from tier0.db import Database

    db = Database(sqlite_url(tmp_path))
    db.migrate()
    at = revision_of(db)
    schema = schema_sql(db)
    next_revision(fail=True)
    with pytest.raises(RuntimeError, match="the revision fails"):
        db.migrate()
    assert revision_of(db) == at and schema_sql(db) == schema
    db.dispose()


def test_workers_starting_at_once_migrate_once(tmp_path):
    from tier0.db import Database

    url = sqlite_url(tmp_path)
    dbs = [Database(url) for _ in range(4)]
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
    assert revision_of(dbs[0]) == (head(),)
    for db in dbs:
        db.dispose()


def test_migrate_command_prints_one_line(tmp_path, capsys):
    from tier0.db import migrate_command

    url = sqlite_url(tmp_path)
    assert migrate_command(url, "current") == 0
    assert capsys.readouterr().out.count("\n") == 1
    assert migrate_command(url, "upgrade") == 0
    out, err = capsys.readouterr()
    assert out == f"tier0 db: {url}: created the schema at {head()} (head)\n" and err == ""
    assert migrate_command(url, "current") == 0
    assert capsys.readouterr().out == f"tier0 db: {url}: at {head()} (head)\n"
    assert migrate_command(url) == 0
    assert capsys.readouterr().out == f"tier0 db: {url}: at {head()} (head), nothing to do\n"


if __name__ == "__main__":  # draft the next revision: python -m tests.unit.test_migrations "what changed"
    from tier0.migrations import new_revision

    if len(sys.argv) != 2:
        sys.exit('usage: python -m tests.unit.test_migrations "what changed"')
    print(new_revision(sys.argv[1], model_modules()))
