"""Endpoints of incoming mail: the HTTP, SMTP and address endpoints a route forwards to, and the
checks every field of one passes, for creating and for changing it alike (reference §2.1)."""

from __future__ import annotations

import re
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.errors import NotFound, ValidationError
from core.http_client import valid_url
from models.endpoint import ENDPOINT_MODELS, AddressEndpoint, Endpoint, HTTPEndpoint, SMTPEndpoint, endpoint_kind
from models.enums import EndpointType, HTTPEncoding, HTTPFormat, RouteMode, SSLMode
from models.route import AdditionalRouteEndpoint, Route
from models.server import Server

HOSTNAME = re.compile(r"\A[a-z0-9.\-]+\Z")


# How endpoints are named on the command line (`--endpoint http:UUID`).
ENDPOINT_KINDS = {"http": EndpointType.HTTP, "smtp": EndpointType.SMTP, "address": EndpointType.ADDRESS}


def parse_choice(field: str, value: str, enum: Any) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise ValidationError(field, f"must be one of {', '.join(e.value for e in enum)}, not {value!r}") from None


def _valid_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationError("name", "can't be blank")
    return name


def _valid_timeout(timeout: int) -> int:
    if not 5 <= timeout <= 60:
        raise ValidationError("timeout", f"must be between 5 and 60 seconds, not {timeout}")
    return timeout


def _valid_hostname(hostname: str) -> str:
    hostname = hostname.strip().lower().rstrip(".")
    if not HOSTNAME.match(hostname):
        raise ValidationError("hostname", f"must be a host name (letters, digits, dots and dashes), not {hostname!r}")
    return hostname


def _valid_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise ValidationError("port", f"must be between 1 and 65535, not {port}")
    return port


def _valid_address(session: Session, server_id: int, address: str, endpoint_id: int | None = None) -> str:
    """An e-mail address that is not already an address endpoint of the server (but `endpoint_id`)."""
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValidationError("address", f"must be an e-mail address, not {address!r}")
    query = select(AddressEndpoint.id).where(AddressEndpoint.server_id == server_id, AddressEndpoint.address == address)
    if endpoint_id is not None:
        query = query.where(AddressEndpoint.id != endpoint_id)
    if session.scalar(query) is not None:
        raise ValidationError("address", f"{address} is already an endpoint of this server")
    return address


def create_http_endpoint(
    session: Session,
    server: Server,
    name: str,
    url: str,
    encoding: str = HTTPEncoding.BODY_AS_JSON.value,
    format: str = HTTPFormat.HASH.value,
    strip_replies: bool = False,
    include_attachments: bool = True,
    timeout: int = 5,
) -> HTTPEndpoint:
    endpoint = HTTPEndpoint(
        server_id=server.id,
        name=_valid_name(name),
        url=valid_url(url),
        timeout=_valid_timeout(timeout),
        encoding=parse_choice("encoding", encoding, HTTPEncoding),
        format=parse_choice("format", format, HTTPFormat),
        strip_replies=strip_replies,
        include_attachments=include_attachments,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def create_smtp_endpoint(
    session: Session, server: Server, name: str, hostname: str, port: int = 25, ssl_mode: str = SSLMode.AUTO.value
) -> SMTPEndpoint:
    endpoint = SMTPEndpoint(
        server_id=server.id,
        name=_valid_name(name),
        hostname=_valid_hostname(hostname),
        port=_valid_port(port),
        ssl_mode=parse_choice("ssl_mode", ssl_mode, SSLMode),
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def create_address_endpoint(session: Session, server: Server, address: str) -> AddressEndpoint:
    endpoint = AddressEndpoint(server_id=server.id, address=_valid_address(session, server.id, address))
    session.add(endpoint)
    session.flush()
    return endpoint


def find_endpoint(session: Session, server: Server, kind: EndpointType, ref: str) -> Endpoint:
    """The server's endpoint of `kind` with uuid (or id) `ref`."""
    model = ENDPOINT_MODELS[kind]
    condition = model.uuid == ref
    if ref.isdigit():
        condition = condition | (model.id == int(ref))
    found = cast(Endpoint | None, session.scalar(select(model).where(model.server_id == server.id, condition)))
    if found is None:
        raise NotFound(kind.value, ref)
    return found


def parse_endpoint_ref(text: str) -> tuple[EndpointType, str]:
    """`http:UUID`, `smtp:UUID` or `address:UUID` (as `--endpoint` takes them)."""
    kind, sep, ref = text.partition(":")
    if not sep or kind.lower() not in ENDPOINT_KINDS or not ref:
        raise ValidationError("endpoint", f"must be http:UUID, smtp:UUID or address:UUID, not {text!r}")
    return ENDPOINT_KINDS[kind.lower()], ref.strip()


def load_endpoint(session: Session, kind: str | EndpointType | None, endpoint_id: int | None) -> Endpoint | None:
    if kind is None or endpoint_id is None:
        return None
    try:
        model = ENDPOINT_MODELS[EndpointType(kind)]
    except ValueError:
        return None
    return cast(Endpoint | None, session.get(model, endpoint_id))


def delete_endpoint(session: Session, endpoint: Endpoint) -> None:
    """Remove an endpoint; routes that used it now reject mail, as in Postal."""
    kind = endpoint_kind(endpoint)
    session.execute(
        update(Route)
        .where(Route.endpoint_type == kind, Route.endpoint_id == endpoint.id)
        .values(mode=RouteMode.REJECT, endpoint_type=None, endpoint_id=None)
    )
    for extra in session.scalars(
        select(AdditionalRouteEndpoint).where(
            AdditionalRouteEndpoint.endpoint_type == kind, AdditionalRouteEndpoint.endpoint_id == endpoint.id
        )
    ):
        session.delete(extra)
    session.delete(endpoint)
    session.flush()


def update_http_endpoint(
    session: Session,
    endpoint: HTTPEndpoint,
    name: str | None = None,
    url: str | None = None,
    encoding: str | None = None,
    format: str | None = None,
    strip_replies: bool | None = None,
    include_attachments: bool | None = None,
    timeout: int | None = None,
) -> HTTPEndpoint:
    if name is not None:
        endpoint.name = _valid_name(name)
    if url is not None:
        endpoint.url = valid_url(url)
    if timeout is not None:
        endpoint.timeout = _valid_timeout(timeout)
    if encoding is not None:
        endpoint.encoding = parse_choice("encoding", encoding, HTTPEncoding)
    if format is not None:
        endpoint.format = parse_choice("format", format, HTTPFormat)
    if strip_replies is not None:
        endpoint.strip_replies = strip_replies
    if include_attachments is not None:
        endpoint.include_attachments = include_attachments
    session.flush()
    return endpoint


def update_smtp_endpoint(
    session: Session,
    endpoint: SMTPEndpoint,
    name: str | None = None,
    hostname: str | None = None,
    port: int | None = None,
    ssl_mode: str | None = None,
) -> SMTPEndpoint:
    if name is not None:
        endpoint.name = _valid_name(name)
    if hostname is not None:
        endpoint.hostname = _valid_hostname(hostname)
    if port is not None:
        endpoint.port = _valid_port(port)
    if ssl_mode is not None:
        endpoint.ssl_mode = parse_choice("ssl_mode", ssl_mode, SSLMode)
    session.flush()
    return endpoint


def update_address_endpoint(session: Session, endpoint: AddressEndpoint, address: str) -> AddressEndpoint:
    endpoint.address = _valid_address(session, endpoint.server_id, address, endpoint.id)
    session.flush()
    return endpoint
