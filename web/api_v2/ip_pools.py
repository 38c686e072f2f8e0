"""IP pools: `/ip-pools` and their addresses (global admins), the pools of an organization, and
the rules that send an organization's or a server's matching mail through a pool (reference §3.1)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core import presenters
from core.errors import ValidationError
from core.tenancy.ip_pools import (
    add_address,
    add_rule,
    assign_pool,
    create_pool,
    delete_pool,
    find_pool,
    organization_pools,
    unassign_pool,
    update_address,
    update_pool,
    update_rule,
)
from models.enums import OwnerType
from models.ip_pool import IPAddress, IPPool, IPPoolRule
from models.server import Server
from web.api_v2.call import Call
from web.api_v2.errors import not_found
from web.api_v2.operations import Operations
from web.api_v2.owners import Owner, OwnerOf, organization_owner, owner_type, server_owner
from web.api_v2.pagination import paginate
from web.api_v2.schema import array, boolean, enum, integer, nullable, obj, ref, string

ops = Operations("ip-pools")
POOLS = "/ip-pools"
POOL = POOLS + "/{uuid}"
ADDRESSES = POOL + "/addresses"
ADDRESS = ADDRESSES + "/{id}"
CONDITIONS = {
    **array(string(min_length=1), max_items=100),
    "description": "`user@domain` (a tag is ignored) or `domain`; any one matching is enough.",
}
SCHEMAS = {
    "IPPool": obj(
        {
            "id": integer(),
            "uuid": string(),
            "name": string(),
            "permalink": string(),
            "default": boolean(),
            "queue": string(),
        },
        required=("id", "uuid", "name", "permalink", "default", "queue"),
    ),
    "IPAddress": obj(
        {
            "id": integer(),
            "ip_pool_id": integer(),
            "ipv4": string(),
            "ipv6": nullable(string()),
            "hostname": string(),
            "priority": integer(),
        },
        required=("id", "ip_pool_id", "ipv4", "ipv6", "hostname", "priority"),
    ),
    "IPRule": obj(
        {
            "id": integer(),
            "uuid": string(),
            "owner_type": enum(*(t.value for t in OwnerType)),
            "owner_id": integer(),
            "ip_pool_id": integer(),
            "from": array(string()),
            "to": array(string()),
        },
        required=("id", "uuid", "owner_type", "owner_id", "ip_pool_id", "from", "to"),
    ),
}
IP_POOL = ref("IPPool")


def _pool(call: Call) -> IPPool:
    """A pool by uuid or permalink, for global admins."""
    call.require_global_admin()
    return find_pool(call.session, call.params["uuid"])


def _address(call: Call) -> IPAddress:
    pool = _pool(call)
    text = call.params["id"]
    address = None
    if text.isascii() and text.isdigit() and len(text) <= 18:
        address = call.session.scalar(
            select(IPAddress).where(IPAddress.id == int(text), IPAddress.ip_pool_id == pool.id)
        )
    if address is None:
        raise not_found("IP address")
    return address


def _changed(call: Call) -> None:
    """Pools and addresses are cached by every worker; servers cache their rules and pool."""
    call.runtime.pools.forget()
    call.runtime.servers.forget()


# -- pools and addresses: global admins -------------------------------------------------------


@ops.get(POOLS, "List IP pools", response=IP_POOL, paginated=True, description="Global admins.")
def list_ip_pools(call: Call) -> dict[str, Any]:
    call.require_global_admin()
    return paginate(call.session, select(IPPool), IPPool.id, call.limit, call.cursor, presenters.ip_pool)


@ops.post(
    POOLS,
    "Create an IP pool",
    status=201,
    response=IP_POOL,
    body=obj(
        {"name": string(min_length=1), "permalink": string(min_length=1, max_length=60), "default": boolean()},
        required=("name",),
    ),
    description="Global admins. Mail through it is queued on `outgoing-<permalink>`; `default` pools are "
    "given to new organizations.",
)
def add_ip_pool(call: Call) -> dict[str, Any]:
    call.require_global_admin()
    pool = create_pool(call.session, call.body["name"], call.field("permalink"), default=bool(call.field("default")))
    _changed(call)
    return presenters.ip_pool(pool)


@ops.get(POOL, "Get an IP pool", response=IP_POOL, description="By uuid or permalink; global admins.")
def get_ip_pool(call: Call) -> dict[str, Any]:
    return presenters.ip_pool(_pool(call))


@ops.patch(POOL, "Change an IP pool", response=IP_POOL, body=obj({"name": string(min_length=1), "default": boolean()}))
def update_ip_pool(call: Call) -> dict[str, Any]:
    pool = update_pool(call.session, _pool(call), call.field("name"), call.field("default"))
    return presenters.ip_pool(pool)


@ops.delete(
    POOL,
    "Delete an IP pool",
    description="With its addresses and rules; its servers send from the default queue afterwards.",
)
def delete_ip_pool(call: Call) -> None:
    delete_pool(call.session, _pool(call))
    _changed(call)


@ops.get(ADDRESSES, "List a pool's addresses", response=ref("IPAddress"), paginated=True)
def list_ip_addresses(call: Call) -> dict[str, Any]:
    pool = _pool(call)
    query = select(IPAddress).where(IPAddress.ip_pool_id == pool.id)
    return paginate(call.session, query, IPAddress.id, call.limit, call.cursor, presenters.ip_address)


@ops.post(
    ADDRESSES,
    "Add an address to a pool",
    status=201,
    response=ref("IPAddress"),
    body=obj(
        {
            "ipv4": string(min_length=1, max_length=45),
            "ipv6": nullable(string(min_length=1, max_length=45)),
            "hostname": string(min_length=1),
            "priority": integer(minimum=0, maximum=100),
        },
        required=("ipv4", "hostname"),
    ),
    description="`priority` (0-100, default 100) weighs how often it is chosen.",
)
def add_ip_address(call: Call) -> dict[str, Any]:
    pool = _pool(call)
    address = add_address(
        call.session, pool, call.body["ipv4"], call.body["hostname"], call.field("ipv6"), call.field("priority", 100)
    )
    _changed(call)
    return presenters.ip_address(address)


@ops.get(ADDRESS, "Get an address of a pool", response=ref("IPAddress"))
def get_ip_address(call: Call) -> dict[str, Any]:
    return presenters.ip_address(_address(call))


@ops.patch(
    ADDRESS,
    "Change an address's host name or priority",
    response=ref("IPAddress"),
    body=obj({"hostname": string(min_length=1), "priority": integer(minimum=0, maximum=100)}),
)
def update_ip_address(call: Call) -> dict[str, Any]:
    address = update_address(call.session, _address(call), call.field("hostname"), call.field("priority"))
    _changed(call)
    return presenters.ip_address(address)


@ops.delete(ADDRESS, "Remove an address from a pool")
def delete_ip_address(call: Call) -> None:
    call.session.delete(_address(call))
    _changed(call)


# -- the pools of an organization -------------------------------------------------------------


@ops.get(
    "/organizations/{org}/ip-pools",
    "List the organization's IP pools",
    response=array(IP_POOL),
    description="The pools its servers and rules may use; members see them.",
)
def list_organization_ip_pools(call: Call) -> list[dict[str, Any]]:
    org = call.organization()
    return [presenters.ip_pool(p) for p in organization_pools(call.session, org.id)]


@ops.post(
    "/organizations/{org}/ip-pools",
    "Give an IP pool to the organization",
    response=array(IP_POOL),
    body=obj({"ip_pool": string(min_length=1)}, required=("ip_pool",)),
    description="Global admins; `ip_pool` is a uuid or permalink. Answers the organization's pools.",
)
def assign_organization_ip_pool(call: Call) -> list[dict[str, Any]]:
    call.require_global_admin()
    org = call.organization()
    assign_pool(call.session, org, find_pool(call.session, call.body["ip_pool"]))
    return [presenters.ip_pool(p) for p in organization_pools(call.session, org.id)]


@ops.delete(
    "/organizations/{org}/ip-pools/{uuid}",
    "Take an IP pool away from the organization",
    description="Global admins. Servers and rules that use it keep it until they are changed.",
)
def unassign_organization_ip_pool(call: Call) -> None:
    call.require_global_admin()
    org = call.organization()
    if not unassign_pool(call.session, org, find_pool(call.session, call.params["uuid"])):
        raise not_found("IP pool")


# -- rules ------------------------------------------------------------------------------------


def _rule_pool(call: Call, owner: Owner) -> IPPool:
    """The pool named in the body: any pool for global admins (it is then given to the
    organization), one of the organization's pools for everyone else."""
    pool = find_pool(call.session, call.body["ip_pool"])
    organization_id = owner.organization_id if isinstance(owner, Server) else owner.id
    if not call.user.admin and pool.id not in {p.id for p in organization_pools(call.session, organization_id)}:
        raise ValidationError("ip_pool", f"{pool.permalink} is not one of the organization's IP pools")
    return pool


