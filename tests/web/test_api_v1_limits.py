"""Size limits of the API v1 send endpoints, with `smtp_server.max_message_size` set to 1 MB: a
body too large for any acceptable message is refused with HTTP 413 before it is read; a body
within bounds whose message is too large gets the same error code in a normal answer."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import falcon
import falcon.testing
import pytest
from sqlalchemy import func, select

from models.base import table
from models.message.message import Message
from tests.conftest import Installation, merge
from tests.web.test_api_v1 import APIClient, serve
from web.api_v1.dispatcher import body_limit
from web.body import BodyTooLarge, read_body

MB = 1024 * 1024
LIMIT = body_limit(MB)


@pytest.fixture
def config_data(config_data: dict[str, Any]) -> dict[str, Any]:
    return merge(config_data, {"smtp_server": {"max_message_size": 1}})


@pytest.fixture
def api(installation: Installation) -> Iterator[APIClient]:
    with serve(installation) as client:
        yield client


def count(installation: Installation) -> int:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table(Message))) or 0)


def test_the_body_limit_fits_a_maximum_message_in_base64() -> None:
    assert LIMIT == 1398104 + MB


def test_an_oversize_body_is_refused_with_413(installation: Installation, api: APIClient) -> None:
    data = base64.b64encode(b"x" * (LIMIT // 4 * 3 + 3000)).decode()
    params = {"mail_from": "orders@example.com", "rcpt_to": ["c@example.net"], "data": data}

    response = api.request("/api/v1/send/raw", params)

    assert response.status == 413
    body = response.json
    assert list(body) == ["status", "time", "flags", "data"] and body["status"] == "error"
    assert body["data"] == {
        "code": "MessageTooLarge",
        "message": f"The request body is larger than {LIMIT} bytes (messages may be up to 1MB)",
    }
    assert count(installation) == 0


@pytest.mark.parametrize("size", [LIMIT, LIMIT + 1])
def test_a_body_of_unknown_length_is_read_up_to_the_limit(size: int) -> None:
    # A chunked body under gunicorn: no Content-Length, the input ends where the body does.
    body = io.BytesIO(b"x" * size)
    environ = falcon.testing.create_environ(method="POST", path="/api/v1/send/raw")
    environ.pop("CONTENT_LENGTH", None)
    environ.update({"wsgi.input": body, "wsgi.input_terminated": True})
    req = falcon.Request(environ)
    if size <= LIMIT:
        assert len(read_body(req, LIMIT)) == size
    else:
        with pytest.raises(BodyTooLarge):
            read_body(req, LIMIT)
        assert body.tell() == LIMIT + 1  # no more than one byte past the limit was read


def test_a_raw_message_over_the_maximum_is_refused(installation: Installation, api: APIClient) -> None:
    raw = b"From: orders@example.com\r\nSubject: big\r\n\r\n" + b"x" * MB
    params = {"mail_from": "orders@example.com", "rcpt_to": ["c@example.net"], "data": base64.b64encode(raw).decode()}
    assert api.error("/api/v1/send/raw", params) == {
        "code": "MessageTooLarge",
        "message": "The message is larger than the maximum message size of 1MB",
    }
    assert count(installation) == 0


def test_a_built_message_over_the_maximum_is_refused(installation: Installation, api: APIClient) -> None:
    attachment = {"name": "big.bin", "data": base64.b64encode(b"\x00" * (MB * 3 // 4 + 1000)).decode()}
    params = {"to": ["c@example.net"], "from": "orders@example.com", "plain_body": "x", "attachments": [attachment]}
    assert api.error("/api/v1/send/message", params)["code"] == "MessageTooLarge"
    assert count(installation) == 0


def test_a_message_under_the_maximum_is_sent(installation: Installation, api: APIClient) -> None:
    attachment = {"name": "ok.bin", "data": base64.b64encode(b"\x00" * (MB // 2)).decode()}
    params = {"to": ["c@example.net"], "from": "orders@example.com", "plain_body": "x", "attachments": [attachment]}
    assert list(api.success("/api/v1/send/message", params)["messages"]) == ["c@example.net"]
