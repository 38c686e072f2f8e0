"""User commands: personal API tokens and organization memberships."""

from __future__ import annotations

import argparse

from cli.common import emit, runtime_from
from core import presenters
from core.tenancy.api_tokens import create_token
from core.tenancy.memberships import find_user, parse_servers, set_membership
from core.tenancy.organizations import find_organization


def token_create(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        user = find_user(session, args.email)
        row, token = create_token(session, user, args.name)
        data = {**presenters.api_token(row), "token": token}
    emit(
        args,
        data,
        f"Token {data['name']!r} for {user.email_address}:\n{token}\nKeep it now: it is not shown again.",
    )
    return 0


def org_add_user(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        org = find_organization(session, args.org)
        user = find_user(session, args.email)
        servers = parse_servers(session, org, args.servers)
        membership = set_membership(session, org, user, admin=args.admin, servers=servers)
        data = presenters.membership(membership, user, [s.permalink for s in servers or []])
    access = "all servers" if servers is None else f"servers {', '.join(data['servers']) or '(none)'}"
    role = "admin" if data["admin"] else "member"
    emit(args, data, f"{user.email_address} is {role} of {org.permalink}, with {access}.")
    return 0
