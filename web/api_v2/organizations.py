"""`/organizations`: list what the token's user may see; global admins create; organization admins change."""

from __future__ import annotations

from functools import cache
from typing import Any
from zoneinfo import available_timezones

from core import presenters
from core.errors import ValidationError
from core.tenancy.organizations import create_organization
from core.tenancy.permissions import visible_organizations
from models.base import utcnow
from models.organization import Organization
from web.api_v2.call import Call
from web.api_v2.operations import Operations
from web.api_v2.pagination import paginate
from web.api_v2.schema import boolean, integer, nullable, obj, ref, string

ops = Operations("organizations")
PERMALINK = string(max_length=60, min_length=1, pattern=r"\A[a-z0-9-]+\Z")
TIME_ZONE = string(max_length=64, min_length=1)
TIMESTAMP = nullable(string(format="date-time"))
SCHEMAS = {
    "Organization": obj(
        {
            "id": integer(),
            "uuid": string(),
            "name": string(),
            "permalink": string(),
            "time_zone": string(),
            "suspended": boolean(),
            "created_at": TIMESTAMP,
        },
        required=("id", "uuid", "name", "permalink", "time_zone", "suspended", "created_at"),
    ),
}
ORGANIZATION = ref("Organization")


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def _time_zone(value: str) -> str:
    if value not in _time_zones():
        raise ValidationError("time_zone", f"{value!r} is not a known time zone (e.g. Europe/London)")
    return value


def _name(value: str) -> str:
    if not value.strip():
        raise ValidationError("name", "can't be blank")
    return value.strip()


@ops.get("/organizations", "List organizations", response=ORGANIZATION, paginated=True)
def list_organizations(call: Call) -> dict[str, Any]:
    """Every organization for global admins; the ones the user is a member of for everyone else."""
    query = visible_organizations(call.user)
    return paginate(call.session, query, Organization.id, call.limit, call.cursor, presenters.organization)


@ops.post(
    "/organizations",
    "Create an organization",
    status=201,
    response=ORGANIZATION,
    body=obj({"name": string(min_length=1), "permalink": PERMALINK, "time_zone": TIME_ZONE}, required=("name",)),
)
def add_organization(call: Call) -> dict[str, Any]:
    """Global admins only; the caller becomes its owner."""
    call.require_global_admin()
    org = create_organization(
        call.session,
        _name(call.body["name"]),
        call.field("permalink"),
        owner=call.user,
        time_zone=_time_zone(call.field("time_zone", "UTC")),
    )
    return presenters.organization(org)


@ops.get("/organizations/{org}", "Get an organization", response=ORGANIZATION)
def get_organization(call: Call) -> dict[str, Any]:
    return presenters.organization(call.organization())


@ops.patch(
    "/organizations/{org}",
    "Change an organization",
    response=ORGANIZATION,
    body=obj({"name": string(min_length=1), "time_zone": TIME_ZONE}),
)
def update_organization(call: Call) -> dict[str, Any]:
    """Organization admins; the permalink stays (it is in every URL and SMTP username)."""
    org = call.organization(admin=True)
    if "name" in call.body:
        org.name = _name(call.body["name"])
    if "time_zone" in call.body:
        org.time_zone = _time_zone(call.body["time_zone"])
    call.session.flush()
    return presenters.organization(org)


@ops.delete("/organizations/{org}", "Delete an organization")
def delete_organization(call: Call) -> None:
    """Organization admins. Soft delete, as Postal: its servers stop sending and receiving."""
    org = call.organization(admin=True)
    org.deleted_at = utcnow()
    call.runtime.servers.forget()
    # Postal queues the hard deletion at once (ActionDeletionJob); the hourly task catches up.
    call.after_commit_publish_maintenance("action_deletions")
