"""The SMTP handler: the decisions of reference §5; aiosmtpd owns the grammar (STYLE rule 11).

Every hook that needs the database hands the work to a thread (`asyncio.to_thread`) or to the
submission batcher, so the event loop never blocks. An authenticated client sending out needs no
database work at RCPT time at all (`core.incoming.recipients.quick_outgoing`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from email.utils import formatdate

import dns.exception
import dns.reversename
from aiosmtpd.smtp import SMTP, Envelope, Session

from core import metrics
from core.config import Config
from core.dns import make_async_resolver
from core.incoming.recipients import BOUNCE, Recipient, Refusal, classify, quick_outgoing, smtp_ip_credential
from core.incoming.submission import IncomingSubmission, RoutedRecipient
from core.logs import log_context
from core.mail.address import is_plausible
from core.mail.headers import normalise_line_endings, split_raw
from core.outgoing.submission import Submission, UnauthenticatedFrom
from core.queue.enqueue import Accepted, ServerSuspended, SubmissionRejected, TemporaryFailure
from core.runtime import Runtime
from core.tenancy.credentials import Authenticated
from models.enums import MessageScope
from smtp import replies
from smtp.auth import AuthMechanisms
from smtp.batcher import Batcher

log = logging.getLogger(__name__)

REFUSALS = {
    Refusal.SUSPENDED: replies.R535_SUSPENDED,
    Refusal.INVALID_SERVER_TOKEN: replies.R550_INVALID_SERVER_TOKEN,
    Refusal.INVALID_ROUTE_TOKEN: replies.R550_INVALID_ROUTE_TOKEN,
    Refusal.ROUTE_REJECTS: replies.R550_ROUTE_REJECTS,
}
# More Received headers than this naming us means the message is going round in circles.
MAX_HOPS_THROUGH_US = 4

SubmissionBatcher = Batcher[Submission | IncomingSubmission, Accepted | SubmissionRejected]


def client_ip(session: Session) -> str:
    """The client's address as text, IPv4-mapped IPv6 shown as IPv4."""
    peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
    return peer.removeprefix("::ffff:")


def tls_active(server: SMTP) -> bool:
    return server._tls_protocol is not None


