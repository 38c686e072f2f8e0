"""HTTP API v1 over a real socket: the Moonrope envelope, framework errors, authentication,
parameter passing and checks, and `messages/message` / `messages/deliveries` (reference §6).

`APIClient` and `serve` are shared with the other `test_api_v1_*` modules."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import http.client
import json
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from typing import Any

import falcon
import falcon.testing
import pytest
from sqlalchemy import insert, select

from core.outgoing.submission import Submission, submit
from core.tenancy.credentials import create_credential
from core.tenancy.organizations import create_organization
from core.tenancy.servers import create_server
from models.base import table
from models.credential import Credential
from models.enums import CredentialType
from models.message.link import Click, Link, Load
from tests.conftest import Installation
from tests.support.outgoing import change_server, run_queue
from tests.support.processes import free_port
from tests.support.smtp_sink import SMTPSink
from web.api_v1.action import Action
from web.api_v1.dispatcher import Dispatcher
from web.api_v1.idempotency import IdempotencyKeys
from web.app import create_app
from web.server import start_threaded

RAW = (
    b"From: Shop <orders@example.com>\r\nTo: c@example.net\r\nSubject: Hi\r\nMessage-ID: <m1@example.com>\r\n"
    b"\r\nHello\r\n"
)
RAW_PATH = "/api/v1/send/raw"
_UNSET = object()


@dataclass
class Response:
    status: int
    headers: Message
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class APIClient:
    """Requests to the v1 API with the installation's key unless told otherwise."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.key = key

    def request(
        self,
        path: str,
        params: Any = None,
        *,
        method: str = "POST",
        key: Any = _UNSET,
        body: bytes | None = None,
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Response:
        sent = dict(headers or {})
        if key is _UNSET:
            key = self.key
        if key is not None:
            sent["X-Server-API-Key"] = key
        if body is None and params is not None:
            body = json.dumps(params).encode()
        if content_type is not None and body is not None:
            sent["Content-Type"] = content_type
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=sent)
            reply = conn.getresponse()
            return Response(reply.status, reply.msg, reply.read())
        finally:
            conn.close()

    def call(self, path: str, params: Any = None, **kwargs: Any) -> dict[str, Any]:
        """A handled request: HTTP 200 and the Moonrope envelope, returned parsed."""
        response = self.request(path, params, **kwargs)
        assert response.status == 200, response.body
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        data: dict[str, Any] = response.json
        assert list(data) == ["status", "time", "flags", "data"]
        assert isinstance(data["time"], float) and data["time"] >= 0 and data["flags"] == {}
        return data

    def success(self, path: str, params: Any = None, **kwargs: Any) -> Any:
        result = self.call(path, params, **kwargs)
        assert result["status"] == "success", result
        return result["data"]

    def error(self, path: str, params: Any = None, **kwargs: Any) -> dict[str, Any]:
        result = self.call(path, params, **kwargs)
        assert result["status"] == "error", result
        data: dict[str, Any] = result["data"]
        return data

    def parameter_error(self, path: str, params: Any = None, **kwargs: Any) -> str:
        result = self.call(path, params, **kwargs)
        assert result["status"] == "parameter-error", result
        assert list(result["data"]) == ["message"]
        message: str = result["data"]["message"]
        return message


@contextlib.contextmanager
def serve(installation: Installation, app: falcon.App | None = None) -> Iterator[APIClient]:
    port = free_port()
    server = start_threaded(app or create_app(installation.runtime), "127.0.0.1", port, installation.runtime.config)
    try:
        yield APIClient(port, installation.api_key)
    finally:
        server.shutdown()


@pytest.fixture
def api(installation: Installation) -> Iterator[APIClient]:
    with serve(installation) as client:
        yield client


def submit_raw(installation: Installation, *rcpts: str, raw: bytes = RAW, tag: str | None = None) -> list[int]:
    accepted = submit(
        installation.runtime,
        Submission(installation.server_id, "orders@example.com", list(rcpts or ["c@example.net"]), raw, tag=tag),
    )
    return [mid for _, mid, _ in accepted.messages]


