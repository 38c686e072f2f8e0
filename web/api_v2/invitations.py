"""`/invitations`: (being written)."""

from __future__ import annotations

from typing import Any

from web.api_v2.operations import Operations

ops = Operations("invitations")
SCHEMAS: dict[str, Any] = {}
