"""The application factory: builds the Falcon app from its collaborators (STYLE rule 4)."""

from __future__ import annotations

import falcon

from core.runtime import Runtime
from web import api_v1, api_v2, ui
from web.health import HealthResource
from web.jwks import JWKSResource


def create_app(runtime: Runtime) -> falcon.App:
    app = falcon.App()
    app.add_route("/health", HealthResource(runtime))
    app.add_route("/.well-known/jwks.json", JWKSResource(runtime))
    api_v1.register(app, runtime)
    api_v2.register(app, runtime)
    ui.register(app, runtime)
    return app