def _conditions(call: Call, name: str) -> str | None:
    return "\n".join(call.body[name]) if name in call.body else None


def _declare(prefix: str, kind: str, owner_of: OwnerOf) -> None:
    """The same five operations under each kind of owner."""
    base = f"{prefix}/ip-rules"
    item = f"{base}/{{uuid}}"
    rule_ref = ref("IPRule")

    def found(call: Call, write: bool) -> IPPoolRule:
        owner = owner_of(call, write)
        rule = call.session.scalar(
            select(IPPoolRule).where(
                IPPoolRule.owner_type == owner_type(owner),
                IPPoolRule.owner_id == owner.id,
                IPPoolRule.uuid == call.params["uuid"],
            )
        )
        if rule is None:
            raise not_found("IP rule")
        return rule

    @ops.get(
        base, f"List the {kind}'s IP rules", response=rule_ref, paginated=True, operation_id=f"list_{kind}_ip_rules"
    )
    def list_rules(call: Call) -> dict[str, Any]:
        owner = owner_of(call, False)
        query = select(IPPoolRule).where(IPPoolRule.owner_type == owner_type(owner), IPPoolRule.owner_id == owner.id)
        return paginate(call.session, query, IPPoolRule.id, call.limit, call.cursor, presenters.ip_rule)

    @ops.post(
        base,
        f"Add an IP rule to the {kind}",
        status=201,
        response=rule_ref,
        body=obj({"ip_pool": string(min_length=1), "from": CONDITIONS, "to": CONDITIONS}, required=("ip_pool",)),
        operation_id=f"create_{kind}_ip_rule",
        description="Mail from any `from` address or to any `to` address goes through `ip_pool` (uuid or "
        "permalink); at least one condition.",
    )
    def create(call: Call) -> dict[str, Any]:
        owner = owner_of(call, True)
        if not any(c.strip() for c in (*call.field("from", []), *call.field("to", []))):
            raise ValidationError("from", "or to: at least one condition is needed")
        rule = add_rule(
            call.session, owner, _rule_pool(call, owner), _conditions(call, "from"), _conditions(call, "to")
        )
        call.runtime.servers.forget()
        return presenters.ip_rule(rule)

    @ops.get(item, f"Get an IP rule of the {kind}", response=rule_ref, operation_id=f"get_{kind}_ip_rule")
    def get_rule(call: Call) -> dict[str, Any]:
        return presenters.ip_rule(found(call, False))

    @ops.patch(
        item,
        f"Change an IP rule of the {kind}",
        response=rule_ref,
        body=obj({"ip_pool": string(min_length=1), "from": CONDITIONS, "to": CONDITIONS}),
        operation_id=f"update_{kind}_ip_rule",
    )
    def change(call: Call) -> dict[str, Any]:
        rule = found(call, True)
        owner = owner_of(call, True)
        pool = _rule_pool(call, owner) if "ip_pool" in call.body else None
        try:
            update_rule(call.session, rule, pool, _conditions(call, "from"), _conditions(call, "to"))
        except ValidationError as exc:
            if exc.field == "rule":
                raise ValidationError("from", "or to: at least one condition is needed") from None
            raise
        call.runtime.servers.forget()
        return presenters.ip_rule(rule)

    @ops.delete(item, f"Delete an IP rule of the {kind}", operation_id=f"delete_{kind}_ip_rule")
    def delete_rule(call: Call) -> None:
        call.session.delete(found(call, True))
        call.runtime.servers.forget()


_declare("/organizations/{org}", "organization", organization_owner)
_declare("/organizations/{org}/servers/{server}", "server", server_owner)
