"""Declaring the API: each operation (method, path, parameters, body and response schemas, handler)
is declared once; the router serves it and the OpenAPI document describes it from the same data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from web.api_v2.schema import Schema, integer, string

if TYPE_CHECKING:
    from web.api_v2.call import Call

Handler = Callable[["Call"], Any]


@dataclass(frozen=True)
class Param:
    """A query parameter."""

    name: str
    schema: Schema
    description: str = ""
    required: bool = False


def page_params(max_page_size: int) -> tuple[Param, ...]:
    return (
        Param("limit", integer(minimum=1, maximum=max_page_size), "Items per page (default `api.default_page_size`)."),
        Param("cursor", string(max_length=200), "`next_cursor` of the previous page."),
    )


@dataclass(frozen=True)
class Raw:
    """A response that is not JSON (a raw message, a CSV export)."""

    body: bytes
    content_type: str
    filename: str | None = None


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    handler: Handler
    tag: str
    # Schema of the success body; None for 204 No Content.
    response: Schema | None = None
    status: int = 200
    body: Schema | None = None
    body_media_type: str = "application/json"
    response_media_type: str = "application/json"
    query: tuple[Param, ...] = ()
    # A list answered a page at a time: adds `limit` and `cursor`, wraps `response` (the item).
    paginated: bool = False
    # Served without a token (the OpenAPI document itself).
    public: bool = False
    description: str = ""

    def query_params(self, max_page_size: int) -> tuple[Param, ...]:
        return (*self.query, *page_params(max_page_size)) if self.paginated else self.query


@dataclass
class Operations:
    """The operations of one resource module, declared with decorators:

    @ops.get("/organizations/{org}", "Get an organization", response=ref("Organization"))
    def get_organization(call: Call) -> dict[str, Any]: ...
    """

    tag: str
    items: list[Operation] = field(default_factory=list)

    def add(self, method: str, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.items.append(
                Operation(
                    method=method,
                    path=path,
                    operation_id=options.pop("operation_id", handler.__name__),
                    summary=summary,
                    handler=handler,
                    tag=self.tag,
                    description=options.pop("description", None) or (handler.__doc__ or "").strip(),
                    **options,
                )
            )
            return handler

        return register

    def get(self, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.add("GET", path, summary, **options)

    def post(self, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.add("POST", path, summary, **options)

    def patch(self, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.add("PATCH", path, summary, **options)

    def delete(self, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
        options.setdefault("status", 204)
        return self.add("DELETE", path, summary, **options)
