"""`/organizations/{org}/servers/{server}/credentials`: SMTP passwords, API keys and SMTP-IP networks.

The key of an SMTP or API credential is a secret: it is answered once, when the credential is made."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core import presenters
from core.errors import ValidationError
from core.tenancy.credentials import create_credential
from models.credential import Credential
from models.enums import CredentialType
from web.api_v2.call import Call
from web.api_v2.errors import not_found
from web.api_v2.operations import Operations
from web.api_v2.pagination import paginate
from web.api_v2.schema import boolean, enum, integer, nullable, obj, ref, string

ops = Operations("credentials")
BASE = "/organizations/{org}/servers/{server}/credentials"
ITEM = BASE + "/{uuid}"
SCHEMAS = {
    "Credential": obj(
        {
            "id": integer(),
            "uuid": string(),
            "server_id": integer(),
            "type": enum(*(t.value for t in CredentialType)),
            "name": string(),
            "key": nullable(string()),
            "hold": boolean(),
            "last_used_at": nullable(string()),
            "created_at": nullable(string()),
        },
        required=("id", "uuid", "type", "name", "key", "hold"),
    )
}
CREDENTIAL = ref("Credential")


def _present(credential: Credential, reveal: bool = False) -> dict[str, Any]:
    """SMTP-IP keys are networks, not secrets; other keys only when `reveal`."""
    data = presenters.credential(credential)
    if not reveal and credential.type is not CredentialType.SMTP_IP:
        data["key"] = None
    return data


def _credential(call: Call) -> Credential:
    server = call.server()
    credential = call.session.scalar(
        select(Credential).where(Credential.server_id == server.id, Credential.uuid == call.params["uuid"])
    )
    if credential is None:
        raise not_found("credential")
    return credential


@ops.get(BASE, "List credentials", response=CREDENTIAL, paginated=True)
def list_credentials(call: Call) -> dict[str, Any]:
    server = call.server()
    query = select(Credential).where(Credential.server_id == server.id)
    return paginate(call.session, query, Credential.id, call.limit, call.cursor, _present)


@ops.post(
    BASE,
    "Create a credential",
    status=201,
    response=CREDENTIAL,
    body=obj(
        {
            "type": enum(*(t.value for t in CredentialType)),
            "name": string(),
            "key": string(min_length=1),
            "hold": boolean(),
        },
        required=("type",),
    ),
    description="SMTP and API keys are random unless given; SMTP-IP needs `key`, an address or network. "
    "The answer is the only one that shows an SMTP or API key.",
)
def add_credential(call: Call) -> dict[str, Any]:
    server = call.server()
    credential = create_credential(
        call.session,
        server,
        CredentialType(call.body["type"]),
        call.field("name"),
        call.field("key"),
        hold=bool(call.field("hold", False)),
    )
    return _present(credential, reveal=True)


@ops.get(ITEM, "Get a credential", response=CREDENTIAL)
def get_credential(call: Call) -> dict[str, Any]:
    return _present(_credential(call))


@ops.patch(ITEM, "Rename a credential or change its hold", response=CREDENTIAL,
           body=obj({"name": string(min_length=1), "hold": boolean()}))  # fmt: skip
def update_credential(call: Call) -> dict[str, Any]:
    credential = _credential(call)
    if "name" in call.body:
        if not call.body["name"].strip():
            raise ValidationError("name", "can't be blank")
        credential.name = call.body["name"].strip()
    if "hold" in call.body:
        credential.hold = call.body["hold"]
    call.session.flush()
    return _present(credential)


@ops.delete(ITEM, "Delete a credential")
def delete_credential(call: Call) -> None:
    call.session.delete(_credential(call))
