"""Both web servers as HTTP clients meet them: the embedded one of `postal run` (waitress) and the
production one of `postal web-server` (gunicorn, in a process of its own). Request bodies sent
with `Transfer-Encoding: chunked` and no Content-Length (as Node's HTTP clients send JSON) are
read in full, kept within the APIs' limits, and many requests share one connection."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from models.base import table
from models.message.message import Message
from tests.conftest import Backend, Installation, _backend, _drop_databases, merge, postal_command
from tests.support.api_v2 import user_with_token
from tests.support.processes import RoleProcess, free_port, wait_for_port
from web.api_v1.dispatcher import body_limit
from web.app import create_app
from web.server import start_threaded

MB = 1024 * 1024
MESSAGE = {
    "to": ["customer@example.net"],
    "from": "Shop <orders@example.com>",
    "subject": "Your order",
    "plain_body": "It has shipped.",
}


@pytest.fixture(params=["embedded", "gunicorn"])
def server_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(server_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The embedded server over SQLite (as `postal run`), gunicorn over MariaDB and RabbitMQ (as
    `postal web-server` in production, which refuses the in-process queue)."""
    chosen = _backend("sqlite" if server_kind == "embedded" else "mariadb", tmp_path, request)
    yield chosen
    _drop_databases(chosen.cleanup_databases)


@pytest.fixture
def config_data(config_data: dict[str, Any]) -> dict[str, Any]:
    # Messages of up to 1 MB keep the API v1 body limit small enough to go over it in a test.
    return merge(
        config_data,
        {
            "smtp_server": {"max_message_size": 1},
            "web_server": {"default_port": free_port(), "default_bind_address": "127.0.0.1"},
        },
    )


@dataclass
class Web:
    port: int
    api_key: str

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)


@pytest.fixture
def web(server_kind: str, installation: Installation, config_file: Path, tmp_path: Path) -> Iterator[Web]:
    config = installation.runtime.config
    port = config.web_server.default_port
    if server_kind == "embedded":
        server = start_threaded(create_app(installation.runtime), "127.0.0.1", port, config)
        try:
            yield Web(port, installation.api_key)
        finally:
            server.shutdown()
        return
    role = RoleProcess([*postal_command(), "web-server"], config_file, tmp_path / "web-server.log")
    try:
        wait_for_port(port, role.process)
        yield Web(port, installation.api_key)
    except BaseException:
        role.stop()
        print(role.output())
        raise
    assert role.stop() == 0, role.output()


def chunks(data: bytes, size: int = 7) -> Iterable[bytes]:
    """The body in small pieces: http.client sends an iterable with chunked encoding."""
    return (data[i : i + size] for i in range(0, len(data), size))


@dataclass
class Reply:
    status: int
    version: int
    headers: dict[str, str]
    body: Any


def send_chunked(conn: http.client.HTTPConnection, path: str, body: bytes, headers: dict[str, str]) -> Reply:
    # An iterable body without a Content-Length: http.client sends it chunked, and says so.
    conn.request("POST", path, body=chunks(body), headers=headers)
    return reply_of(conn.getresponse())


def reply_of(response: http.client.HTTPResponse) -> Reply:
    data = response.read()
    headers = {k.lower(): v for k, v in response.getheaders()}
    parsed = json.loads(data) if headers.get("content-type", "").startswith("application/json") else data
    return Reply(response.status, response.version, headers, parsed)


def stored(installation: Installation) -> list[str]:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    messages = table(Message)
    with mdb.engine.connect() as conn:
        return [str(s) for s in conn.scalars(select(messages.c.subject).order_by(messages.c.id))]


def test_a_chunked_json_body_sends_the_message(web: Web, installation: Installation) -> None:
    headers = {"Content-Type": "application/json", "X-Server-API-Key": web.api_key}
    reply = send_chunked(web.connect(), "/api/v1/send/message", json.dumps(MESSAGE).encode(), headers)

    assert reply.status == 200 and reply.body["status"] == "success", reply
    assert list(reply.body["data"]["messages"]) == ["customer@example.net"]
    assert stored(installation) == ["Your order"]


