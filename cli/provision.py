"""Provisioning commands: organizations, servers, domains and credentials."""

from __future__ import annotations

import argparse

from cli.common import emit, runtime_from
from core import presenters
from core.dns import make_resolver
from core.tenancy.credentials import create_credential
from core.tenancy.dns_checks import check_domain, domain_lookup, verify_domain
from core.tenancy.domains import add_domain, dns_records, find_domain
from core.tenancy.ip_pools import assign_pool, find_pool
from core.tenancy.organizations import create_organization, find_organization
from core.tenancy.servers import create_server, find_server
from models.enums import CredentialType, ServerMode
from models.organization import Organization
from models.server import Server


def org_create(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        org = create_organization(session, args.name, args.permalink)
        data = presenters.organization(org)
    emit(args, data, f"Created organization {data['permalink']} ({data['name']}), id {data['id']}.")
    return 0


def server_create(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        org = find_organization(session, args.org)
        server = create_server(
            session,
            runtime.config,
            runtime.message_dbs,
            org,
            args.name,
            args.permalink,
            ServerMode(args.mode),
        )
        if args.ip_pool:
            pool = find_pool(session, args.ip_pool)
            assign_pool(session, org, pool)
            server.ip_pool_id = pool.id
        data = presenters.server(server, org)
    emit(
        args,
        data,
        f"Created server {org.permalink}/{data['permalink']} (id {data['id']}, token {data['token']}, "
        f"mode {data['mode']}).",
    )
    return 0


def _owner(session: object, ref: str) -> Organization | Server:
    if "/" in ref:
        return find_server(session, ref)  # type: ignore[arg-type]
    return find_organization(session, ref)  # type: ignore[arg-type]


def domain_add(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        owner = _owner(session, args.owner)
        domain = add_domain(session, runtime.config, owner, args.domain, verified=args.verified)
        data = presenters.domain(domain)
        data["dns_records"] = [r.as_dict() for r in dns_records(runtime.config, domain)]
    state = "verified" if data["verified"] else "not verified yet (see `postal domain dns`)"
    emit(args, data, f"Added {data['name']} to {args.owner}, {state}.")
    return 0


def domain_dns(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        owner = _owner(session, args.owner) if args.owner else None
        domain = find_domain(session, args.domain, owner)
        records = dns_records(runtime.config, domain)
    lines = [
        f"{r.name}. {r.type} {f'{r.priority} ' if r.priority is not None else ''}{r.value}  ; {r.purpose}"
        for r in records
    ]
    emit(args, {"domain": domain.name, "records": [r.as_dict() for r in records]}, "\n".join(lines))
    return 0


def domain_verify(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        owner = _owner(session, args.owner) if args.owner else None
        domain = find_domain(session, args.domain, owner)
        lookup = domain_lookup(runtime.config, make_resolver(runtime.config), domain.name)
        verified = verify_domain(runtime.config, lookup, domain)
        data = presenters.domain(domain)
    text = (
        f"{domain.name} is verified."
        if verified
        else f"{domain.name} is not verified: no TXT record "
        f'"{runtime.config.dns.domain_verify_prefix} {domain.verification_token}" at {domain.name}.'
    )
    emit(args, data, text)
    return 0 if verified else 2


def domain_check(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        owner = _owner(session, args.owner) if args.owner else None
        domain = find_domain(session, args.domain, owner)
        check_domain(runtime.config, domain_lookup(runtime.config, make_resolver(runtime.config), domain.name), domain)
        data = presenters.dns_status(domain)
    lines = [f"DNS for {domain.name}: {'OK' if data['dns_ok'] else 'needs attention'}"]
    for check in ("spf", "dkim", "mx", "return_path"):
        error = data[f"{check}_error"]
        lines.append(f"  {check:<12} {data[f'{check}_status']}{f'  {error}' if error else ''}")
    emit(args, data, "\n".join(lines))
    return 0


def credential_create(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
        credential = create_credential(session, server, CredentialType(args.type), args.name, args.key, hold=args.hold)
        data = presenters.credential(credential)
    emit(args, data, f"Created {data['type']} credential {data['name']!r}: {data['key']}")
    return 0
