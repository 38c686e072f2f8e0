"""`Idempotency-Key` on the send endpoints: a repeat within a day returns the first answer and
sends nothing, concurrent repeats included."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import falcon
import pytest
from sqlalchemy import func, insert, select, update

from core.jobs.maintenance import run_task
from models.base import table, utcnow
from models.idempotency_key import IdempotencyKey
from models.message.message import Message
from tests.conftest import Installation
from tests.web.test_api_v1 import APIClient, second_server, serve
from web.api_v1 import ACTIONS
from web.api_v1.dispatcher import Dispatcher
from web.api_v1.idempotency import IdempotencyKeys, fingerprint

KEYS = table(IdempotencyKey)
MESSAGES = table(Message)
SEND = "/api/v1/send/message"
PARAMS = {"to": ["c@example.net"], "from": "orders@example.com", "plain_body": "Hello", "tag": "once"}


@pytest.fixture
def api(installation: Installation) -> Iterator[APIClient]:
    with serve(installation) as client:
        yield client


def count(installation: Installation, server_id: int | None = None) -> int:
    mdb = installation.runtime.message_dbs.get(server_id or installation.server_id)
    with mdb.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(MESSAGES)) or 0)


def keyed(key: str) -> dict[str, Any]:
    return {"headers": {"Idempotency-Key": key}}


def test_a_repeat_returns_the_first_answer_and_sends_nothing(installation: Installation, api: APIClient) -> None:
    first = api.request(SEND, PARAMS, **keyed("order-1"))
    again = api.request(SEND, PARAMS, **keyed("order-1"))

    assert first.status == again.status == 200
    assert first.json["data"] == again.json["data"] and first.json["status"] == again.json["status"] == "success"
    assert first.headers["Idempotent-Replayed"] is None and again.headers["Idempotent-Replayed"] == "true"
    assert count(installation) == 1
    # Another key (or none) is another message.
    api.success(SEND, PARAMS, **keyed("order-2"))
    api.success(SEND, PARAMS)
    assert count(installation) == 3


def test_send_raw_honours_the_key_too(installation: Installation, api: APIClient) -> None:
    raw = base64.b64encode(b"From: orders@example.com\r\nSubject: x\r\n\r\nHi\r\n").decode()
    params = {"mail_from": "orders@example.com", "rcpt_to": ["c@example.net"], "data": raw}
    first = api.success("/api/v1/send/raw", params, **keyed("raw-1"))
    assert api.success("/api/v1/send/raw", params, **keyed("raw-1")) == first
    assert count(installation) == 1


def test_a_key_reused_for_another_request_is_refused(installation: Installation, api: APIClient) -> None:
    api.success(SEND, PARAMS, **keyed("k"))
    assert api.error(SEND, {**PARAMS, "tag": "other"}, **keyed("k")) == {
        "code": "IdempotencyKeyReused",
        "message": "This Idempotency-Key was already used for a different request",
    }
    assert api.error("/api/v1/send/raw", {"mail_from": "a", "rcpt_to": [], "data": "eA=="}, **keyed("k"))["code"] == (
        "IdempotencyKeyReused"
    )
    assert count(installation) == 1


def test_a_failed_request_releases_its_key(installation: Installation, api: APIClient) -> None:
    assert api.error(SEND, {**PARAMS, "from": None}, **keyed("k"))["code"] == "FromAddressMissing"
    assert api.parameter_error(SEND, {**PARAMS, "to": "x"}, **keyed("k"))
    # The corrected request may differ from the failed ones and still use the key.
    assert list(api.success(SEND, PARAMS, **keyed("k"))["messages"]) == ["c@example.net"]
    assert count(installation) == 1


def test_concurrent_repeats_send_once(installation: Installation, api: APIClient) -> None:
    answers: list[Any] = []
    start = threading.Barrier(8)

    def send() -> None:
        start.wait()
        answers.append(api.call(SEND, PARAMS, **keyed("burst")))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(answers) == 8 and all(a["status"] == "success" for a in answers), answers
    assert len({repr(a["data"]) for a in answers}) == 1
    assert count(installation) == 1


def test_keys_belong_to_one_server(installation: Installation, api: APIClient) -> None:
    other_id, other_key = second_server(installation)
    api.success(SEND, PARAMS, **keyed("shared"))
    other = api.success(SEND, {**PARAMS, "from": "news@other.example"}, key=other_key, **keyed("shared"))
    assert list(other["messages"]) == ["c@example.net"]
    assert count(installation) == 1 and count(installation, other_id) == 1


def test_a_key_is_remembered_for_a_day(installation: Installation, api: APIClient) -> None:
    api.success(SEND, PARAMS, **keyed("daily"))
    with installation.runtime.db.engine.begin() as conn:
        conn.execute(update(KEYS).values(created_at=utcnow() - timedelta(hours=25)))

    api.success(SEND, PARAMS, **keyed("daily"))
    assert count(installation) == 2
    with installation.runtime.db.engine.begin() as conn:
        conn.execute(update(KEYS).values(created_at=utcnow() - timedelta(hours=25)))
    assert run_task(installation.runtime, "prune_idempotency_keys") == 1
    assert run_task(installation.runtime, "prune_idempotency_keys") == 0


def test_a_key_still_in_progress_answers_in_use(installation: Installation) -> None:
    runtime = installation.runtime
    with runtime.db.engine.begin() as conn:
        conn.execute(
            insert(KEYS).values(
                server_id=installation.server_id,
                key="slow",
                fingerprint=fingerprint("send/message", PARAMS),
                created_at=utcnow(),
            )
        )
    app = falcon.App()
    app.add_sink(Dispatcher(runtime, ACTIONS, IdempotencyKeys(runtime.db, wait_seconds=0.3)), "/api/v1/")
    with serve(installation, app) as client:
        assert client.error(SEND, PARAMS, **keyed("slow")) == {
            "code": "IdempotencyKeyInUse",
            "message": "A request with this Idempotency-Key is still in progress; try again later",
        }
    assert count(installation) == 0


def test_an_unusable_key_is_refused(installation: Installation, api: APIClient) -> None:
    for key in ("x" * 256, "caf\u00e9"):
        assert api.error(SEND, PARAMS, headers={"Idempotency-Key": key})["code"] == "InvalidIdempotencyKey"
    assert count(installation) == 0


def test_other_endpoints_ignore_the_key(installation: Installation, api: APIClient) -> None:
    api.call("/api/v1/messages/message", {"id": 1}, **keyed("read"))
    with installation.runtime.db.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(KEYS)) == 0