def second_server(installation: Installation) -> tuple[int, str]:
    """Another organization's server with its own verified domain and API key: (id, key)."""
    from core.tenancy.domains import add_domain

    runtime = installation.runtime
    with runtime.db.transaction() as session:
        org = create_organization(session, "Other", "other")
        server = create_server(session, runtime.config, runtime.message_dbs, org, "Other", "other")
        add_domain(session, runtime.config, server, "other.example", verified=True)
        return server.id, create_credential(session, server, CredentialType.API).key


# -- framework -----------------------------------------------------------------------------------


def test_an_unknown_controller_or_action_is_a_400(api: APIClient) -> None:
    for path in ("/api/v1/send/nothing", "/api/v1/nothing/message", "/api/v1/send", "/api/v1/send/message/more"):
        response = api.request(path, {})
        assert (response.status, response.body) == (400, b'{"status":"invalid-controller-or-action"}'), path
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"


def test_bad_json_is_a_400_with_details(api: APIClient) -> None:
    response = api.request("/api/v1/messages/message", body=b'{"id": ')
    assert response.status == 400
    assert response.json["status"] == "invalid-json" and response.json["details"]
    form = api.request(
        "/api/v1/messages/message",
        body=b"params=%7Bnope",
        content_type="application/x-www-form-urlencoded",
    )
    assert (form.status, form.json["status"]) == (400, "invalid-json")
    not_an_object = api.request("/api/v1/messages/message", body=b"[1, 2]")
    assert (not_an_object.status, not_an_object.json["status"]) == (400, "invalid-json")


def test_a_crash_is_a_500(installation: Installation) -> None:
    def explode(ctx: Any, params: dict[str, Any]) -> Any:
        raise RuntimeError("boom")

    app = falcon.App()
    runtime = installation.runtime
    app.add_sink(Dispatcher(runtime, {("test", "crash"): Action(explode)}, IdempotencyKeys(runtime.db)), "/api/v1/")
    with serve(installation, app) as client:
        response = client.request("/api/v1/test/crash", {})
    assert (response.status, response.body) == (500, b'{"status":"internal-server-error"}')


def test_options_answers_ok_for_cors_preflight(api: APIClient) -> None:
    response = api.request(
        "/api/v1/send/message",
        method="OPTIONS",
        key=None,
        headers={"Access-Control-Request-Headers": "x-server-api-key"},
    )
    assert (response.status, response.body) == (200, b"OK")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Headers"] == "x-server-api-key"


def test_any_method_reaches_the_action(installation: Installation, api: APIClient) -> None:
    [message_id] = submit_raw(installation)
    for method in ("POST", "GET", "PUT", "PATCH", "DELETE"):
        assert api.success("/api/v1/messages/message", {"id": message_id}, method=method)["id"] == message_id


def test_the_envelope_is_compact_json_in_moonrope_order_with_rails_escapes(
    installation: Installation, api: APIClient
) -> None:
    [message_id] = submit_raw(installation, raw=RAW.replace(b"Hello", b"<b>Tom & Jerry</b>"))
    response = api.request("/api/v1/messages/message", {"id": message_id, "_expansions": ["plain_body"]})
    assert response.status == 200
    assert re.fullmatch(
        rb'\{"status":"success","time":\d+\.\d{1,3},"flags":\{\},"data":\{"id":\d+,"token":"\w+",'
        rb'"plain_body":"\\u003cb\\u003eTom \\u0026 Jerry\\u003c/b\\u003e\\n"\}\}',
        response.body,
    ), response.body
    assert response.headers["Access-Control-Allow-Origin"] == "*"


# -- authentication --------------------------------------------------------------------------------


def test_no_api_key_is_access_denied(api: APIClient) -> None:
    for key in (None, "", "   "):
        assert api.error("/api/v1/messages/message", {"id": 1}, key=key) == {
            "code": "AccessDenied",
            "message": "Must be authenticated as a server.",
        }


def test_an_unknown_key_is_invalid_and_echoed(installation: Installation, api: APIClient) -> None:
    assert api.error("/api/v1/messages/message", {"id": 1}, key="nope") == {
        "code": "InvalidServerAPIKey",
        "message": "The API token provided in X-Server-API-Key was not valid.",
        "token": "nope",
    }
    # An SMTP credential's key is not an API key.
    assert api.error("/api/v1/send/raw", {}, key=installation.smtp_key)["code"] == "InvalidServerAPIKey"


