"""Every sample of tests/data/return_path through the product: an original sent, the sample
about it delivered over SMTP to the server's return path, the queue run as the worker would, and
then what `message show` and `suppression list` say. A bounce marks the original Bounced and
suppresses its recipient if hard; a delay warning, a receipt or an automatic reply is linked and
noted in the original's activity, and changes nothing else."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Installation
from tests.support.cli import CLI
from tests.support.http_receiver import HTTPReceiver
from tests.support.incoming import http_endpoint, route
from tests.support.outgoing import message, run_queue, send
from tests.support.smtp_server import running_smtp_server
from tests.support.smtp_sink import SMTPSink

DATA = Path(__file__).parents[2] / "data" / "return_path"
SAMPLES: list[dict[str, Any]] = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))["samples"]
RECIPIENT = "c@example.net"  # the samples' unknown@remote.example.net, which our sink plays


@pytest.fixture
def receiver() -> Iterator[HTTPReceiver]:
    server = HTTPReceiver().start()
    yield server
    server.stop()


def about(sample: dict[str, Any], token: str) -> bytes:
    """The sample made to be about our original: its recipient and its quoted X-Postal-MsgID."""
    raw = (DATA / sample["file"]).read_bytes()
    return raw.replace(b"unknown@remote.example.net", RECIPIENT.encode()).replace(
        sample["x_postal_msgid"].encode(), token.encode()
    )


def deliver_to_return_path(installation: Installation, raw: bytes) -> None:
    with running_smtp_server(installation.runtime) as port, smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.ehlo("mx.remote.example.net")
        client.sendmail("", [f"{installation.server_token}@rp.postal.test"], raw)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample["file"][:3])
def test_sample_through_the_product(
    installation: Installation, smtp_sink: SMTPSink, cli: CLI, sample: dict[str, Any]
) -> None:
    send(installation, RECIPIENT)
    run_queue(installation)
    assert message(installation, 1)["status"] == "Sent"

    deliver_to_return_path(installation, about(sample, message(installation, 1)["token"]))
    assert run_queue(installation) == 1

    ref = installation.server_ref
    original = cli.json("message", "show", ref, "1")
    report = cli.json("message", "show", ref, "2")
    assert report["details"]["bounce"] is True and report["details"]["bounce_for_id"] == 1
    last = original["deliveries"][-1]["details"]
    suppressed = [s["address"] for s in cli.json("suppression", "list", ref)["suppressions"]]
    if sample["is_bounce"]:
        assert original["status"]["status"] == "Bounced"
        assert last == "We've received a bounce message for this e-mail. See <msg:2> for details."
    else:
        assert original["status"]["status"] == "Sent"
        what = {"auto_reply": "an automatic reply", "delay": "a delay warning", "success": "a delivery report"}
        assert last == f"We've received {what[sample['category']]} for this e-mail. See <msg:2> for details."
    assert suppressed == [RECIPIENT.lower() for _ in sample["suppressed"]]


def test_an_auto_reply_goes_on_to_the_return_path_route(
    installation: Installation, smtp_sink: SMTPSink, receiver: HTTPReceiver
) -> None:
    """As Postal does with return-path mail that is no bounce: linked, then the route's."""
    route(installation, "__returnpath__", endpoints=[http_endpoint(installation, receiver.url)])
    send(installation, RECIPIENT)
    run_queue(installation)
    [ooo] = [s for s in SAMPLES if s["file"].startswith("h02")]
    deliver_to_return_path(installation, about(ooo, message(installation, 1)["token"]))
    run_queue(installation)
    body = json.loads(receiver.wait_for(1)[0].body)
    assert body["bounce"] is True and body["id"] == 2
    reply = message(installation, 2)
    assert reply["status"] == "Sent" and reply["bounce_for_id"] == 1
    assert message(installation, 1)["status"] == "Sent"
