"""`/organizations/{org}/servers`: mail servers, their settings, suspension, and how to send and
receive through them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core import presenters
from core.errors import ValidationError
from core.tenancy.ip_pools import find_pool
from core.tenancy.permissions import visible_servers
from core.tenancy.servers import create_server
from core.tenancy.suspensions import send_notice, suspend_server, unsuspend_server
from core.tenancy.users import EMAIL_RE
from models.base import utcnow
from models.enums import ServerMode
from models.ip_pool import OrganizationIPPool
from models.server import Server
from web.api_v2.call import Call
from web.api_v2.errors import forbidden
from web.api_v2.operations import Operations
from web.api_v2.pagination import paginate
from web.api_v2.schema import Schema, array, boolean, enum, integer, nullable, number, obj, ref, string

ops = Operations("servers")
MODES = enum(*(m.value for m in ServerMode))
THRESHOLD = number(minimum=-1000, maximum=1000)
# Settings any member with access to the server may change.
MEMBER_SETTINGS: dict[str, Schema] = {
    "name": string(min_length=1),
    "mode": MODES,
    "postmaster_address": nullable(string()),
    "spam_threshold": THRESHOLD,
    "spam_failure_threshold": THRESHOLD,
}
# Settings only global admins may change, as in Postal's admin-only "advanced settings".
ADMIN_SETTINGS: dict[str, Schema] = {
    "send_limit": nullable(integer(minimum=0, maximum=2**31 - 1)),
    "message_retention_days": integer(minimum=1, maximum=36500),
    "raw_message_retention_days": integer(minimum=1, maximum=36500),
    "raw_message_retention_size": integer(minimum=1, maximum=2**31 - 1),
    "allow_sender": boolean(),
    "privacy_mode": boolean(),
    "log_smtp_data": boolean(),
    "outbound_spam_threshold": nullable(THRESHOLD),
    "ip_pool": string(min_length=1),
}
SCHEMAS = {
    "Server": obj(
        {
            "id": integer(),
            "uuid": string(),
            "name": string(),
            "permalink": string(),
            "organization": string(),
            "organization_id": integer(),
            "token": string(),
            "status": enum("Live", "Development", "Suspended"),
            "suspended": boolean(),
            "suspension_reason": nullable(string()),
            "ip_pool_id": nullable(integer()),
            "created_at": nullable(string()),
            **{k: v for k, v in MEMBER_SETTINGS.items() if k != "name"},
            **{k: v for k, v in ADMIN_SETTINGS.items() if k != "ip_pool"},
        },
        required=("id", "uuid", "name", "permalink", "mode", "status", "suspended"),
    )
}
SCHEMAS["Connection"] = obj(
    {
        "smtp_hostname": string(),
        "smtp_ports": array(obj({"port": integer(), "security": enum("STARTTLS", "TLS", "None")})),
        "api_url": string(),
        "api_key_header": string(),
        "route_domain": string(),
        "mx_records": array(string()),
    },
    required=("smtp_hostname", "smtp_ports", "api_url", "api_key_header", "route_domain", "mx_records"),
)
SERVER = ref("Server")


@ops.get("/organizations/{org}/servers", "List servers", response=SERVER, paginated=True)
def list_servers(call: Call) -> dict[str, Any]:
    """The servers of the organization the user may use."""
    org = call.organization()
    query = visible_servers(call.session, call.user, org)
    return paginate(
        call.session, query, Server.id, call.limit, call.cursor, lambda s: presenters.server_settings(s, org)
    )


@ops.post(
    "/organizations/{org}/servers",
    "Create a server",
    status=201,
    response=SERVER,
    body=obj({"name": string(min_length=1), "permalink": string(min_length=1, max_length=60), "mode": MODES},
             required=("name",)),
)  # fmt: skip
def add_server(call: Call) -> dict[str, Any]:
    """Organization admins; creates the server's message database too."""
    org = call.organization(admin=True)
    server = create_server(
        call.session,
        call.runtime.config,
        call.runtime.message_dbs,
        org,
        call.body["name"],
        call.field("permalink"),
        ServerMode(call.field("mode", ServerMode.LIVE.value)),
    )
    return presenters.server_settings(server, org)


@ops.get("/organizations/{org}/servers/{server}", "Get a server with its settings", response=SERVER)
def get_server(call: Call) -> dict[str, Any]:
    server = call.server()
    return presenters.server_settings(server, call.organization())