class Handler(AuthMechanisms):
    """One instance serves every connection; per-connection state lives on the aiosmtpd session
    (`auth_data`) and envelope (`postal_recipients`: the decision made for each RCPT)."""

    def __init__(self, runtime: Runtime, batcher: SubmissionBatcher) -> None:
        self.runtime = runtime
        self.config: Config = runtime.config
        self.batcher = batcher
        self.hostname = self.config.postal.smtp_hostname
        self._loop_marker = re.compile(rb"^Received:.*\bby " + re.escape(self.hostname.encode()) + rb"\b", re.I | re.M)
        # A short timeout: the Received header must not hold up the client.
        self._reverse = make_async_resolver(self.config, timeout=2.0)

    # -- envelope ---------------------------------------------------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        envelope.postal_recipients = []  # type: ignore[attr-defined]
        return replies.R250_SENDER_OK

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not address:
            return replies.R501_RCPT_EMPTY
        if not is_plausible(address):
            return replies.R501_RCPT_INVALID
        try:
            decision = await self._decide(session, address)
        except Exception:
            log.exception("deciding about recipient %s failed", address)
            return replies.R451_TEMPORARY
        if decision is None:
            # Never an open relay: nobody vouches for this client and we do not receive for it.
            return replies.R530_AUTH_REQUIRED
        if isinstance(decision, Refusal):
            return REFUSALS[decision]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        recipients: list[Recipient] = getattr(envelope, "postal_recipients", [])
        recipients.append(decision)
        envelope.postal_recipients = recipients  # type: ignore[attr-defined]
        return replies.R250_RECIPIENT_OK

    async def _decide(self, session: Session, address: str) -> Recipient | Refusal | None:
        """Reference §5's order; an SMTP-IP credential of the client's address counts as
        authentication, after which the recipient is looked at again."""
        auth = session.auth_data if isinstance(session.auth_data, Authenticated) else None
        decision = quick_outgoing(self.config, address, auth)
        if decision is not None:
            return decision
        db = self.runtime.db
        decision = await asyncio.to_thread(classify, db, self.config, address, auth)
        if decision is not None or auth is not None:
            return decision
        credential = await asyncio.to_thread(smtp_ip_credential, db, client_ip(session))
        if credential is None:
            return None
        session.auth_data = credential  # type: ignore[assignment]
        return quick_outgoing(self.config, address, credential) or await asyncio.to_thread(
            classify, db, self.config, address, credential
        )

    # -- DATA -------------------------------------------------------------------------------

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        recipients: list[Recipient] = getattr(envelope, "postal_recipients", [])
        if not recipients:
            return replies.R503_RCPT_FIRST
        auth = session.auth_data if isinstance(session.auth_data, Authenticated) else None
        received = await self._received_header(session, auth)
        raw = received + normalise_line_endings(envelope.original_content or b"")
        if len(self._loop_marker.findall(split_raw(raw)[0])) > MAX_HOPS_THROUGH_US:
            return replies.R550_LOOP
        parts = self._submissions(envelope, recipients, auth, raw, tls_active(server))
        try:
            if len(parts) == 1:  # the usual case, without a task per part
                results = [await self.batcher.submit(parts[0])]
            else:
                results = await asyncio.gather(*(self.batcher.submit(part) for part in parts))
        except Exception:
            # Already logged by the batcher; the client keeps the message and tries again.
            return replies.R451_TEMPORARY
        for result in results:
            if isinstance(result, TemporaryFailure):
                return replies.R451_TEMPORARY
            if isinstance(result, UnauthenticatedFrom):
                return replies.R530_FROM_INVALID
            if isinstance(result, ServerSuspended):
                return replies.R535_SUSPENDED
            if isinstance(result, SubmissionRejected):
                return replies.R550_SERVER_GONE
        _accepted(parts, results, "yes" if tls_active(server) else "no")
        return replies.R250_QUEUED

    def _submissions(
        self, envelope: Envelope, recipients: list[Recipient], auth: Authenticated | None, raw: bytes, secure: bool
    ) -> list[Submission | IncomingSubmission]:
        """Outgoing recipients make one submission for the authenticated server; incoming ones
        one per receiving server."""
        mail_from = envelope.mail_from or ""
        parts: list[Submission | IncomingSubmission] = []
        outgoing = [r.rcpt_to for r in recipients if r.kind == MessageScope.OUTGOING.value]
        if outgoing:
            server_id = next(r.server_id for r in recipients if r.kind == MessageScope.OUTGOING.value)
            parts.append(
                Submission(
                    server_id=server_id,
                    mail_from=mail_from,
                    rcpt_to=outgoing,
                    raw=raw,
                    credential_id=auth.credential_id if auth is not None else None,
                    received_with_ssl=secure,
                )
            )
        incoming: dict[int, list[RoutedRecipient]] = {}
        for r in recipients:
            if r.kind != MessageScope.OUTGOING.value:
                incoming.setdefault(r.server_id, []).append(RoutedRecipient(r.rcpt_to, r.route_id, r.kind == BOUNCE))
        for server_id, routed in incoming.items():
            parts.append(IncomingSubmission(server_id, mail_from, routed, raw, received_with_ssl=secure))
        return parts

    async def _received_header(self, session: Session, auth: Authenticated | None) -> bytes:
        """`Received: from <helo> (<rDNS> [<ip>]) by <hostname> with SMTP; <date>` (reference §5);
        without the `from` part when the authenticated server asks for privacy."""
        date = _now_for_header()
        if auth is not None and await self._privacy_mode(auth.server_id):
            return f"Received: by {self.hostname} with SMTP; {date}\r\n".encode()
        peer = client_ip(session)
        rdns = getattr(session, "postal_rdns", None)
        if rdns is None:
            rdns = await self._reverse_lookup(peer)
            session.postal_rdns = rdns  # type: ignore[attr-defined]
        helo = session.host_name or peer
        return f"Received: from {helo} ({rdns} [{peer}]) by {self.hostname} with SMTP; {date}\r\n".encode()

    async def _privacy_mode(self, server_id: int) -> bool:
        # The server is cached for a few seconds: a thread (and the database) only on a miss.
        found, state = self.runtime.servers.cached(server_id)
        if found:
            return state is not None and bool(state.server.privacy_mode)
        try:
            state = await asyncio.to_thread(self.runtime.servers.get, server_id)
        except Exception:
            log.exception("could not read server %d", server_id)
            return True  # err on the side of not disclosing the client
        return state is not None and bool(state.server.privacy_mode)

    async def _reverse_lookup(self, ip: str) -> str:
        try:
            answer = await self._reverse.resolve(dns.reversename.from_address(ip), "PTR")
        except (dns.exception.DNSException, ValueError):
            return ip
        for rdata in answer:
            return str(rdata.target.to_text(omit_final_dot=True))
        return ip


_date: tuple[int, str] = (0, "")


def _now_for_header() -> str:
    """The date of a Received header (RFC 5322 format, to the second), made once a second."""
    global _date  # noqa: PLW0603 (a one-entry cache of the event loop's thread)
    second = int(time.time())
    if _date[0] != second:
        _date = (second, formatdate(second))
    return _date[1]


def _accepted(
    parts: list[Submission | IncomingSubmission], results: list[Accepted | SubmissionRejected], tls: str
) -> None:
    """Count the messages accepted as Postal does (one per recipient, by type) and log each with
    its id (a recipient's copy is a message of its own, with its own id, as in Postal)."""
    logging_info = log.isEnabledFor(logging.INFO)
    for part, result in zip(parts, results, strict=True):
        if isinstance(part, Submission):
            kinds = ["outgoing"] * len(part.rcpt_to)
        else:
            kinds = ["bounce" if r.bounce else "incoming" for r in part.recipients]
        for kind in kinds:
            metrics.SMTP_MESSAGES.labels(type=kind, tls=tls).inc()
        if logging_info and isinstance(result, Accepted):
            for rcpt_to, message_id, _token in result.messages:
                with log_context(message_id=message_id, server_id=part.server_id):
                    log.info(
                        "accepted %s message for %s",
                        "an outgoing" if isinstance(part, Submission) else "an incoming",
                        rcpt_to,
                    )
