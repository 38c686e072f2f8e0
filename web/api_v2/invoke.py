"""Running one declared operation for a user, in-process: the router does it for an HTTP request,
the web UI for a form. Same input checks, one transaction, the same permission rules."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError

from core.errors import NotFound, PostalError, ValidationError
from core.runtime import Runtime
from web.api_v2.call import Call
from web.api_v2.errors import APIError, not_found
from web.api_v2.operations import Operation
from web.api_v2.schema import check

log = logging.getLogger(__name__)


def run(
    runtime: Runtime,
    op: Operation,
    user_id: int | None,
    params: dict[str, str],
    query: dict[str, Any],
    body: Any,
) -> Any:
    """The handler's result; every failure raised as an `APIError`, after a rollback."""
    call = Call(runtime, user_id, params, query, body, read_only=op.method == "GET")
    try:
        result = op.handler(call)
        call.commit()
    except Exception as exc:
        call.rollback()
        raise as_api_error(exc) from exc
    return result


def checked_input(op: Operation, query: dict[str, Any], body: Any, max_page_size: int) -> None:
    """Validate already-parsed input against the operation's declarations (for in-process callers)."""
    for param in op.query_params(max_page_size):
        if param.name in query and query[param.name] is not None:
            check(param.schema, query[param.name], f"query parameter {param.name}")
        elif param.required:
            raise APIError("invalid_request", f"the query parameter {param.name} is required", [{"field": param.name}])
    if op.body is not None:
        check(op.body, {} if body is None else body)


def as_api_error(exc: Exception) -> APIError:
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, NotFound):
        return not_found(exc.kind)
    if isinstance(exc, ValidationError):
        return APIError("validation_failed", str(exc), [{"field": exc.field, "message": exc.message}])
    if isinstance(exc, IntegrityError):
        # Two requests creating the same thing at once: the loser is told, not crashed.
        return APIError("validation_failed", "this conflicts with an existing object; try again")
    if isinstance(exc, PostalError):
        return APIError("validation_failed", str(exc))
    if isinstance(exc, OperationalError):
        log.error("database error in API request: %s", exc)
        # Unreachable or restarting, a deadlock: nothing was changed, and trying again can work.
        return APIError(
            "unavailable", "the database could not be reached; try again shortly", headers={"Retry-After": "5"}
        )
    log.exception("unexpected error in API request")
    return APIError("internal_error", "something went wrong on our side")
