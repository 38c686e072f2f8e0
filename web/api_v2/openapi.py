"""The OpenAPI 3.1 document, generated from the same operation declarations the router serves."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from core.version import __version__
from web.api_v2.errors import CODES
from web.api_v2.operations import Operation
from web.api_v2.schema import Schema, integer, nullable, obj, ref, string

PATH_PARAM = re.compile(r"\{(\w+)\}")
# Path parameters, named the same everywhere.
PATH_PARAMS: dict[str, tuple[str, Schema]] = {
    "org": ("The organization's permalink.", string(min_length=1)),
    "server": ("The server's permalink inside its organization.", string(min_length=1)),
    "user": ("The user's uuid.", string(min_length=1)),
    "uuid": ("The object's uuid.", string(min_length=1)),
    "id": ("The object's id.", integer(minimum=1)),
}
ERROR = obj(
    {
        "error": obj(
            {
                "code": {"type": "string", "enum": sorted(CODES)},
                "message": {"type": "string"},
                "details": {},
            },
            required=("code", "message"),
        )
    },
    required=("error",),
)
# The errors any authenticated operation may answer.
COMMON_ERRORS = (400, 401, 404, 413, 422, 429)


def page_of(item: Schema) -> Schema:
    return obj({"data": {"type": "array", "items": item}, "next_cursor": nullable(string(max_length=200))},
               required=("data", "next_cursor"))  # fmt: skip


def document(operations: Iterable[Operation], schemas: dict[str, Schema], max_page_size: int) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(f"/api/v2{op.path}", {})[op.method.lower()] = _operation(op, max_page_size)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Postal management API",
            "version": __version__,
            "description": "Everything the web UI manages, as JSON. Authenticate with a personal token "
            "(`postal user token create EMAIL`) sent as `Authorization: Bearer <token>`.",
        },
        "paths": paths,
        "components": {
            "schemas": {**schemas, "Error": ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {str(code): _error_response(code) for code in (*COMMON_ERRORS, 403, 405, 500)},
        },
        "security": [{"bearer": []}],
    }


def _error_response(status: int) -> dict[str, Any]:
    codes = [code for code, s in CODES.items() if s == status]
    return {
        "description": ", ".join(f"`{c}`" for c in codes),
        "content": {"application/json": {"schema": ref("Error")}},
    }


def _operation(op: Operation, max_page_size: int) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "description": PATH_PARAMS[name][0],
         "schema": PATH_PARAMS[name][1]}
        for name in PATH_PARAM.findall(op.path)
    ]  # fmt: skip
    parameters += [
        {"name": p.name, "in": "query", "required": p.required, "description": p.description, "schema": p.schema}
        for p in op.query_params(max_page_size)
    ]
    success: dict[str, Any] = {"description": op.summary}
    if op.response is not None:
        schema = page_of(op.response) if op.paginated else op.response
        success["content"] = {op.response_media_type: {"schema": schema}}
    responses: dict[str, Any] = {str(op.status): success}
    # Public operations have no token to refuse nor rate-limit, but still refuse bad input.
    errors = tuple(c for c in COMMON_ERRORS if c not in (401, 429)) if op.public else (*COMMON_ERRORS, 403, 405)
    for status in (*errors, 500):
        responses[str(status)] = {"$ref": f"#/components/responses/{status}"}
    result: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": parameters,
        "responses": responses,
    }
    if op.description:
        result["description"] = op.description
    if op.body is not None:
        result["requestBody"] = {"required": False, "content": {op.body_media_type: {"schema": op.body}}}
    if op.public:
        result["security"] = []
    return result
