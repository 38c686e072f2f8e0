"""One API request as the handlers see it: who asks, the validated input, one transaction, and
the lookups that enforce who may see what."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.broker import BrokerUnavailable
from core.runtime import Runtime
from core.tenancy import permissions
from models.organization import Organization
from models.server import Server
from models.user import User
from web.api_v2.errors import APIError, forbidden, not_found

log = logging.getLogger(__name__)


class Call:
    def __init__(
        self,
        runtime: Runtime,
        user_id: int | None,
        params: dict[str, str],
        query: dict[str, Any],
        body: Any,
        read_only: bool,
    ) -> None:
        self.runtime = runtime
        self.user_id = user_id
        self.params = params
        self.query = query
        self.body = body
        self.read_only = read_only
        self._session: Session | None = None
        self._user: User | None = None

    # -- the unit of work (STYLE rule 10) -----------------------------------------------------

    @property
    def session(self) -> Session:
        """The request's transaction, begun on first use; reads use the read-only engine."""
        if self._session is None:
            db = self.runtime.db
            self._session = db.sessions(bind=db.reader if self.read_only else db.engine)
            self._session.begin()
        return self._session

    def commit(self) -> None:
        """End the transaction now: for handlers that then call use-cases running their own."""
        if self._session is not None:
            self._session.commit()
            self._session.close()
            self._session = None

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()
            self._session.close()
            self._session = None

    def after_commit_publish_maintenance(self, task: str) -> None:
        """Commit, then ask a worker to run `task` now (the hourly schedule runs it anyway if the
        broker cannot be reached, so a failure here is logged, not the request's)."""
        self.commit()
        publisher = self.runtime.publisher
        if publisher is None:
            return
        try:
            publisher.publish_maintenance(task)
        except BrokerUnavailable as exc:
            log.warning("%s not published now (%s); the schedule will run it", task, exc)

    # -- who asks -----------------------------------------------------------------------------

    @property
    def user(self) -> User:
        if self._user is None:
            if self.user_id is None:
                raise APIError("unauthorized", "an API token is required")
            user = self.session.get(User, self.user_id)
            if user is None:
                raise APIError("unauthorized", "the token's user no longer exists")
            self._user = user
        return self._user

    def require_global_admin(self) -> None:
        if not self.user.admin:
            raise forbidden("only global administrators can do this")

    # -- lookups: 404 for what the user cannot see, 403 for what they see but may not change --

    def organization(self, admin: bool = False) -> Organization:
        org = self.session.scalar(
            select(Organization).where(Organization.permalink == self.params["org"], Organization.deleted_at.is_(None))
        )
        if org is None or not permissions.can_view_organization(self.session, self.user, org):
            raise not_found("organization")
        if admin and not permissions.can_admin_organization(self.session, self.user, org):
            raise forbidden("only administrators of the organization can do this")
        return org

    def server(self, org_admin: bool = False) -> Server:
        org = self.organization(admin=org_admin)
        server = self.session.scalar(
            select(Server).where(
                Server.organization_id == org.id,
                Server.permalink == self.params["server"],
                Server.deleted_at.is_(None),
            )
        )
        if server is None or not permissions.can_use_server(self.session, self.user, server):
            raise not_found("server")
        return server

    # -- input --------------------------------------------------------------------------------

    @property
    def limit(self) -> int:
        return int(self.query.get("limit") or self.runtime.config.api.default_page_size)

    @property
    def cursor(self) -> str | None:
        return self.query.get("cursor") or None

    def field(self, name: str, default: Any = None) -> Any:
        return self.body.get(name, default) if isinstance(self.body, dict) else default
