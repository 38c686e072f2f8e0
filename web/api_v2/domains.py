"""Domains of an organization (`/organizations/{org}/domains`) or of a server
(`/organizations/{org}/servers/{server}/domains`): the records to publish, checks, verification."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core import presenters
from core.dns import make_resolver
from core.errors import ValidationError
from core.system_mail import send_system_mail
from core.tenancy.dns_checks import Lookup, check_domain, domain_lookup, verify_domain
from core.tenancy.domain_verification import (
    pending_code,
    send_verification_code,
    verification_addresses,
    verify_code,
)
from core.tenancy.domains import add_domain, dns_records, verification_record
from models.domain import Domain
from models.enums import VerificationMethod
from web.api_v2.call import Call
from web.api_v2.errors import forbidden, not_found
from web.api_v2.operations import Operations
from web.api_v2.owners import Owner, OwnerOf, organization_owner, owner_type, server_owner
from web.api_v2.pagination import paginate
from web.api_v2.schema import array, boolean, enum, integer, nullable, obj, ref, string

ops = Operations("domains")
STATUS = nullable(enum("OK", "Missing", "Invalid"))
METHOD = enum(*(m.value for m in VerificationMethod))
CODE = string(min_length=1, max_length=20)
CHECKS = ("spf", "dkim", "mx", "return_path")
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
            **{f"{check}_status": STATUS for check in CHECKS},
            **{f"{check}_error": nullable({"type": "string"}) for check in CHECKS},
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
    "DomainVerification": obj(
        {
            "domain": string(),
            "uuid": string(),
            "verified": boolean(),
            "verification_method": METHOD,
            "dns_record": nullable(obj({"type": string(), "name": string(), "value": string()})),
            "email_addresses": array(string()),
            "code_sent_at": nullable(string()),
            "code_expires_at": nullable(string()),
        },
        required=("domain", "uuid", "verified", "verification_method", "dns_record", "email_addresses"),
    ),
    "DNSStatus": obj(
        {
            "domain": string(),
            "uuid": string(),
            **{f"{check}_status": STATUS for check in CHECKS},
            **{f"{check}_error": nullable({"type": "string"}) for check in CHECKS},
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


def _present(domain: Domain) -> dict[str, Any]:
    """The domain with the result of its last DNS check (as the list and setup page show them)."""
    status = presenters.dns_status(domain)
    return {**presenters.domain(domain), **{k: status[k] for k in status if k.endswith(("_status", "_error"))}}


def _lookup(call: Call, domain: Domain) -> Lookup:
    # Uncached, so that a check sees the records the user has just published.
    return domain_lookup(call.runtime.config, make_resolver(call.runtime.config), domain.name)


def _verification(call: Call, domain: Domain) -> dict[str, Any]:
    by_dns = domain.verification_method is VerificationMethod.DNS
    pending = None if by_dns or domain.verified else pending_code(domain)
    record = {"type": "TXT", "name": domain.name, "value": verification_record(call.runtime.config, domain)}
    return {
        "domain": domain.name,
        "uuid": domain.uuid,
        "verified": domain.verified,
        "verification_method": domain.verification_method.value,
        "dns_record": record if by_dns else None,
        "email_addresses": [] if by_dns else verification_addresses(domain.name),
        "code_sent_at": None if pending is None else presenters.epoch_iso(pending.issued_at),
        "code_expires_at": None if pending is None else presenters.epoch_iso(pending.expires_at),
    }


def _declare(prefix: str, kind: str, owner_of: OwnerOf) -> None:
    """The same ten operations under each kind of owner."""
    base = f"{prefix}/domains"
    item = f"{base}/{{uuid}}"

    @ops.get(base, f"List the {kind}'s domains", response=DOMAIN, paginated=True, operation_id=f"list_{kind}_domains")
    def list_domains(call: Call) -> dict[str, Any]:
        owner = owner_of(call, False)
        query = select(Domain).where(Domain.owner_type == owner_type(owner), Domain.owner_id == owner.id)
        return paginate(call.session, query, Domain.id, call.limit, call.cursor, _present)

    @ops.post(
        base,
        f"Add a domain to the {kind}",
        status=201,
        response=DOMAIN,
        body=obj(
            {"name": string(min_length=1), "verified": boolean(), "verification_method": METHOD}, required=("name",)
        ),
        operation_id=f"create_{kind}_domain",
        description="`verification_method` is `DNS` (a TXT record at the apex, the default) or `Email` (a code "
        "sent to an address of the domain); `verified: true` skips verification, for global admins only.",
    )
    def create(call: Call) -> dict[str, Any]:
        owner = owner_of(call, True)
        verified = bool(call.field("verified", False))
        if verified and not call.user.admin:
            raise forbidden("only global administrators can add a domain as verified")
        method = VerificationMethod(call.field("verification_method", VerificationMethod.DNS.value))
        domain = add_domain(
            call.session, call.runtime.config, owner, call.body["name"], verified=verified, verification_method=method
        )
        return _present(domain)

    @ops.get(item, f"Get a domain of the {kind}", response=DOMAIN, operation_id=f"get_{kind}_domain")
    def get_domain(call: Call) -> dict[str, Any]:
        return _present(_domain(call, owner_of(call, False)))

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

    @ops.get(
        f"{item}/verification",
        "How to verify the domain",
        response=ref("DomainVerification"),
        operation_id=f"{kind}_domain_verification",
        description="The TXT record to publish (DNS method), or the addresses a code can be sent to and "
        "when the pending code was sent and expires (Email method).",
    )
    def verification(call: Call) -> dict[str, Any]:
        return _verification(call, _domain(call, owner_of(call, False)))

    @ops.post(
        f"{item}/verification-code",
        "E-mail a verification code",
        response=ref("DomainVerification"),
        body=obj({"address": string(min_length=1, max_length=255)}, required=("address",)),
        operation_id=f"send_{kind}_domain_verification_code",
        description="For a domain verified by e-mail: sends a new 6-digit code to `address`, one of "
        "`email_addresses`, replacing any earlier code. Valid an hour; one code a minute.",
    )
    def send_code(call: Call) -> dict[str, Any]:
        domain = _domain(call, owner_of(call, True))
        config = call.runtime.config

        def send(to: str, subject: str, text: str) -> None:
            send_system_mail(config, to, subject, text)

        send_verification_code(domain, call.body["address"], call.runtime.clock(), send)
        return _verification(call, domain)

    @ops.post(
        f"{item}/verify",
        "Verify ownership by the TXT record at the domain's apex, or by the e-mailed code",
        response=DOMAIN,
        body=obj({"code": CODE}),
        operation_id=f"verify_{kind}_domain",
        description="Answers the domain; `verified` says whether the record was found or the `code` was right. "
        "A domain verified by e-mail needs `code`; after five wrong codes a new one must be sent.",
    )
    def verify(call: Call) -> dict[str, Any]:
        domain = _domain(call, owner_of(call, True))
        code = call.field("code")
        if domain.verification_method is VerificationMethod.EMAIL:
            if code is None and not domain.verified:
                raise ValidationError("code", "is required: this domain is verified by an e-mailed code")
            verify_code(domain, code or "", call.runtime.clock())
        elif code is not None:
            raise ValidationError("code", "is not used: this domain is verified by its DNS TXT record")
        else:
            verify_domain(call.runtime.config, _lookup(call, domain), domain)
        call.runtime.servers.forget()
        return _present(domain)


_declare("/organizations/{org}", "organization", organization_owner)
_declare("/organizations/{org}/servers/{server}", "server", server_owner)