def test_a_suspended_server_is_refused(installation: Installation, api: APIClient) -> None:
    change_server(installation, suspended_at=datetime.now(UTC).replace(tzinfo=None))
    assert api.error("/api/v1/messages/message", {"id": 1}) == {
        "code": "ServerSuspended",
        "message": "The mail server has been suspended",
    }


def test_authentication_comes_before_the_body_is_read(api: APIClient) -> None:
    assert api.error("/api/v1/messages/message", body=b"{not json", key=None)["code"] == "AccessDenied"


def test_using_a_key_marks_its_credential_used(installation: Installation, api: APIClient) -> None:
    api.call("/api/v1/messages/message", {"id": 1})
    with installation.runtime.db.engine.connect() as conn:
        used = conn.scalar(select(table(Credential).c.last_used_at).where(table(Credential).c.key == api.key))
    assert used is not None


def test_the_client_address_behind_trusted_proxies(installation: Installation) -> None:
    base = installation.runtime
    postal = dataclasses.replace(base.config.postal, trusted_proxies=["10.0.0.0/8", "not a network"])
    runtime = dataclasses.replace(base, config=dataclasses.replace(base.config, postal=postal))
    dispatcher = Dispatcher(runtime, {}, IdempotencyKeys(runtime.db))

    def client_ip(peer: str, forwarded: str | None) -> str:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        return dispatcher._client_ip(falcon.Request(falcon.testing.create_environ(remote_addr=peer, headers=headers)))

    assert client_ip("10.0.0.1", "198.51.100.7, 10.2.2.2") == "198.51.100.7"
    assert client_ip("10.0.0.1", None) == "10.0.0.1"
    assert client_ip("10.0.0.1", "10.3.3.3") == "10.3.3.3"
    # A peer that is not a trusted proxy cannot claim another address.
    assert client_ip("203.0.113.9", "198.51.100.7") == "203.0.113.9"


# -- parameters ------------------------------------------------------------------------------------


def test_params_as_a_form_field_urlencoded_multipart_or_query(installation: Installation, api: APIClient) -> None:
    [message_id] = submit_raw(installation)
    params = json.dumps({"id": message_id})
    form = api.success(
        "/api/v1/messages/message",
        body=urllib.parse.urlencode({"params": params}).encode(),
        content_type="application/x-www-form-urlencoded",
    )
    assert form["id"] == message_id
    multipart = b'--XYZ\r\nContent-Disposition: form-data; name="params"\r\n\r\n' + params.encode() + b"\r\n--XYZ--\r\n"
    assert (
        api.success("/api/v1/messages/message", body=multipart, content_type="multipart/form-data; boundary=XYZ")["id"]
        == message_id
    )
    query = api.success(
        "/api/v1/messages/message?" + urllib.parse.urlencode({"params": params}), method="GET", content_type=None
    )
    assert query["id"] == message_id
    # No parameters at all: the required id is missing.
    assert api.parameter_error("/api/v1/messages/message", content_type=None) == (
        "`id` parameter is required but is missing"
    )
    assert api.parameter_error("/api/v1/messages/message", body=b"") == "`id` parameter is required but is missing"


