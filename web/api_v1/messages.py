"""`messages/message` and `messages/deliveries` (reference §6): one message of the authenticated
server by its numeric id, with the requested expansions, or its delivery attempts."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection

from core.errors import NotFound
from core.messages.view import deliveries_data, find_message, message_data
from models.message.message import Message
from web.api_v1.action import Action, Context
from web.api_v1.envelope import APIError
from web.api_v1.params import Param

PARAMS = (Param("id", "Integer", required=True, strings=True),)
_LEADING_INTEGER = re.compile(r"^\s*([+-]?\d+)")


class MessageNotFound(APIError):
    def __init__(self, ref: Any) -> None:
        super().__init__("MessageNotFound", "No message found matching provided ID", id=ref)


def message_id(value: int | str) -> int:
    """The id a parameter names, read as Ruby's `to_i` reads a string (`"12abc"` is 12, `"x"` 0)."""
    if isinstance(value, int):
        return value
    match = _LEADING_INTEGER.match(value)
    return int(match.group(1)) if match else 0


def _find(conn: Connection, ref: int | str) -> Message:
    number = message_id(ref)
    if number <= 0:
        raise MessageNotFound(ref)
    try:
        return find_message(conn, number)
    except NotFound:
        raise MessageNotFound(ref) from None


def message(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.runtime.message_dbs.get(ctx.auth.server_id).reader.connect() as conn:
        found = _find(conn, params["id"])
        return message_data(conn, found, params.get("_expansions"), postal_encoding=True)


def deliveries(ctx: Context, params: dict[str, Any]) -> list[dict[str, Any]]:
    with ctx.runtime.message_dbs.get(ctx.auth.server_id).reader.connect() as conn:
        found = _find(conn, params["id"])
        return deliveries_data(conn, found.id)


MESSAGE = Action(message, PARAMS)
DELIVERIES = Action(deliveries, PARAMS)
