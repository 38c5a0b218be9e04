"""The OpenAPI schema says what the API really answers, without a model: every API operation lists its refusals with
their bodies, and a field that may be null says so (schemathesis checks the responses themselves against it in
tests/integration/test_authorisation.py)."""

import pytest

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    from api.app import create_app
    from tier0.config import Settings

    return create_app(Settings(home=tmp_path_factory.mktemp("schema-home"))).openapi()


def test_every_api_operation_documents_its_refusals_and_their_bodies(spec):
    refusals = {"400", "401", "403", "404", "409", "413", "422", "429", "503"}
    for path, ops in spec["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, op in ops.items():
            missing = refusals - set(op["responses"])
            assert not missing, f"{method.upper()} {path} does not document {sorted(missing)}"
            for code in refusals:
                assert op["responses"][code]["content"]["application/json"]["schema"], (method, path, code)
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "detail"]
    four22 = spec["paths"]["/api/desk/login"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert {r["$ref"].rsplit("/", 1)[1] for r in four22["anyOf"]} == {"Error", "InvalidFields"}


def test_optional_fields_are_nullable_and_the_others_are_not(spec):
    schemas = spec["components"]["schemas"]
    assignee = schemas["Ticket"]["properties"]["assignee"]
    assert {"type": "null"} in assignee["anyOf"] and assignee["title"] == "Assignee"
    assert {"type": "null"} in schemas["TurnOut"]["properties"]["ticket"]["anyOf"]
    assert schemas["Ticket"]["properties"]["queue"] == {"type": "string", "title": "Queue"}
    assert "anyOf" not in schemas["BotMessageOut"]["properties"]["buttons"]  # a list with a default is not null
