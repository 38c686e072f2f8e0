"""The management API: `/api/v2`, JSON REST over everything the UI manages.

Each resource module declares its operations (`ops`) and the schemas of what it returns
(`SCHEMAS`); the router serves them and the OpenAPI document at `/api/v2/openapi.json` is built
from the same declarations, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import falcon

from core.runtime import Runtime
from web.api_v2 import (
    complaints,
    credentials,
    domains,
    endpoints,
    invitations,
    ip_pools,
    members,
    messages,
    organizations,
    queue,
    routes,
    scheduler,
    servers,
    statistics,
    suppressions,
    track_domains,
    users,
    webhooks,
)
from web.api_v2.call import Call
from web.api_v2.openapi import document
from web.api_v2.operations import Operation, Operations
from web.api_v2.router import Router

MODULES = (
    organizations,
    members,
    servers,
    domains,
    credentials,
    endpoints,
    routes,
    messages,
    webhooks,
    queue,
    statistics,
    suppressions,
    complaints,
    ip_pools,
    users,
    invitations,
    track_domains,
    scheduler,
)


def operations_and_schemas() -> tuple[list[Operation], dict[str, Any]]:
    operations = [op for module in MODULES for op in module.ops.items]
    schemas = {name: schema for module in MODULES for name, schema in module.SCHEMAS.items()}
    return operations, schemas


def register(app: falcon.App, runtime: Runtime) -> None:
    """Add the v2 routes to `app`."""
    operations, schemas = operations_and_schemas()
    built: dict[str, Any] = {}
    meta = Operations("meta")

    @meta.get("/openapi.json", "This API's OpenAPI 3.1 document", response={"type": "object"}, public=True)
    def openapi_document(call: Call) -> dict[str, Any]:
        return built

    operations += meta.items
    built.update(document(operations, schemas, runtime.config.api.max_page_size))
    Router(runtime, operations).register(app)
