"""`/health`: 200 `OK` when the process can reach its database, 503 otherwise."""

from __future__ import annotations

import logging

import falcon
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from core.runtime import Runtime

log = logging.getLogger(__name__)


class HealthResource:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        try:
            with self.runtime.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            log.warning("health check: database unreachable: %s", exc)
            resp.status = falcon.HTTP_503
            resp.text = "Database unavailable"
            return
        resp.text = "OK"

    on_head = on_get
