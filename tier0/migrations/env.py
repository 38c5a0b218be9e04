"""Alembic environment for tier0: migrates the connection given in ``config.attributes["connection"]``.

tier0.db.Database.migrate passes its connection, already inside the transaction (and, on PostgreSQL, the advisory
lock) it holds, so the migration commits or rolls back as one with the checks around it. ``target_metadata`` is
tier0's declarative metadata: complete only once the model modules are imported (autogenerate's caller does that).
"""

from alembic import context

from tier0.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters a table by copying it
        compare_type=True,
    )
    with context.begin_transaction():  # a no-op inside the caller's transaction
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("tier0 migrations run on a live connection only (no --sql); use `tier0 db upgrade`")

_connection = config.attributes.get("connection")
if _connection is not None:
    run_migrations(_connection)
else:  # plain `alembic` with sqlalchemy.url set in the config: a connection of its own
    from sqlalchemy import create_engine

    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("tier0 migrations need a connection: use tier0.db.Database.migrate() or `tier0 db upgrade`")
    _engine = create_engine(url, future=True)
    try:
        with _engine.connect() as conn:
            run_migrations(conn)
            conn.commit()
    finally:
        _engine.dispose()
