"""What the organization and server pages share: the objects their header shows, and their paths."""

from __future__ import annotations

from typing import Any

from web.ui.page import View


def org_path(org: str) -> str:
    return f"/org/{org}"


def server_path(org: str, server: str) -> str:
    return f"/org/{org}/servers/{server}"


def organization_context(view: View, org: str) -> dict[str, Any]:
    """`org` for `org_base.html` (404 when the user cannot see it, as the API answers)."""
    organization = view.call("get_organization", org=org)
    return {"org": organization, "org_path": org_path(organization["permalink"])}


def server_context(view: View, org: str, server: str) -> dict[str, Any]:
    """`org` and `server` for `server_base.html` (404 when the user may not use the server)."""
    found = view.call("get_server", org=org, server=server)
    organization = view.call("get_organization", org=org)
    return {
        "org": organization,
        "server": found,
        "org_path": org_path(organization["permalink"]),
        "server_path": server_path(organization["permalink"], found["permalink"]),
    }
