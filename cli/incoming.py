"""CLI commands of incoming mail: endpoints (HTTP, SMTP, address) and routes."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import select

from cli.common import emit, runtime_from
from core import presenters
from core.errors import ValidationError
from core.incoming.endpoints import (
    create_address_endpoint,
    create_http_endpoint,
    create_smtp_endpoint,
    find_endpoint,
    parse_endpoint_ref,
)
from core.incoming.routes import create_route, delete_route, find_route, route_data
from core.tenancy.servers import find_server
from models.endpoint import ENDPOINT_MODELS
from models.route import Route

# The options each kind of endpoint takes (besides the server and the kind).
ENDPOINT_OPTIONS = {
    "http": {"name", "url", "encoding", "format", "strip_replies", "no_attachments", "timeout"},
    "smtp": {"name", "hostname", "port", "ssl_mode"},
    "address": {"address"},
}
REQUIRED = {"http": ("name", "url"), "smtp": ("name", "hostname"), "address": ("address",)}
ALL_OPTIONS = set().union(*ENDPOINT_OPTIONS.values())


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_options(args: argparse.Namespace) -> None:
    """Each kind takes its own options: one given for another kind is an error, not ignored."""
    for name in sorted(ALL_OPTIONS - ENDPOINT_OPTIONS[args.kind]):
        if getattr(args, name) not in (None, False):
            raise ValidationError(_option(name), f"is not an option of {args.kind} endpoints")
    for name in REQUIRED[args.kind]:
        if not getattr(args, name):
            raise ValidationError(_option(name), f"is required for {args.kind} endpoints")


def endpoint_create(args: argparse.Namespace) -> int:
    _check_options(args)
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
        if args.kind == "http":
            made: Any = create_http_endpoint(
                session,
                server,
                args.name,
                args.url,
                encoding=args.encoding or "BodyAsJSON",
                format=args.format or "Hash",
                strip_replies=args.strip_replies,
                include_attachments=not args.no_attachments,
                timeout=args.timeout if args.timeout is not None else 5,
            )
            where = args.url
        elif args.kind == "smtp":
            made = create_smtp_endpoint(
                session,
                server,
                args.name,
                args.hostname,
                port=args.port if args.port is not None else 25,
                ssl_mode=args.ssl_mode or "Auto",
            )
            where = f"{made.hostname}:{made.port}"
        else:
            made = create_address_endpoint(session, server, args.address)
            where = made.address
        data = presenters.endpoint(made)
    emit(args, data, f"Created {args.kind} endpoint {data['ref']} ({where}).")
    return 0


def endpoint_list(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
        found = [
            presenters.endpoint(e)
            for model in ENDPOINT_MODELS.values()
            for e in session.scalars(select(model).where(model.server_id == server.id).order_by(model.id))
        ]
    lines = [
        f"{e['ref']}  {e.get('name') or e.get('address')}  {e.get('url') or e.get('hostname') or ''}" for e in found
    ]
    emit(args, {"endpoints": found}, "\n".join(lines) or "No endpoints.")
    return 0


def route_create(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
        endpoints = [find_endpoint(session, server, *parse_endpoint_ref(ref)) for ref in args.endpoint or []]
        made = create_route(session, server, args.address, args.mode, endpoints, args.spam_mode)
        data = route_data(session, made, runtime.config.dns.route_domain)
    runtime.servers.forget(server.id)
    extra = f" (also reachable at {data['route_address']})" if data["route_address"] else ""
    emit(args, data, f"Created route {data['uuid']} for {data['address']} in {data['mode']} mode{extra}.")
    return 0


def route_list(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
        routes = session.scalars(select(Route).where(Route.server_id == server.id).order_by(Route.id)).all()
        found = [route_data(session, r, runtime.config.dns.route_domain) for r in routes]
    lines = [f"{r['uuid']}  {r['address']}  {r['mode']}  spam: {r['spam_mode']}" for r in found]
    emit(args, {"routes": found}, "\n".join(lines) or "No routes.")
    return 0


def route_delete(args: argparse.Namespace) -> int:
    runtime = runtime_from(args)
    with runtime.db.transaction() as session:
        server = find_server(session, args.server)
        route = find_route(session, server, args.route)
        data = route_data(session, route, runtime.config.dns.route_domain)
        delete_route(session, route)
    runtime.servers.forget(server.id)
    emit(args, data, f"Deleted route {data['address']}.")
    return 0
