"""tier0's schema migrations (Alembic), configured in code: no alembic.ini is read at run time.

:meth:`tier0.db.Database.migrate` is the one entry point that applies them (``tier0 db upgrade`` on the command line).
The environment (``env.py``) runs on the connection handed to it in ``config.attributes["connection"]``, inside the
transaction and lock that ``migrate`` holds.

Revisions live in ``versions/`` and are numbered ``0001``, ``0002`` … in one straight line (no branches).
``0001_baseline`` is the schema that ``Database.create_all`` built before migrations existed; a database from then
(tier0 tables, no ``alembic_version``) is checked against it, stamped ``0001`` and upgraded.

Changing a model means adding a revision: the unit test ``test_models_and_migrations_agree`` fails until one exists.
:func:`new_revision` writes its first draft (Alembic autogenerate against a scratch SQLite database at head); read it
and fix what autogenerate cannot know (renames, data moves, NOT NULL columns on tables with rows need a default).
"""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path
from typing import Iterable, List, Optional

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData

HERE = Path(__file__).resolve().parent
BASELINE = "0001"


def alembic_config(connection=None) -> Config:
    """An Alembic configuration for tier0's scripts; ``connection`` is the one env.py migrates."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE).replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def known_revisions(script: Optional[ScriptDirectory] = None) -> List[str]:
    """Every revision this tier0 ships, oldest first."""
    script = script or script_directory()
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def head(script: Optional[ScriptDirectory] = None) -> str:
    script = script or script_directory()
    heads = script.get_heads()
    if len(heads) != 1:  # the history is a straight line; two heads mean two branches were merged without a merge
        raise RuntimeError(f"tier0 migrations have {len(heads)} heads ({', '.join(heads)}); expected one")
    return heads[0]


def baseline_metadata(script: Optional[ScriptDirectory] = None) -> MetaData:
    """The tables of revision 0001, as that revision declares them (frozen; not the models of today)."""
    script = script or script_directory()
    return script.get_revision(BASELINE).module.baseline_metadata()


def new_revision(message: str, model_modules: Iterable[str]) -> str:
    """Draft the next revision from the difference between the models and the migrations; returns its path.

    ``model_modules`` are the modules that declare tables (they are imported so that ``Base.metadata`` is complete);
    tests/unit/test_migrations.py finds them: ``.venv/bin/python -m tests.unit.test_migrations "add tickets.foo"``.
    """
    from alembic import command
    from sqlalchemy import create_engine

    for name in model_modules:
        importlib.import_module(name)
    script = script_directory()
    number = int(head(script)) + 1
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'scratch.db'}", future=True)
        try:
            with engine.begin() as conn:
                command.upgrade(alembic_config(conn), "head")
            with engine.begin() as conn:
                written = command.revision(alembic_config(conn), message=message, autogenerate=True,
                                           rev_id=f"{number:04d}")
        finally:
            engine.dispose()
    scripts = written if isinstance(written, list) else [written]
    if not scripts or scripts[0] is None:
        raise RuntimeError("alembic wrote no revision")
    return str(scripts[0].path)