# Validation does not depend on the database: SQLite only keeps the suite quick.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/v1/send/message", {"to": "a@example.net"}, "`to` should be a `Array` but is a `String`"),
        ("/api/v1/send/message", {"to": [], "cc": {}}, "`cc` should be a `Array` but is a `Hash`"),
        ("/api/v1/send/message", {"from": ["x"]}, "`from` should be a `String` but is a `Array`"),
        ("/api/v1/send/message", {"subject": 5}, "`subject` should be a `String` but is a `Integer`"),
        ("/api/v1/send/message", {"headers": []}, "`headers` should be a `Hash` but is a `Array`"),
        ("/api/v1/send/message", {"attachments": True}, "`attachments` should be a `Array` but is a `TrueClass`"),
        ("/api/v1/send/message", {"bounce": "maybe"}, "`bounce` should be a boolean value"),
        ("/api/v1/send/message", {"to": [1]}, "`to` should only contain `String` values"),
        (RAW_PATH, {}, "`mail_from` parameter is required but is missing"),
        (RAW_PATH, {"mail_from": "a@x"}, "`rcpt_to` parameter is required but is missing"),
        (RAW_PATH, {"mail_from": "a@x", "rcpt_to": []}, "`data` parameter is required but is missing"),
        (RAW_PATH, {"mail_from": " ", "rcpt_to": [], "data": "x"}, "`mail_from` parameter is required but is missing"),
        (RAW_PATH, {"mail_from": "a", "rcpt_to": "b", "data": "x"}, "`rcpt_to` should be a `Array` but is a `String`"),
        (RAW_PATH, {"mail_from": "a", "rcpt_to": [], "data": "x", "bounce": 2}, "`bounce` should be a boolean value"),
        ("/api/v1/messages/message", {}, "`id` parameter is required but is missing"),
        ("/api/v1/messages/message", {"id": None}, "`id` parameter is required but is missing"),
        ("/api/v1/messages/message", {"id": {"token": "x"}}, "`id` should be a `Integer` but is a `Hash`"),
        ("/api/v1/messages/message", {"id": 1.5}, "`id` should be a `Integer` but is a `Float`"),
        ("/api/v1/messages/deliveries", {"id": True}, "`id` should be a `Integer` but is a `TrueClass`"),
    ],
)  # fmt: skip
def test_parameter_errors_have_moonropes_texts(api: APIClient, path: str, params: Any, message: str) -> None:
    assert api.parameter_error(path, params) == message


# -- messages/message and messages/deliveries ------------------------------------------------------


def multipart_raw() -> bytes:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "Shop <orders@example.com>"
    message["To"] = "c@example.net"
    message["Subject"] = "Grüße"
    message["Message-ID"] = "<order-1@example.com>"
    message.set_content("Plain text")
    message.add_alternative("<p>HTML text</p>", subtype="html")
    message.add_attachment(b"%PDF-1.4 " * 20, maintype="application", subtype="pdf", filename="invoice.pdf")
    return message.as_bytes().replace(b"\n", b"\r\n")


