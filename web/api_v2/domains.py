"""Domains of an organization (`/organizations/{org}/domains`) or of a server
(`/organizations/{org}/servers/{server}/domains`): the records to publish, checks, verification."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core import presenters
from core.dns import make_resolver
from core.tenancy.dns_checks import Lookup, check_domain, domain_lookup, verify_domain
from core.tenancy.domains import add_domain, dns_records
from models.domain import Domain
from web.api_v2.call import Call
from web.api_v2.errors import forbidden, not_found
from web.api_v2.operations import Operations
from web.api_v2.owners import Owner, OwnerOf, organization_owner, owner_type, server_owner
from web.api_v2.pagination import paginate
from web.api_v2.schema import array, boolean, enum, integer, nullable, obj, ref, string

ops = Operations("domains")
STATUS = nullable(enum("OK", "Missing", "Invalid"))
SCHEMAS = {
    "Domain": obj(
        {
            "id": integer(),
            "uuid": string(),
            "name": string(),
            "owner_type": enum("Organization", "Server"),
            "owner_id": integer(),
            "verified": boolean(),
            "verified_at": nullable(string()),
            "verification_method": enum("DNS", "Email"),
            "dns_checked_at": nullable(string()),
            "dns_ok": boolean(),
        },
        required=("id", "uuid", "name", "owner_type", "verified", "dns_ok"),
    ),
    "DNSRecords": obj(
        {
            "domain": string(),
            "records": array(
                obj(
                    {
                        "purpose": enum("verification", "spf", "dkim", "return_path", "mx"),
                        "type": enum("TXT", "CNAME", "MX"),
                        "name": string(),
                        "value": {"type": "string"},
                        "priority": nullable(integer()),
                    },
                    required=("purpose", "type", "name", "value", "priority"),
                )
            ),
        },
        required=("domain", "records"),
    ),
    "DNSStatus": obj(
        {
            "domain": string(),
            "uuid": string(),
            **{f"{check}_status": STATUS for check in ("spf", "dkim", "mx", "return_path")},
            **{f"{check}_error": nullable({"type": "string"}) for check in ("spf", "dkim", "mx", "return_path")},
            "dns_checked_at": nullable(string()),
            "dns_ok": boolean(),
            "verified": boolean(),
        },
        required=("domain", "uuid", "dns_ok", "verified"),
    ),
}
DOMAIN = ref("Domain")


def _domain(call: Call, owner: Owner) -> Domain:
    domain = call.session.scalar(
        select(Domain).where(
            Domain.owner_type == owner_type(owner), Domain.owner_id == owner.id, Domain.uuid == call.params["uuid"]
        )
    )
    if domain is None:
        raise not_found("domain")
    return domain


def _lookup(call: Call, domain: Domain) -> Lookup:
    # Uncached, so that a check sees the records the user has just published.
    return domain_lookup(call.runtime.config, make_resolver(call.runtime.config), domain.name)


def _declare(prefix: str, kind: str, owner_of: OwnerOf) -> None:
    """The same seven operations under each kind of owner."""
    base = f"{prefix}/domains"
    item = f"{base}/{{uuid}}"

    @ops.get(base, f"List the {kind}'s domains", response=DOMAIN, paginated=True, operation_id=f"list_{kind}_domains")
    def list_domains(call: Call) -> dict[str, Any]:
        owner = owner_of(call, False)
        query = select(Domain).where(Domain.owner_type == owner_type(owner), Domain.owner_id == owner.id)
        return paginate(call.session, query, Domain.id, call.limit, call.cursor, presenters.domain)

    @ops.post(
        base,
        f"Add a domain to the {kind}",
        status=201,
        response=DOMAIN,
        body=obj({"name": string(min_length=1), "verified": boolean()}, required=("name",)),
        operation_id=f"create_{kind}_domain",
        description="`verified: true` skips the DNS verification; only global admins may ask for it.",
    )
    def create(call: Call) -> dict[str, Any]:
        owner = owner_of(call, True)
        verified = bool(call.field("verified", False))
        if verified and not call.user.admin:
            raise forbidden("only global administrators can add a domain as verified")
        domain = add_domain(call.session, call.runtime.config, owner, call.body["name"], verified=verified)
        return presenters.domain(domain)

    @ops.get(item, f"Get a domain of the {kind}", response=DOMAIN, operation_id=f"get_{kind}_domain")
    def get_domain(call: Call) -> dict[str, Any]:
        return presenters.domain(_domain(call, owner_of(call, False)))

    @ops.delete(item, f"Remove a domain of the {kind}", operation_id=f"delete_{kind}_domain")
    def delete_domain(call: Call) -> None:
        call.session.delete(_domain(call, owner_of(call, True)))
        call.runtime.servers.forget()

    @ops.get(
        f"{item}/dns-records",
        "The DNS records to publish",
        response=ref("DNSRecords"),
        operation_id=f"{kind}_domain_dns_records",
    )
    def records(call: Call) -> dict[str, Any]:
        domain = _domain(call, owner_of(call, False))
        return {"domain": domain.name, "records": [r.as_dict() for r in dns_records(call.runtime.config, domain)]}

    @ops.post(
        f"{item}/check",
        "Check the SPF, DKIM, MX and return-path records now",
        response=ref("DNSStatus"),
        operation_id=f"check_{kind}_domain",
    )
    def check(call: Call) -> dict[str, Any]:
        domain = _domain(call, owner_of(call, True))
        config = call.runtime.config
        check_domain(config, _lookup(call, domain), domain)
        call.runtime.servers.forget()
        return presenters.dns_status(domain)

    @ops.post(
        f"{item}/verify",
        "Verify ownership by the TXT record at the domain's apex",
        response=DOMAIN,
        operation_id=f"verify_{kind}_domain",
        description="Answers the domain; `verified` says whether the record was found.",
    )
    def verify(call: Call) -> dict[str, Any]:
        domain = _domain(call, owner_of(call, True))
        config = call.runtime.config
        verify_domain(config, _lookup(call, domain), domain)
        call.runtime.servers.forget()
        return presenters.domain(domain)


_declare("/organizations/{org}", "organization", organization_owner)
_declare("/organizations/{org}/servers/{server}", "server", server_owner)