@ops.get(
    "/organizations/{org}/servers/{server}/connection",
    "How to send and receive mail through a server",
    response=ref("Connection"),
    operation_id="server_connection",
)
def connection(call: Call) -> dict[str, Any]:
    """The SMTP host and ports (with their security) that take mail with an SMTP credential,
    the HTTP API v1 endpoint that takes it with an API credential, and for incoming mail the
    route domain and the MX records a receiving domain points at."""
    call.server()
    config = call.runtime.config
    smtp = config.smtp_server
    ports = [{"port": smtp.default_port, "security": "STARTTLS" if smtp.tls_enabled else "None"}]
    if config.smtp_implicit_tls_port:
        ports.append({"port": config.smtp_implicit_tls_port, "security": "TLS"})
    postal = config.postal
    return {
        "smtp_hostname": postal.smtp_hostname,
        "smtp_ports": ports,
        "api_url": f"{postal.web_protocol}://{postal.web_hostname}/api/v1/send/message",
        "api_key_header": "X-Server-API-Key",
        "route_domain": config.dns.route_domain,
        "mx_records": list(config.dns.mx_records),
    }


@ops.patch(
    "/organizations/{org}/servers/{server}",
    "Change a server's settings",
    response=SERVER,
    body=obj({**MEMBER_SETTINGS, **ADMIN_SETTINGS}),
)
def update_server(call: Call) -> dict[str, Any]:
    """Members with access change the basic settings; send limit, retention, privacy mode, allow
    sender, SMTP logging, outbound spam threshold and IP pool need a global admin."""
    server = call.server()
    org = call.organization()
    admin_only = sorted(set(call.body) & set(ADMIN_SETTINGS))
    if admin_only and not call.user.admin:
        raise forbidden(f"only global administrators can change {', '.join(admin_only)}")
    for key, value in call.body.items():
        if key == "name":
            _rename(call, server, value)
        elif key == "mode":
            server.mode = ServerMode(value)
        elif key == "postmaster_address":
            if value is not None and not EMAIL_RE.match(value):
                raise ValidationError("postmaster_address", "is not a valid e-mail address")
            server.postmaster_address = value
        elif key == "ip_pool":
            server.ip_pool_id = _pool_of(call, org.id, value)
        else:
            setattr(server, key, value)
    call.session.flush()
    call.runtime.servers.forget(server.id)
    return presenters.server_settings(server, org)


def _rename(call: Call, server: Server, name: str) -> None:
    name = name.strip()
    if not name:
        raise ValidationError("name", "can't be blank")
    clash = call.session.scalar(
        select(Server.id).where(
            Server.organization_id == server.organization_id, Server.name == name, Server.id != server.id
        )
    )
    if clash is not None:
        raise ValidationError("name", f"{name!r} has already been taken")
    server.name = name


def _pool_of(call: Call, organization_id: int, ref_: str) -> int:
    pool = find_pool(call.session, ref_)
    allowed = call.session.scalar(
        select(OrganizationIPPool.id).where(
            OrganizationIPPool.organization_id == organization_id, OrganizationIPPool.ip_pool_id == pool.id
        )
    )
    if allowed is None:
        raise ValidationError("ip_pool", f"{pool.permalink} is not one of the organization's IP pools")
    return pool.id


@ops.delete("/organizations/{org}/servers/{server}", "Delete a server")
def delete_server(call: Call) -> None:
    """Organization admins. Soft delete, as Postal: it stops sending and receiving at once."""
    call.organization(admin=True)
    server = call.server()
    server.deleted_at = utcnow()
    call.runtime.servers.forget(server.id)
    # Postal queues the hard deletion at once (ActionDeletionJob); the hourly task catches up.
    call.after_commit_publish_maintenance("action_deletions")


@ops.post(
    "/organizations/{org}/servers/{server}/suspend",
    "Suspend a server",
    response=SERVER,
    body=obj({"reason": string(min_length=1)}, required=("reason",)),
)
def suspend(call: Call) -> dict[str, Any]:
    """Global admins. Its queued mail is held back and new mail refused until it is unsuspended;
    every user of the organization is told by e-mail (through the `smtp` section's server)."""
    call.require_global_admin()
    server = call.server()
    notice = suspend_server(call.session, call.runtime.config, server, call.body["reason"])
    result = presenters.server_settings(server, call.organization())
    call.commit()
    call.runtime.servers.forget(server.id)
    send_notice(call.runtime.config, notice)
    return result


@ops.post("/organizations/{org}/servers/{server}/unsuspend", "Unsuspend a server", response=SERVER)
def unsuspend(call: Call) -> dict[str, Any]:
    """Global admins. The organization's people are told by e-mail, as they were of the suspension."""
    call.require_global_admin()
    server = call.server()
    notice = unsuspend_server(call.session, call.runtime.config, server)
    result = presenters.server_settings(server, call.organization())
    call.commit()
    call.runtime.servers.forget(server.id)
    send_notice(call.runtime.config, notice)
    return result
