"""`/metrics` of the web process: Prometheus text for global administrators only.

Admin-only rather than bound to localhost: the web process usually sits behind a reverse proxy
on the same host, so every request arrives from 127.0.0.1 and "localhost only" would be open to
the world. Prometheus sends an API token of a global administrator (`Authorization: Bearer`,
`authorization` in its scrape configuration); an administrator logged in to the web UI can open
the page in a browser. The answer reads the main database (the queue gauges), never the broker.
"""

from __future__ import annotations

import logging

import falcon

from core import metrics
from core.runtime import Runtime
from core.tenancy import ui_sessions
from core.tenancy.api_tokens import authenticate
from models.user import User
from web.ui.page import SESSION_COOKIE

log = logging.getLogger(__name__)


class MetricsResource:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.registry = metrics.process_registry(runtime.db.engine)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        admin = self._admin(req)
        if admin is None:
            resp.status = falcon.HTTP_401
            resp.set_header("WWW-Authenticate", 'Bearer realm="postal"')
            resp.text = "Send the API token of a global administrator: Authorization: Bearer <token>"
            return
        if not admin:
            resp.status = falcon.HTTP_403
            resp.text = "Only global administrators can read the metrics"
            return
        try:
            body = metrics.render(self.registry)
        except Exception as exc:
            log.warning("could not collect metrics: %s", exc)
            resp.status = falcon.HTTP_500
            resp.text = f"Could not collect metrics: {type(exc).__name__}"
            return
        resp.content_type = metrics.CONTENT_TYPE
        resp.data = body

    def _admin(self, req: falcon.Request) -> bool | None:
        """Whether the caller is a global administrator; None when it did not say who it is."""
        scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            user = authenticate(self.runtime.db, token.strip(), self.runtime.clock())
            return None if user is None else user.admin
        cookie = req.get_cookie_values(SESSION_COOKIE)
        if cookie:
            with self.runtime.db.transaction() as session:
                row = ui_sessions.find_session(session, cookie[0], self.runtime.config.web_ui, self.runtime.clock())
                user_row = None if row is None else session.get(User, row.user_id)
                if user_row is not None:
                    return bool(user_row.admin)
        return None