def test_message_with_every_expansion(installation: Installation, api: APIClient, smtp_sink: SMTPSink) -> None:
    raw = multipart_raw()
    [message_id] = submit_raw(installation, raw=raw, tag="orders")
    run_queue(installation)
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.transaction() as conn:
        conn.execute(
            insert(table(Load)).values(
                message_id=message_id, ip_address="192.0.2.1", user_agent="UA", timestamp=1700000000.25
            )
        )
        link_id = conn.execute(
            insert(table(Link)).values(
                message_id=message_id, token="t", hash="h", url="https://example.com/", timestamp=1700000000.0
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        click = {"ip_address": "192.0.2.2", "user_agent": "UA2", "timestamp": 1700000001.5}
        conn.execute(insert(table(Click)).values(message_id=message_id, link_id=link_id, **click))

    data = api.success("/api/v1/messages/message", {"id": message_id, "_expansions": True})

    assert list(data) == [
        "id", "token", "status", "details", "inspection", "plain_body", "html_body",
        "attachments", "headers", "raw_message", "activity_entries",
    ]  # fmt: skip
    assert data["id"] == message_id and re.fullmatch(r"[A-Za-z0-9]{12}", data["token"])
    status = data["status"]
    assert list(status) == ["status", "last_delivery_attempt", "held", "hold_expiry"]
    assert status["status"] == "Sent" and isinstance(status["last_delivery_attempt"], float)
    assert status["held"] is False and status["hold_expiry"] is None
    details = data["details"]
    assert list(details) == [
        "rcpt_to", "mail_from", "subject", "message_id", "timestamp", "direction",
        "size", "bounce", "bounce_for_id", "tag", "received_with_ssl",
    ]  # fmt: skip
    assert details["rcpt_to"] == "c@example.net" and details["mail_from"] == "orders@example.com"
    assert details["subject"] == "Grüße" and details["message_id"] == "order-1@example.com"
    assert details["direction"] == "outgoing" and details["tag"] == "orders"
    # Postal's size column is a VARCHAR: the API has always sent a string.
    assert isinstance(details["timestamp"], float) and int(details["size"]) >= len(raw)
    assert details["bounce"] is False and details["bounce_for_id"] == 0
    assert data["inspection"] == {
        "inspected": False,
        "spam": False,
        "spam_score": 0.0,
        "threat": False,
        "threat_details": None,
    }
    assert data["plain_body"] == "Plain text\n" and data["html_body"] == "<p>HTML text</p>\n"
    pdf = b"%PDF-1.4 " * 20
    [attachment] = data["attachments"]
    assert attachment["filename"] == "invoice.pdf" and attachment["content_type"] == "application/pdf"
    assert attachment["size"] == len(pdf) and attachment["hash"] == hashlib.sha1(pdf).hexdigest()
    # Ruby's Base64.encode64: 60-character lines, each ending in a newline.
    assert attachment["data"] == "".join(
        base64.b64encode(pdf).decode()[i : i + 60] + "\n" for i in range(0, len(base64.b64encode(pdf)), 60)
    )
    assert base64.b64decode(attachment["data"]) == pdf
    headers = data["headers"]
    assert headers["subject"] == ["Grüße"] and headers["to"] == ["c@example.net"]
    assert headers["message-id"] == ["<order-1@example.com>"]
    raw_lines = data["raw_message"].split("\n")
    assert all(len(line) == 60 for line in raw_lines[:-2]) and raw_lines[-1] == ""
    assert base64.b64decode(data["raw_message"]).endswith(raw.split(b"\r\n\r\n", 1)[1])
    assert data["activity_entries"] == {
        "loads": [{"ip_address": "192.0.2.1", "user_agent": "UA", "timestamp": "2023-11-14T22:13:20.250Z"}],
        "clicks": [
            {
                "url": "https://example.com/",
                "ip_address": "192.0.2.2",
                "user_agent": "UA2",
                "timestamp": "2023-11-14T22:13:21.500Z",
            }
        ],
    }


def test_message_with_chosen_or_no_expansions(installation: Installation, api: APIClient) -> None:
    [message_id] = submit_raw(installation)
    plain = api.success("/api/v1/messages/message", {"id": message_id})
    assert list(plain) == ["id", "token"]
    chosen = api.success("/api/v1/messages/message", {"id": message_id, "_expansions": ["details", "status", "nope"]})
    assert list(chosen) == ["id", "token", "status", "details"]
    assert list(api.success("/api/v1/messages/message", {"id": message_id, "_expansions": "status"})) == [
        "id",
        "token",
    ]
    # Postal v3 reads an id given as a string.
    assert api.success("/api/v1/messages/message", {"id": str(message_id)})["id"] == message_id


def test_an_unknown_message_is_not_found_with_the_given_id(installation: Installation, api: APIClient) -> None:
    for ref in (999, "999", "abc", 0, -1):
        for path in ("/api/v1/messages/message", "/api/v1/messages/deliveries"):
            assert api.error(path, {"id": ref}) == {
                "code": "MessageNotFound",
                "message": "No message found matching provided ID",
                "id": ref,
            }


def test_another_servers_messages_are_not_found(installation: Installation, api: APIClient) -> None:
    [message_id] = submit_raw(installation)
    _, other_key = second_server(installation)
    assert api.error("/api/v1/messages/message", {"id": message_id}, key=other_key)["code"] == "MessageNotFound"


def test_deliveries(installation: Installation, api: APIClient, smtp_sink: SMTPSink) -> None:
    [message_id] = submit_raw(installation)
    assert api.success("/api/v1/messages/deliveries", {"id": message_id}) == []
    run_queue(installation)

    [delivery] = api.success("/api/v1/messages/deliveries", {"id": message_id})

    assert list(delivery) == ["id", "status", "details", "output", "sent_with_ssl", "log_id", "time", "timestamp"]
    assert delivery["status"] == "Sent" and delivery["sent_with_ssl"] is False
    assert "250" in delivery["output"] and delivery["output"] == delivery["output"].strip()
    assert isinstance(delivery["time"], float) and isinstance(delivery["timestamp"], float)
