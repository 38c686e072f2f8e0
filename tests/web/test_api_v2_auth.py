"""The management API's edges: tokens, JSON errors, unknown paths and methods, size and rate limits."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from core.config import replace
from tests.conftest import Installation
from tests.support.api_v2 import Client, serve, user_with_token


@pytest.fixture
def admin(installation: Installation) -> Iterator[Client]:
    token = user_with_token(installation.runtime, "root@example.com", admin=True)
    with serve(installation.runtime) as port:
        yield Client(port, token)


def test_a_request_without_a_valid_token_is_refused(admin: Client) -> None:
    for client in (admin.as_(None), admin.as_("postal_nope"), admin.as_("garbage")):
        reply = client.get("/organizations")
        assert reply.status == 401 and reply.code == "unauthorized"
        assert reply.headers["www-authenticate"].startswith("Bearer")
    reply = admin.get("/organizations", headers={"Authorization": "Basic abc"})
    assert reply.status == 401


def test_the_openapi_document_is_public_and_lists_the_operations(admin: Client) -> None:
    reply = admin.as_(None).get("/openapi.json")
    assert reply.status == 200 and reply.body["openapi"] == "3.1.0"
    assert "get" in reply.body["paths"]["/api/v2/organizations"]
    assert reply.body["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_unknown_paths_and_methods_answer_json_errors(admin: Client) -> None:
    reply = admin.get("/nothing/here")
    assert (reply.status, reply.code) == (404, "not_found")
    reply = admin.request("PUT", "/organizations")
    assert (reply.status, reply.code) == (405, "method_not_allowed")
    assert reply.headers["allow"] == "GET, POST"


def test_bad_input_is_a_400_with_the_fields(admin: Client) -> None:
    reply = admin.post("/organizations", raw=b"{not json", headers={"Content-Type": "application/json"})
    assert (reply.status, reply.code) == (400, "invalid_json")
    reply = admin.post("/organizations", {"name": 5, "colour": "red"})
    assert (reply.status, reply.code) == (400, "invalid_request")
    assert reply.body["error"]["details"] == [
        {"field": "name", "message": "must be string"},
        {"field": "colour", "message": "is not a known field"},
    ]
    reply = admin.get("/organizations?limit=0")
    assert (reply.status, reply.code) == (400, "invalid_request")
    reply = admin.get("/organizations?cursor=!!!")
    assert (reply.status, reply.code) == (400, "invalid_cursor")


def test_request_bodies_are_limited_in_size(installation: Installation) -> None:
    runtime = dataclasses.replace(
        installation.runtime, config=replace(installation.runtime.config, api={"max_request_size": 100})
    )
    token = user_with_token(runtime, "root@example.com", admin=True)
    with serve(runtime) as port:
        client = Client(port, token)
        reply = client.post("/organizations", {"name": "x" * 200})
        assert (reply.status, reply.code) == (413, "payload_too_large")
        assert client.post("/organizations", {"name": "Small"}).status == 201


def test_each_token_is_rate_limited(installation: Installation) -> None:
    config = replace(installation.runtime.config, api={"rate_limit_per_minute": 1, "rate_limit_burst": 3})
    runtime = dataclasses.replace(installation.runtime, config=config)
    first = user_with_token(runtime, "one@example.com")
    second = user_with_token(runtime, "two@example.com")
    with serve(runtime) as port:
        one = Client(port, first)
        assert [one.get("/organizations").status for _ in range(3)] == [200, 200, 200]
        reply = one.get("/organizations")
        assert (reply.status, reply.code) == (429, "rate_limited")
        assert 1 <= int(reply.headers["retry-after"]) <= 60
        # Another token has its own bucket.
        assert Client(port, second).get("/organizations").status == 200
