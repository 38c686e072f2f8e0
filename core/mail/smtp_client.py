"""Delivering messages to a remote SMTP server, one connection reused for a batch (reference §3.7)."""

from __future__ import annotations

import contextlib
import logging
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass, field

import dns.resolver

from core.config import SMTPRelay
from core.mail.mx import DNSTimeout, MailHost, NullMX, host_addresses, mail_hosts
from core.mail.replies import ReplyClass, classify
from core.tokens import log_id as new_log_id

log = logging.getLogger(__name__)


@dataclass
class SendResult:
    """What happened to one message; `retry` is False, True (use the schedule) or seconds to wait."""

    status: str
    details: str
    output: str = ""
    retry: bool | int = False
    connect_error: bool = False
    secure: bool = False
    log_id: str = ""
    time: float | None = None
    suppress_bounce: bool = False


class _Client(smtplib.SMTP):
    """smtplib with TCP_NODELAY (Nagle plus delayed ACKs cost ~40 ms per message) and a source address."""

    def __init__(
        self,
        helo: str,
        open_timeout: float,
        read_timeout: float,
        source: str | None,
        implicit_tls: tuple[ssl.SSLContext, str] | None = None,
    ) -> None:
        self._open_timeout = open_timeout
        self._read_timeout = read_timeout
        self._implicit_tls = implicit_tls
        super().__init__(local_hostname=helo, timeout=open_timeout, source_address=(source, 0) if source else None)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((host, port), self._open_timeout, self.source_address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(self._read_timeout)
        if self._implicit_tls is not None:
            context, server_hostname = self._implicit_tls
            return context.wrap_socket(sock, server_hostname=server_hostname)
        return sock


def _reply_text(code: int, message: bytes | str) -> str:
    text = message.decode(errors="replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}".strip()


@dataclass
class _Endpoint:
    host: MailHost
    address: str

    def __str__(self) -> str:
        return f"{self.address}:{self.host.port} ({self.host.hostname})"


@dataclass
class SMTPSender:
    """An SMTP session towards one destination domain (or a fixed list of hosts).

    `start()` connects to the first host that answers; `send()` delivers one message and keeps
    the connection for the next; `finish()` says QUIT.
    """

    domain: str
    resolver: dns.resolver.Resolver
    helo_hostname: str
    destination_port: int = 25
    relays: list[SMTPRelay] = field(default_factory=list)
    hosts: list[MailHost] | None = None
    open_timeout: float = 30.0
    read_timeout: float = 30.0
    source_ipv4: str | None = None
    source_ipv6: str | None = None
    log_id: str = field(default_factory=new_log_id)

    def __post_init__(self) -> None:
        self._client: _Client | None = None
        self._endpoint: _Endpoint | None = None
        self._secure = False
        self._tried: list[str] = []
        self._errors: list[str] = []
        self._fatal: SendResult | None = None

    # -- connection -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._client is not None and self._fatal is None

    def start(self) -> bool:
        try:
            hosts = (
                self.hosts
                if self.hosts is not None
                else mail_hosts(self.resolver, self.domain, self.relays, self.destination_port)
            )
        except NullMX:
            self._fatal = SendResult(
                "HardFail",
                f"The domain {self.domain} does not accept mail (its MX record is the null MX).",
                log_id=self.log_id,
            )
            return False
        except DNSTimeout as exc:
            self._errors.append(str(exc))
            return False
        for host in hosts:
            if host.hostname not in self._tried:
                self._tried.append(host.hostname)
            addresses = host.addresses or host_addresses(
                self.resolver, host.hostname, want_ipv6=self.source_ipv4 is None or bool(self.source_ipv6)
            )
            for address in addresses:
                if self._connect(_Endpoint(host, address), allow_tls=True):
                    return True
        return False

    def _connect(self, endpoint: _Endpoint, allow_tls: bool) -> bool:
        source = self.source_ipv6 if ":" in endpoint.address else self.source_ipv4
        mode = endpoint.host.ssl_mode
        implicit = (ssl.create_default_context(), endpoint.host.hostname) if mode == "TLS" else None
        client = _Client(self.helo_hostname, self.open_timeout, self.read_timeout, source, implicit)
        try:
            code, msg = client.connect(endpoint.address, endpoint.host.port)
            # STARTTLS verifies the certificate against the host name, not the address we dialled.
            client._host = endpoint.host.hostname  # type: ignore[attr-defined]
            if code != 220:
                raise smtplib.SMTPConnectError(code, msg)
            client.ehlo_or_helo_if_needed()
            self._secure = mode == "TLS"
            if mode in ("Auto", "STARTTLS") and allow_tls and client.has_extn("starttls"):
                context = ssl.create_default_context()
                if mode == "Auto":
                    # Opportunistic: MX certificates are rarely valid for the name we know them by.
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                client.starttls(context=context)
                client.ehlo()
                self._secure = True
            elif mode == "STARTTLS":
                raise smtplib.SMTPNotSupportedError("STARTTLS is required but the server does not offer it")
        except ssl.SSLError as exc:
            self._close(client)
            if mode == "Auto" and allow_tls:
                log.info("[%s] TLS with %s failed (%s), retrying without TLS", self.log_id, endpoint, exc)
                return self._connect(endpoint, allow_tls=False)
            self._note_error(endpoint, exc)
            return False
        except (OSError, smtplib.SMTPException) as exc:
            self._close(client)
            self._note_error(endpoint, exc)
            return False
        self._client, self._endpoint = client, endpoint
        log.debug("[%s] connected to %s", self.log_id, endpoint)
        return True

    def _note_error(self, endpoint: _Endpoint, exc: BaseException) -> None:
        text = str(exc) or type(exc).__name__
        log.info("[%s] cannot connect to %s: %s", self.log_id, endpoint, text)
        if text not in self._errors:
            self._errors.append(text)

    @staticmethod
    def _close(client: _Client) -> None:
        with contextlib.suppress(OSError):
            client.close()

    def finish(self) -> None:
        if self._client is not None:
            try:
                self._client.quit()
            except (OSError, smtplib.SMTPException):
                self._close(self._client)
            self._client = None

    def _reset(self) -> None:
        """Bring the session back to a clean state after a failed transaction."""
        if self._client is None:
            return
        try:
            self._client.rset()
        except (OSError, smtplib.SMTPException):
            self._close(self._client)
            self._client = None

    # -- sending ----------------------------------------------------------------------------

    def _result(self, status: str, started: float | None = None, **kwargs: object) -> SendResult:
        result = SendResult(status=status, log_id=self.log_id, secure=self._secure, **kwargs)  # type: ignore[arg-type]
        if started is not None:
            result.time = round(time.monotonic() - started, 2)
        return result

    def send(self, mail_from: str, rcpt_to: str, raw: bytes, retry_on_disconnect: bool = True) -> SendResult:
        if self._fatal is not None:
            return self._fatal
        if self._client is None or self._endpoint is None:
            details = f"No SMTP servers were available for {self.domain}."
            details += f" Tried {', '.join(self._tried)}." if self._tried else " No hosts to try."
            return self._result(
                "SoftFail", details=details, output=", ".join(self._errors), retry=True, connect_error=True
            )
        client, endpoint = self._client, self._endpoint
        started = time.monotonic()
        try:
            code, msg = client.mail(mail_from)
            if code != 250:
                return self._failed(code, msg, endpoint, started)
            code, msg = client.rcpt(rcpt_to)
            if code not in (250, 251):
                return self._failed(code, msg, endpoint, started)
            code, msg = client.data(raw)
        except smtplib.SMTPDataError as exc:
            return self._failed(exc.smtp_code, exc.smtp_error, endpoint, started)
        except (smtplib.SMTPServerDisconnected, ConnectionResetError, BrokenPipeError, ssl.SSLError) as exc:
            # The remote dropped an idle connection: reconnect once and try again (reference §3.7).
            self._close(client)
            self._client = None
            if retry_on_disconnect and self._connect(endpoint, allow_tls=True):
                return self.send(mail_from, rcpt_to, raw, retry_on_disconnect=False)
            return self._result(
                "SoftFail",
                started,
                details=f"An error occurred while sending the message to {endpoint}",
                output=str(exc) or type(exc).__name__,
                retry=True,
            )
        except (OSError, smtplib.SMTPException) as exc:
            self._close(client)
            self._client = None
            return self._result(
                "SoftFail",
                started,
                details=f"An error occurred while sending the message to {endpoint}",
                output=str(exc) or type(exc).__name__,
                retry=True,
            )
        if code != 250:
            return self._failed(code, msg, endpoint, started)
        details = f"Message for {rcpt_to} accepted by {endpoint}"
        source = self.source_ipv6 if ":" in endpoint.address else self.source_ipv4
        if source:
            details += f" (from {source})"
        return self._result("Sent", started, details=details, output=_reply_text(code, msg))

    def _failed(self, code: int, msg: bytes | str, endpoint: _Endpoint, started: float) -> SendResult:
        text = _reply_text(code, msg)
        self._reset()
        verdict = classify(code, text)
        if verdict.kind is ReplyClass.HARD:
            return self._result(
                "HardFail",
                started,
                details=f"Permanent SMTP delivery error when sending to {endpoint}",
                output=text,
            )
        return self._result(
            "SoftFail",
            started,
            details=f"Temporary SMTP delivery error when sending to {endpoint}",
            output=text,
            retry=verdict.retry_in if verdict.retry_in is not None else True,
        )
