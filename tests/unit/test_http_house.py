"""The HTTP house without a model: every route documents its response, and the guard applies the body limit and the
security headers to every response (a worker that is still starting answers too)."""

from typing import Any, Dict

import pytest
from fastapi import Body

pytestmark = pytest.mark.unit


@pytest.fixture()
def client(tmp_path):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tier0.config import Settings

    # no `with`: the lifespan (which loads the models) does not run; the app answers as a worker that is starting
    return TestClient(create_app(Settings(home=tmp_path)))


def test_every_route_documents_its_response(client):
    spec = client.app.openapi()
    missing = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            ok = {code: r for code, r in op["responses"].items() if code.startswith("2")}
            if not any(r.get("content") for r in ok.values()) and "204" not in ok:
                missing.append(f"{method.upper()} {path}")
    assert not missing, missing
    assert {"/api/conversations", "/api/desk/tickets", "/api/inbound/email", "/healthz"} <= set(spec["paths"])


def test_a_starting_worker_says_so_with_headers(client):
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json() == {"status": "starting"}
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    r = client.post("/api/conversations", json={})
    assert r.status_code == 503 and r.json()["error"] == "not_ready"


def test_a_body_over_the_limit_is_refused_before_it_is_read(client):
    from tier0.vocab import MAX_REQUEST_BYTES

    r = client.post("/api/conversations/x/messages", content=b"x" * (MAX_REQUEST_BYTES + 1),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert r.headers["x-content-type-options"] == "nosniff"

    def chunks():  # no Content-Length: counted while read
        for _ in range(MAX_REQUEST_BYTES // 65536 + 2):
            yield b"x" * 65536

    r = client.post("/api/conversations/x/messages", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_a_non_numeric_content_length_is_a_400(client):
    r = client.post("/api/conversations", content=b"{}", headers={"content-length": "abc",
                                                                   "content-type": "application/json"})
    assert r.status_code == 400


def test_a_chunked_body_within_the_limit_reaches_the_route_whole(client):
    @client.app.post("/echo-for-test")
    def echo(body: Dict[str, Any] = Body(...)) -> Dict[str, Any]:
        return body

    payload = b'{"text": "' + b"y" * 200_000 + b'"}'

    def chunks():
        for i in range(0, len(payload), 65536):
            yield payload[i:i + 65536]

    r = client.post("/echo-for-test", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 200 and len(r.json()["text"]) == 200_000