def test_a_chunked_params_form_body_sends_the_message(web: Web, installation: Installation) -> None:
    body = urlencode({"params": json.dumps({**MESSAGE, "subject": "By form"})}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Server-API-Key": web.api_key}
    reply = send_chunked(web.connect(), "/api/v1/send/message", body, headers)

    assert reply.status == 200 and reply.body["status"] == "success", reply
    assert stored(installation) == ["By form"]


def test_a_chunked_body_reaches_the_management_api(web: Web, installation: Installation) -> None:
    token = user_with_token(installation.runtime, "root@example.com", admin=True)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    body = json.dumps({"name": "Beta Corp", "permalink": "beta"}).encode()
    reply = send_chunked(web.connect(), "/api/v2/organizations", body, headers)

    assert reply.status == 201, reply
    assert reply.body["permalink"] == "beta" and reply.body["name"] == "Beta Corp"


def test_a_chunked_body_over_the_limit_is_refused_in_the_apis_words(web: Web, installation: Installation) -> None:
    data = json.dumps({**MESSAGE, "plain_body": "x" * (body_limit(MB) + 1000)}).encode()
    headers = {"Content-Type": "application/json", "X-Server-API-Key": web.api_key}
    reply = send_chunked(web.connect(), "/api/v1/send/message", data, headers)

    assert reply.status == 413, reply
    assert reply.body["status"] == "error" and reply.body["data"]["code"] == "MessageTooLarge"
    assert stored(installation) == []


def test_a_huge_declared_body_is_refused_before_it_is_sent(web: Web, installation: Installation) -> None:
    with socket.create_connection(("127.0.0.1", web.port), timeout=30) as sock:
        sock.sendall(
            b"POST /api/v1/send/message HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"X-Server-API-Key: {web.api_key}\r\nContent-Length: {100 * MB}\r\n\r\n{{".encode()
        )
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 413
    assert stored(installation) == []


def test_ten_requests_share_one_connection(web: Web, installation: Installation) -> None:
    conn = web.connect()
    conn.connect()
    first = conn.sock
    headers = {"Content-Type": "application/json", "X-Server-API-Key": web.api_key}
    for number in range(10):
        if number % 2:
            conn.request("GET", "/health")
            reply = reply_of(conn.getresponse())
            assert (reply.status, reply.body) == (200, b"OK")
        else:
            body = json.dumps({**MESSAGE, "subject": f"Number {number}"}).encode()
            reply = send_chunked(conn, "/api/v1/send/message", body, headers)
            assert reply.status == 200 and reply.body["status"] == "success", reply
        assert reply.version == 11 and reply.headers.get("connection", "").lower() != "close"
        # http.client drops its socket when the server says it closes the connection.
        assert conn.sock is first
    conn.close()
    assert stored(installation) == [f"Number {n}" for n in range(0, 10, 2)]


def test_chunk_extensions_and_trailers_are_understood(web: Web, installation: Installation) -> None:
    body = json.dumps({**MESSAGE, "subject": "Raw chunks"}).encode()
    half = len(body) // 2
    request = (
        b"POST /api/v1/send/message HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"X-Server-API-Key: {web.api_key}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        + f"{half:x};note=first\r\n".encode()
        + body[:half]
        + f"\r\n{len(body) - half:X}\r\n".encode()
        + body[half:]
        + b"\r\n0\r\nX-Checksum: none\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", web.port), timeout=30) as sock:
        sock.sendall(request)
        reply = reply_of(_response(sock))
    assert reply.status == 200 and reply.body["status"] == "success", reply
    assert stored(installation) == ["Raw chunks"]


def _response(sock: socket.socket) -> http.client.HTTPResponse:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response
