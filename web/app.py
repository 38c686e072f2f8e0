"""The application factory: builds the Falcon app from its collaborators (STYLE rule 4)."""

from __future__ import annotations

from typing import Any

import falcon

from core.runtime import Runtime
from web import api_v1, api_v2, ui
from web.health import HealthResource
from web.jwks import JWKSResource
from web.metrics import MetricsResource
from web.request_context import RequestContext
from web.tracking import TrackingMiddleware


def create_app(runtime: Runtime) -> falcon.App:
    # The request id first, so that tracking requests' log lines carry one too.
    middleware: list[Any] = [RequestContext(), TrackingMiddleware(runtime)]
    app = falcon.App(middleware=middleware)
    app.add_route("/health", HealthResource(runtime))
    app.add_route("/.well-known/jwks.json", JWKSResource(runtime))
    app.add_route("/metrics", MetricsResource(runtime))
    api_v1.register(app, runtime)
    api_v2.register(app, runtime)
    ui.register(app, runtime)
    return app
