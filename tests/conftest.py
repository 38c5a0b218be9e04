"""Shared fixtures. Everything is real: a SQLite file, the embedding model from its package, the Rasa model
trained from bot/ (cached by the hash of its inputs under var/models, like `tier0 serve` does).

A guard refuses any network connection that does not go to this machine.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from pathlib import Path
from typing import Iterator

import pytest

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The suite's clients all call from one address, faster than any customer: the per-IP and per-conversation rates
# stay on (their code runs on every request) but high; tests/unit/test_limits.py sets small ones to test them.
for _rate in ("CONVERSATIONS_PER_IP", "MESSAGES_PER_CONVERSATION", "MESSAGES_PER_IP"):
    os.environ.setdefault(f"TIER0_LIMIT_{_rate}", "10000/minute")

REPO = Path(__file__).resolve().parent.parent
SAMPLE_KB = REPO / "data" / "sample_kb"
SAMPLE_CASES = REPO / "data" / "sample_cases.jsonl"
MODEL_CACHE = REPO / "var" / "models"

_real_connect = socket.socket.connect


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self, address):
    if not _is_local(address):
        raise RuntimeError(f"test tried to reach the network: {address!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


def make_settings(home: Path, **overrides):
    from tier0.config import Settings

    return Settings(**{"home": home, "sample_kb": SAMPLE_KB, "model_cache": MODEL_CACHE, **overrides})


@pytest.fixture(scope="session")
def embedder():
    """The default embedding models, loaded once; each text is embedded once per session (the same vectors)."""
    from retrieval.embedder import load_embedders
    from tier0.config import DEFAULT_EMBEDDING_MODELS

    return [Remembering(e) for e in load_embedders(DEFAULT_EMBEDDING_MODELS)]


class Remembering:
    """A real embedder that keeps the vectors it computed: the tests build many indexes of the same KB."""

    def __init__(self, inner):
        self.inner, self.name, self._seen = inner, inner.name, {}

    @property
    def dim(self):
        return self.inner.dim

    def _encode(self, texts, query):
        missing = [t for t in dict.fromkeys(texts) if (query, t) not in self._seen]
        if missing:
            vecs = (self.inner.encode_queries if query else self.inner.encode_documents)(missing)
            self._seen.update({(query, t): v for t, v in zip(missing, vecs)})
        import numpy as np

        return np.vstack([self._seen[(query, t)] for t in texts]) if texts else self.inner.encode_documents([])

    def encode_queries(self, texts):
        return self._encode(list(texts), True)

    def encode_documents(self, texts):
        return self._encode(list(texts), False)


PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def postgres_database(prefix: str, template: str = "") -> Iterator[str]:
    """A new PostgreSQL database on loopback (its URL), dropped afterwards: empty, or a copy of the database
    ``template``; the test is skipped with the reason when no PostgreSQL answers there (`.ci/start-services` starts
    the machine's own)."""
    import uuid

    import sqlalchemy

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.exec_driver_sql(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    except Exception as e:  # noqa: BLE001
        admin.dispose()
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({type(e).__name__})")
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.fixture(scope="session")
def migrated_postgres_template() -> Iterator[str]:
    """The name of a PostgreSQL database migrated to the head once per session: each test's database is a copy of it
    (CREATE DATABASE … TEMPLATE, a file copy) instead of running every migration again."""
    from tier0.db import Database

    with postgres_database("tier0_template") as url:
        db = Database(url)
        db.migrate()
        db.dispose()  # a template must have no connection when it is copied
        yield url.rsplit("/", 1)[1]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> Iterator[str]:
    """The storage tests' database, migrated: a SQLite file (the embedded default), and a PostgreSQL database (the
    scale-out one; skipped when no server answers on loopback). ``make test-fast`` runs the SQLite half only."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tier0.db'}"
        return
    template = request.getfixturevalue("migrated_postgres_template")
    with postgres_database("tier0_test", template=template) as url:
        yield url


def change_first_admin_password(client, home: Path, new_password: str = "the admin's own password") -> dict:
    """Sign in as the first admin with the generated password of ``home``'s file and change it, as tier0 forces at
    first sign-in; returns the Authorization header of the new session. ``client``: a TestClient or httpx.Client."""
    generated = (home / "initial-admin-password").read_text().strip()
    r = client.post("/api/desk/login", json={"username": "admin", "password": generated})
    assert r.status_code == 200, r.text
    r = client.post("/api/desk/password", headers={"Authorization": f"Bearer {r.json()['token']}"},
                    json={"old_password": generated, "new_password": new_password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


# Nine topics of the sample KB, both languages: 18 articles with their phrasings. Tests of when and how a calibration
# is refitted fit on it (seconds a fit) rather than on the whole sample KB (half a minute a fit on 2 cores).
SMALL_TOPICS = ("reset-password", "change-account-details", "delivery-times-costs", "order-tracking",
                "payment-methods", "return-item", "missing-late-parcel", "delete-account", "change-cancel-order")


def small_kb(folder: Path) -> Path:
    """Write the :data:`SMALL_TOPICS` articles of the sample KB into ``folder`` (made); returns it."""
    import shutil

    folder.mkdir(parents=True)
    for topic in SMALL_TOPICS:
        for lang in ("en", "fr"):
            shutil.copy(SAMPLE_KB / f"{topic}-{lang}.md", folder / f"{topic}-{lang}.md")
    return folder


def seed_index(engine, target: Path) -> Path:
    """Start the index folder ``target`` from the session engine's (the sample KB, embedded and calibrated once per
    session): an engine built on the same KB and settings then loads its calibration instead of fitting it again
    (minutes on a 2-core box), and re-syncs only what differs. Returns ``target``."""
    import shutil

    engine.services.index.flush()  # an incremental update's write is deferred: the files first, then the copy
    shutil.copytree(engine.services.settings.index_dir, target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.tmp"))
    return target


@pytest.fixture(scope="session")
def engine(tmp_path_factory, embedder):
    """The whole product on the sample KB: services, trained Rasa model, in-process actions."""
    from bot.runtime import build_engine

    home = tmp_path_factory.mktemp("tier0-home")
    return build_engine(make_settings(home), embedder=embedder)
