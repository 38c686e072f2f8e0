"""`/organizations/{org}/servers/{server}/{http,smtp,address}-endpoints`: where incoming mail goes.

One collection per kind, since each kind has its own fields; routes name them by `ref`
(`http:UUID`, `smtp:UUID`, `address:UUID`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from core import presenters
from core.incoming.endpoints import (
    create_address_endpoint,
    create_http_endpoint,
    create_smtp_endpoint,
    delete_endpoint,
    find_endpoint,
    update_address_endpoint,
    update_http_endpoint,
    update_smtp_endpoint,
)
from models.endpoint import ENDPOINT_MODELS, Endpoint
from models.enums import EndpointType, HTTPEncoding, HTTPFormat, SSLMode
from web.api_v2.call import Call
from web.api_v2.errors import not_found
from web.api_v2.operations import Operations
from web.api_v2.pagination import paginate
from web.api_v2.schema import Schema, boolean, enum, integer, nullable, obj, ref, string

ops = Operations("endpoints")
SERVER = "/organizations/{org}/servers/{server}"
COMMON: dict[str, Schema] = {
    "id": integer(),
    "uuid": string(),
    "ref": string(),
    "server_id": integer(),
    "last_used_at": nullable(string()),
}
COMMON_REQUIRED = ("id", "uuid", "type", "ref", "server_id", "last_used_at")
# The fields a client sends, per kind.
HTTP_FIELDS: dict[str, Schema] = {
    "name": string(min_length=1),
    "url": string(min_length=1, max_length=2048),
    "encoding": enum(*(e.value for e in HTTPEncoding)),
    "format": enum(*(f.value for f in HTTPFormat)),
    "strip_replies": boolean(),
    "include_attachments": boolean(),
    "timeout": integer(minimum=5, maximum=60),
}
SMTP_FIELDS: dict[str, Schema] = {
    "name": string(min_length=1),
    "hostname": string(min_length=1),
    "port": integer(minimum=1, maximum=65535),
    "ssl_mode": enum(*(m.value for m in SSLMode)),
}
ADDRESS_FIELDS: dict[str, Schema] = {"address": string(min_length=3)}
SCHEMAS = {
    "HTTPEndpoint": obj(
        {**COMMON, "type": enum(EndpointType.HTTP.value), **HTTP_FIELDS},
        required=(*COMMON_REQUIRED, *HTTP_FIELDS),
    ),
    "SMTPEndpoint": obj(
        {**COMMON, "type": enum(EndpointType.SMTP.value), **SMTP_FIELDS},
        required=(*COMMON_REQUIRED, *SMTP_FIELDS),
    ),
    "AddressEndpoint": obj(
        {**COMMON, "type": enum(EndpointType.ADDRESS.value), **ADDRESS_FIELDS},
        required=(*COMMON_REQUIRED, *ADDRESS_FIELDS),
    ),
}


def usable_ref(text: str) -> bool:
    """The use-cases take an id as well as a uuid, but only an id a database column can hold."""
    return not text.isdigit() or (text.isascii() and len(text) <= 18)


def path_ref(call: Call, kind: str) -> str:
    """The `{uuid}` of the path."""
    if not usable_ref(call.params["uuid"]):
        raise not_found(kind)
    return call.params["uuid"]


def _create_http(call: Call) -> Endpoint:
    return create_http_endpoint(call.session, call.server(), **call.body)


def _create_smtp(call: Call) -> Endpoint:
    return create_smtp_endpoint(call.session, call.server(), **call.body)


def _create_address(call: Call) -> Endpoint:
    return create_address_endpoint(call.session, call.server(), call.body["address"])


def _update_http(call: Call, endpoint: Any) -> Endpoint:
    return update_http_endpoint(call.session, endpoint, **call.body)


def _update_smtp(call: Call, endpoint: Any) -> Endpoint:
    return update_smtp_endpoint(call.session, endpoint, **call.body)


def _update_address(call: Call, endpoint: Any) -> Endpoint:
    """An empty change answers the endpoint as it is."""
    if "address" in call.body:
        return update_address_endpoint(call.session, endpoint, call.body["address"])
    return endpoint


def _declare(
    kind: EndpointType,
    slug: str,
    fields: dict[str, Schema],
    required: tuple[str, ...],
    create: Callable[[Call], Endpoint],
    change: Callable[[Call, Any], Endpoint],
) -> None:
    """The five operations of one kind of endpoint."""
    base = f"{SERVER}/{slug}-endpoints"
    item = f"{base}/{{uuid}}"
    response = ref(kind.value)
    model = ENDPOINT_MODELS[kind]
    label = "address" if kind is EndpointType.ADDRESS else slug.upper()

    def found(call: Call) -> Endpoint:
        server = call.server()
        return find_endpoint(call.session, server, kind, path_ref(call, kind.value))

    @ops.get(base, f"List {label} endpoints", response=response, paginated=True, operation_id=f"list_{slug}_endpoints")
    def list_endpoints(call: Call) -> dict[str, Any]:
        server = call.server()
        query = select(model).where(model.server_id == server.id)
        return paginate(call.session, query, model.id, call.limit, call.cursor, presenters.endpoint)

    @ops.post(
        base,
        f"Create an {label} endpoint",
        status=201,
        response=response,
        body=obj(fields, required=required),
        operation_id=f"create_{slug}_endpoint",
    )
    def create_endpoint(call: Call) -> dict[str, Any]:
        endpoint = create(call)
        call.runtime.servers.forget(endpoint.server_id)
        return presenters.endpoint(endpoint)

    @ops.get(item, f"Get an {label} endpoint", response=response, operation_id=f"get_{slug}_endpoint")
    def get_endpoint(call: Call) -> dict[str, Any]:
        return presenters.endpoint(found(call))

    @ops.patch(
        item,
        f"Change an {label} endpoint",
        response=response,
        body=obj(fields),
        operation_id=f"update_{slug}_endpoint",
    )
    def update_endpoint(call: Call) -> dict[str, Any]:
        endpoint = change(call, found(call))
        call.runtime.servers.forget(endpoint.server_id)
        return presenters.endpoint(endpoint)

    @ops.delete(
        item,
        f"Delete an {label} endpoint",
        operation_id=f"delete_{slug}_endpoint",
        description="Routes that used it reject mail from then on, as in Postal.",
    )
    def remove_endpoint(call: Call) -> None:
        endpoint = found(call)
        delete_endpoint(call.session, endpoint)
        call.runtime.servers.forget(endpoint.server_id)


_declare(EndpointType.HTTP, "http", HTTP_FIELDS, ("name", "url"), _create_http, _update_http)
_declare(EndpointType.SMTP, "smtp", SMTP_FIELDS, ("name", "hostname"), _create_smtp, _update_smtp)
_declare(EndpointType.ADDRESS, "address", ADDRESS_FIELDS, ("address",), _create_address, _update_address)
