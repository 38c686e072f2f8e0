"""A live management API for tests: the web app on a real socket, users with tokens, and a client."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from core.runtime import Runtime
from core.tenancy.api_tokens import create_token
from core.tenancy.memberships import parse_servers, set_membership
from core.tenancy.organizations import find_organization
from core.tenancy.users import create_user
from tests.support.processes import free_port
from web.app import create_app
from web.server import start_threaded


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]
    raw: bytes

    @property
    def code(self) -> str | None:
        return self.body["error"]["code"] if isinstance(self.body, dict) and "error" in self.body else None


class Client:
    """Requests to `/api/v2` on 127.0.0.1 with a bearer token (or none)."""

    def __init__(self, port: int, token: str | None) -> None:
        self.port = port
        self.token = token

    def as_(self, token: str | None) -> Client:
        return Client(self.port, token)

    def request(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        sent = dict(headers or {})
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, f"/api/v2{path}", body=data, headers=sent)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        reply_headers = {k.lower(): v for k, v in response.getheaders()}
        parsed: Any = None
        if reply_headers.get("content-type", "").startswith("application/json") and payload:
            parsed = json.loads(payload)
        return Reply(response.status, parsed, reply_headers, payload)

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Reply:
        return self.request("DELETE", path, **kwargs)


@contextmanager
def serve(runtime: Runtime) -> Iterator[int]:
    """The whole web app on a free port of 127.0.0.1."""
    port = free_port()
    server = start_threaded(create_app(runtime), "127.0.0.1", port, runtime.config)
    try:
        yield port
    finally:
        server.shutdown()


def user_with_token(runtime: Runtime, email: str, admin: bool = False) -> str:
    with runtime.db.transaction() as session:
        user = create_user(session, email, "secret-password", admin=admin)
        _, token = create_token(session, user, "tests")
    return token


def add_member(runtime: Runtime, org: str, email: str, admin: bool = False, servers: str = "all") -> None:
    from core.tenancy.memberships import find_user

    with runtime.db.transaction() as session:
        organization = find_organization(session, org)
        chosen = parse_servers(session, organization, servers)
        set_membership(session, organization, find_user(session, email), admin, chosen)


class LiveAPI:
    """The API on a real socket, a global admin's client, and clients for more users."""

    def __init__(self, runtime: Runtime, port: int) -> None:
        self.runtime = runtime
        self.port = port
        self.admin = Client(port, user_with_token(runtime, "root@example.com", admin=True))

    def user(self, email: str) -> Client:
        """A user who belongs to no organization."""
        return Client(self.port, user_with_token(self.runtime, email))

    def member(self, email: str, org: str, admin: bool = False, servers: str = "all") -> Client:
        client = self.user(email)
        add_member(self.runtime, org, email, admin, servers)
        return client


@contextmanager
def live_api(runtime: Runtime) -> Iterator[LiveAPI]:
    with serve(runtime) as port:
        yield LiveAPI(runtime, port)
