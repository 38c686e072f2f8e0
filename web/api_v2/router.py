"""Serving the declared operations: token check, rate and size limits, input validation, one
transaction per request, and every error as `{"error": {"code", "message", "details"?}}`."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import falcon

from core.runtime import Runtime
from core.tenancy.api_tokens import TokenUser, authenticate
from web.api_v2.errors import APIError, not_found
from web.api_v2.invoke import as_api_error, run
from web.api_v2.limits import RateLimiter
from web.api_v2.operations import Operation, Raw
from web.api_v2.schema import check
from web.body import BodyTooLarge, read_body

PREFIX = "/api/v2"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class Router:
    def __init__(self, runtime: Runtime, operations: Iterable[Operation]) -> None:
        self.runtime = runtime
        self.operations = list(operations)
        api = runtime.config.api
        self.limiter = RateLimiter(api.rate_limit_per_minute, api.rate_limit_burst)

    def register(self, app: falcon.App) -> None:
        by_path: dict[str, dict[str, Operation]] = defaultdict(dict)
        for op in self.operations:
            by_path[op.path][op.method] = op
        for path, ops in by_path.items():
            app.add_route(PREFIX + path, _PathResource(self, ops))
        app.add_sink(self._unknown_path, rf"{PREFIX}(/.*)?\Z")

    def _unknown_path(self, req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        _send_error(resp, not_found("resource"))

    # -- one request ------------------------------------------------------------------------

    def serve(self, op: Operation, req: falcon.Request, resp: falcon.Response, params: dict[str, str]) -> None:
        try:
            if not all(_usable(value) for value in params.values()):
                raise not_found("resource")
            token = None if op.public else self._authenticate(req)
            query = self._query(op, req)
            body = self._body(op, req)
            result = run(self.runtime, op, None if token is None else token.user_id, params, query, body)
        except Exception as exc:
            _send_error(resp, as_api_error(exc))
            return
        _send(resp, op, result)

    def _authenticate(self, req: falcon.Request) -> TokenUser:
        scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise APIError("unauthorized", "send an API token: Authorization: Bearer <token>")
        user = authenticate(self.runtime.db, token.strip(), self.runtime.clock())
        if user is None:
            raise APIError("unauthorized", "the API token is not valid")
        wait = self.limiter.take(user.token_id)
        if wait > 0:
            raise APIError(
                "rate_limited",
                "too many requests with this token; try again later",
                {"retry_after": math.ceil(wait)},
                headers={"Retry-After": str(math.ceil(wait))},
            )
        return user

    def _query(self, op: Operation, req: falcon.Request) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for param in op.query_params(self.runtime.config.api.max_page_size):
            raw = req.get_param(param.name)
            if raw is None:
                if param.required:
                    raise APIError(
                        "invalid_request", f"the query parameter {param.name} is required", [{"field": param.name}]
                    )
                continue
            value = _coerce(param.schema, raw)
            check(param.schema, value, f"query parameter {param.name}")
            values[param.name] = value
        return values

    def _body(self, op: Operation, req: falcon.Request) -> Any:
        limit = self.runtime.config.api.max_request_size
        try:
            # A body too large is refused even where the operation takes none.
            if req.content_length is not None and req.content_length > limit:
                raise BodyTooLarge(limit)
            if op.body is None:
                return None
            data = read_body(req, limit)
        except BodyTooLarge:
            raise APIError("payload_too_large", f"the request body is larger than {limit} bytes") from None
        if op.body_media_type != "application/json":
            return data
        if not data.strip():
            body: Any = {}
        else:
            try:
                body = json.loads(data)
            except (ValueError, RecursionError):
                raise APIError("invalid_json", "the request body is not valid JSON") from None
        check(op.body, body)
        return body


class _PathResource:
    """The Falcon resource of one path: a responder per HTTP method, declared or not."""

    def __init__(self, router: Router, ops: dict[str, Operation]) -> None:
        self.router = router
        self.ops = ops
        for method in METHODS:
            setattr(self, f"on_{method.lower()}", self._responder(method))

    def _responder(self, method: str) -> Any:
        def respond(req: falcon.Request, resp: falcon.Response, **params: str) -> None:
            op = self.ops.get(method)
            if op is None:
                allowed = ", ".join(sorted(self.ops))
                error = APIError("method_not_allowed", f"{method} is not allowed here", headers={"Allow": allowed})
                _send_error(resp, error)
                return
            self.router.serve(op, req, resp, params)

        return respond


def _usable(value: str) -> bool:
    """A path segment that can name something: text the database can compare, of a sane length."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return 0 < len(value) <= 255 and "\x00" not in value


def _coerce(schema: dict[str, Any], raw: Any) -> Any:
    """Query strings arrive as text; integers and booleans are converted before validation."""
    if isinstance(raw, list):
        raw = raw[-1]
    kind = schema.get("type")
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw.lower(), raw)
    return raw


def _send_error(resp: falcon.Response, error: APIError) -> None:
    resp.status = falcon.code_to_http_status(error.status)
    resp.content_type = falcon.MEDIA_JSON
    for name, value in error.headers.items():
        resp.set_header(name, value)
    if error.status == 401:
        resp.set_header("WWW-Authenticate", 'Bearer realm="postal"')
    resp.text = json.dumps(error.body())


def _send(resp: falcon.Response, op: Operation, result: Any) -> None:
    resp.status = falcon.code_to_http_status(op.status)
    if op.status == 204:
        return
    if isinstance(result, Raw):
        resp.content_type = result.content_type
        if result.filename:
            resp.downloadable_as = result.filename
        resp.data = result.body
        return
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(result, default=str)
