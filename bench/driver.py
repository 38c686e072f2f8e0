"""The clients: concurrent SMTP sessions (or HTTP API connections) sending numbered messages."""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import smtplib
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from email.utils import formatdate

from bench.options import Options
from bench.platform import RECIPIENT_DOMAIN, SENDER_DOMAIN, Account


def build_message(number: int, size: int) -> bytes:
    """A text message of about `size` bytes (at least its headers) carrying `X-Bench-Id`."""
    headers = (
        "From: Bench <app@shop.example>\r\n"
        f"To: user{number}@{RECIPIENT_DOMAIN}\r\n"
        f"Subject: Bench message {number}\r\n"
        f"Date: {formatdate()}\r\n"
        f"Message-ID: <bench-{number}-{uuid.uuid4().hex[:12]}@{SENDER_DOMAIN}>\r\n"
        f"X-Bench-Id: {number}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
    ).encode()
    line = b"The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs\r\n"
    remaining = max(0, size - len(headers))
    body = line * (remaining // len(line))
    rest = remaining - len(body)
    if rest >= 2:
        body += b"x" * (rest - 2) + b"\r\n"
    return headers + body


@dataclass
class Sent:
    """One message as the client saw it."""

    number: int
    started: float  # before MAIL FROM
    accepted: float | None = None  # when DATA got its 250
    error: str | None = None
    refused: bool = False  # the server answered with an error (else: the connection failed)


class Driver:
    """C client threads sharing one counter of message numbers. With `account` None the SMTP
    clients do not authenticate (a relay that trusts 127.0.0.1, such as the Postfix comparison)."""

    def __init__(self, options: Options, port: int, account: Account | None) -> None:
        self.options = options
        self.port = port
        self.account = account
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self.sent: list[Sent] = []
        self._started = time.monotonic()

    def _next(self) -> int | None:
        """The next message number; with `--rate`, returned no earlier than its slot (message n
        at n / rate seconds after the start), so the clients together send at that rate."""
        with self._lock:
            number = next(self._numbers)
        if number >= self.options.messages:
            return None
        if self.options.rate > 0:
            delay = self._started + number / self.options.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return number

    def _record(self, item: Sent) -> None:
        with self._lock:
            self.sent.append(item)

    def _connect(self) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", self.port, local_hostname="bench.client", timeout=120)
        assert client.sock is not None
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.ehlo()
        if self.account is not None and self.account.route_address is None:
            client.login(self.account.username, self.account.key)
        return client

    def _api_client(self) -> None:
        """Submission through /api/v1/send/message, `per_connection` requests per HTTP connection."""
        number = self._next()
        while number is not None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                for _ in range(self.options.per_connection):
                    if number is None:
                        break
                    usable = self._post(connection, number)
                    number = self._next()
                    if not usable:
                        break
            finally:
                connection.close()

    def _post(self, connection: http.client.HTTPConnection, number: int) -> bool:
        body = json.dumps(
            {
                "to": [f"user{number}@{RECIPIENT_DOMAIN}"],
                "from": f"Bench <app@{SENDER_DOMAIN}>",
                "subject": f"Bench message {number}",
                "plain_body": build_message(number, self.options.size).partition(b"\r\n\r\n")[2].decode(),
                "headers": {"X-Bench-Id": str(number)},
            }
        ).encode()
        assert self.account is not None, "API submission needs the server's API key"
        headers = {"Content-Type": "application/json", "X-Server-API-Key": str(self.account.api_key)}
        item = Sent(number, time.monotonic())
        usable = True
        try:
            connection.request("POST", "/api/v1/send/message", body=body, headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read())
        except (OSError, http.client.HTTPException, ValueError) as exc:
            item.error = f"{type(exc).__name__}: {exc}"
            usable = False
        else:
            if answer.get("status") == "success":
                item.accepted = time.monotonic()
            else:
                item.error = f"{response.status} {answer.get('status')}: {answer.get('data')}"
                item.refused = True
        self._record(item)
        return usable

    def _client(self) -> None:
        if self.options.via == "api":
            self._api_client()
            return
        number = self._next()
        while number is not None:
            try:
                client = self._connect()
            except (OSError, smtplib.SMTPException) as exc:
                self._record(Sent(number, time.monotonic(), error=f"connect: {exc}", refused=False))
                number = self._next()
                continue
            try:
                for _ in range(self.options.per_connection):
                    if number is None:
                        break
                    usable = self._send(client, number)
                    number = self._next()
                    if not usable:
                        break
            finally:
                with contextlib.suppress(OSError, smtplib.SMTPException):
                    client.quit()

    def _send(self, client: smtplib.SMTP, number: int) -> bool:
        """Send one message; False when the connection is no longer usable."""
        message = build_message(number, self.options.size)
        item = Sent(number, time.monotonic())
        usable = True
        try:
            if self.account is None or self.account.route_address is None:
                refused = client.sendmail(f"app@{SENDER_DOMAIN}", [f"user{number}@{RECIPIENT_DOMAIN}"], message)
            else:
                refused = client.sendmail(f"user{number}@{RECIPIENT_DOMAIN}", [self.account.route_address], message)
        except smtplib.SMTPRecipientsRefused as exc:
            item.error = f"refused: {exc.recipients}"
            item.refused = True
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            item.error = f"{exc.smtp_code} {text}"
            item.refused = True
        except (OSError, smtplib.SMTPException) as exc:
            item.error = f"{type(exc).__name__}: {exc}"
            usable = False
        else:
            item.accepted = time.monotonic()
            if refused:
                item.error = f"refused: {refused}"
                item.refused = True
        self._record(item)
        return usable

    def run(self) -> None:
        self._started = time.monotonic()
        threads = [
            threading.Thread(target=self._client, name=f"bench-client-{n}", daemon=True)
            for n in range(self.options.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
