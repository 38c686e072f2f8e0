"""The base of every web UI page: the session and who is logged in, CSRF on every state-changing
request, the operations of the management API run for that user, rendering, and errors as pages.

A page is a class with `get(view, **params)` and/or `post(view, **params)`. What it shows and
changes it gets from `view.call(operation_id, …)`: the same operation `/api/v2` serves, with the
same input checks and permission rules (404 across tenants, 403 where visible).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn
from urllib.parse import quote, unquote

import falcon
from sqlalchemy.exc import OperationalError

from core.tenancy import ui_sessions
from core.tenancy.users import check_password
from models.user import User
from web.api_v2.errors import APIError
from web.api_v2.invoke import checked_input, run
from web.body import BodyTooLarge
from web.ui.forms import Form, read_form

if TYPE_CHECKING:
    from web.ui import UI

log = logging.getLogger(__name__)

SESSION_COOKIE = "postal_session"
# Before login there is no session to hold the CSRF token: a cookie holds it (double submit).
ANONYMOUS_CSRF_COOKIE = "postal_csrf"
FLASH_COOKIE = "postal_flash"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
# Codes of the input errors a form shows next to its fields; others become error pages.
FORM_ERRORS = ("validation_failed", "invalid_request", "invalid_json")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class Redirect(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


@dataclass(frozen=True)
class CurrentUser:
    id: int
    uuid: str
    email_address: str
    first_name: str
    last_name: str
    name: str
    admin: bool
    session_id: int
    login_method: str


class View:
    """One request to a page, as the page sees it."""

    def __init__(self, ui: UI, req: falcon.Request, resp: falcon.Response) -> None:
        self.ui = ui
        self.req = req
        self.resp = resp
        self.user: CurrentUser | None = None
        self.csrf_token = ""
        self.form = Form()
        self.flash: tuple[str, str] | None = None

    @property
    def current_user(self) -> CurrentUser:
        assert self.user is not None, "pages that need a user are not public"
        return self.user

    @property
    def client_address(self) -> str:
        """The browser's address, seen through the trusted proxies (login throttling, sessions)."""
        return self.ui.client_address.of(self.req)

    @property
    def query(self) -> dict[str, str]:
        return {k: (v[-1] if isinstance(v, list) else v) for k, v in self.req.params.items()}

    # -- the management API's operations, for this user -------------------------------------

    def call(self, operation_id: str, body: Any = None, query: dict[str, Any] | None = None, **params: str) -> Any:
        """Run an `/api/v2` operation as the logged-in user; refusals raise `APIError`."""
        op = self.ui.operations[operation_id]
        query = {k: v for k, v in (query or {}).items() if v not in (None, "")}
        checked_input(op, query, body, self.ui.runtime.config.api.max_page_size)
        user_id = None if self.user is None else self.user.id
        return run(self.ui.runtime, op, user_id, params, query, body)

    def submit(
        self, operation_id: str, body: Any = None, query: dict[str, Any] | None = None, **params: str
    ) -> tuple[Any, APIError | None]:
        """`call` for a form: input errors come back to show beside the form; others still raise."""
        try:
            return self.call(operation_id, body, query, **params), None
        except APIError as error:
            if error.code in FORM_ERRORS:
                return None, error
            raise

    def password_is_right(self, password: str) -> bool:
        """The logged-in user's own password, asked again before a deletion. The one check no API
        operation makes: the API authenticates by token."""
        if not password or self.user is None:
            return False
        with self.ui.runtime.db.transaction() as session:
            user = session.get(User, self.user.id)
            return user is not None and check_password(user, password)

    # -- answers ----------------------------------------------------------------------------

    def render(self, template: str, status: int = 200, **context: Any) -> None:
        self.resp.status = falcon.code_to_http_status(status)
        self.resp.content_type = falcon.MEDIA_HTML
        page = self.ui.templates.get_template(template)
        self.resp.text = page.render(view=self, user=self.user, csrf_token=self.csrf_token, flash=self.flash, **context)

    def redirect(self, location: str, notice: str | None = None, alert: str | None = None) -> NoReturn:
        """See other (303): after a POST the browser GETs `location`, with a message to show there."""
        if notice or alert:
            kind, text = ("alert", alert) if alert else ("notice", notice or "")
            self._set_cookie(FLASH_COOKIE, quote(f"{kind}:{text}"[:400]), max_age=60)
        raise Redirect(location)

    def send_file(self, data: bytes, content_type: str, filename: str | None = None) -> None:
        self.resp.content_type = content_type
        if filename:
            self.resp.downloadable_as = filename
        self.resp.data = data

    def not_found(self, what: str = "page") -> NoReturn:
        raise APIError("not_found", f"{what} not found")

    # -- cookies ----------------------------------------------------------------------------

    @property
    def secure(self) -> bool:
        """Cookies get `Secure` when the browser talks TLS (directly or through a proxy)."""
        return self.req.forwarded_scheme == "https"

    def _set_cookie(self, name: str, value: str, max_age: int | None = None) -> None:
        self.resp.set_cookie(
            name, value, max_age=max_age, path="/", secure=self.secure, http_only=True, same_site="Lax"
        )

    def _clear_cookie(self, name: str) -> None:
        self.resp.unset_cookie(name, path="/")

    def start_session(self, user: User, login_method: str) -> None:
        """Log `user` in: a new session (never one the browser brought, against fixation)."""
        with self.ui.runtime.db.transaction() as session:
            opened = ui_sessions.open_session(
                session,
                user,
                self.ui.runtime.config.web_ui,
                self.ui.runtime.clock(),
                login_method,
                self.client_address,
                self.req.user_agent,
            )
        self._set_cookie(SESSION_COOKIE, opened.token)

    def end_session(self) -> None:
        token = self.req.get_cookie_values(SESSION_COOKIE)
        if token:
            with self.ui.runtime.db.transaction() as session:
                ui_sessions.close_session(session, token[0])
        self._clear_cookie(SESSION_COOKIE)
        self.user = None


class Page:
    """Base of the UI's resources. `public` pages are served without a login."""

    public: ClassVar[bool] = False

    def __init__(self, ui: UI) -> None:
        self.ui = ui

    def on_get(self, req: falcon.Request, resp: falcon.Response, **params: str) -> None:
        self._serve("get", req, resp, params)

    def on_head(self, req: falcon.Request, resp: falcon.Response, **params: str) -> None:
        self._serve("get", req, resp, params)

    def on_post(self, req: falcon.Request, resp: falcon.Response, **params: str) -> None:
        self._serve("post", req, resp, params)

    def _serve(self, method: str, req: falcon.Request, resp: falcon.Response, params: dict[str, str]) -> None:
        view = View(self.ui, req, resp)
        _security_headers(resp)
        handler = getattr(self, method, None)
        try:
            if handler is None:
                raise falcon.HTTPMethodNotAllowed([m.upper() for m in ("get", "post") if hasattr(self, m)])
            self._identify(view)
            if view.user is None and not self.public:
                target = req.relative_uri if req.method == "GET" else "/"
                raise Redirect("/login?return_to=" + quote(target, safe=""))
            if req.method not in SAFE_METHODS:
                view.form = read_form(req, self.ui.max_form_size)
                self._check_csrf(view)
            view.flash = _take_flash(view)
            handler(view, **params)
        except Redirect as redirect:
            resp.status = falcon.HTTP_303
            resp.location = redirect.location
        except APIError as error:
            self.ui.error_page(view, error.status, error.message)
        except BodyTooLarge as too_large:
            self.ui.error_page(view, 413, f"The form is larger than {too_large.limit} bytes.")
        except OperationalError as exc:
            log.error("database error in web UI request: %s", exc)
            self.ui.error_page(view, 503, "The database cannot be reached just now. Please try again shortly.")
        except falcon.HTTPError:
            raise
        except Exception:
            log.exception("unexpected error in web UI request %s %s", req.method, req.path)
            self.ui.error_page(view, 500, "Something went wrong on our side. It has been logged.")

    def _identify(self, view: View) -> None:
        req = view.req
        token = req.get_cookie_values(SESSION_COOKIE)
        runtime = self.ui.runtime
        if token:
            with runtime.db.transaction() as session:
                row = ui_sessions.find_session(session, token[0], runtime.config.web_ui, runtime.clock())
                user = None if row is None else session.get(User, row.user_id)
                if row is not None and user is not None:
                    view.user = CurrentUser(
                        user.id, user.uuid, user.email_address, user.first_name, user.last_name, user.name,
                        user.admin, row.id, row.login_method,
                    )  # fmt: skip
                    view.csrf_token = row.csrf_token
            if view.user is None:
                view._clear_cookie(SESSION_COOKIE)
        if view.user is None:
            existing = req.get_cookie_values(ANONYMOUS_CSRF_COOKIE)
            view.csrf_token = existing[0] if existing and 20 <= len(existing[0]) <= 100 else secrets.token_urlsafe(32)
            if not existing or existing[0] != view.csrf_token:
                view._set_cookie(ANONYMOUS_CSRF_COOKIE, view.csrf_token)

    def _check_csrf(self, view: View) -> None:
        sent = view.form.get(CSRF_FIELD) or view.req.get_header(CSRF_HEADER) or ""
        if not (sent and view.csrf_token and hmac.compare_digest(sent.encode(), view.csrf_token.encode())):
            raise APIError(
                "forbidden",
                "This form has expired or did not come from this site (its security token is missing or wrong). "
                "Go back, reload the page and try again.",
            )


def _take_flash(view: View) -> tuple[str, str] | None:
    values = view.req.get_cookie_values(FLASH_COOKIE)
    if not values:
        return None
    view._clear_cookie(FLASH_COOKIE)
    kind, _, text = unquote(values[0]).partition(":")
    return (kind if kind in ("notice", "alert") else "notice", text)


def _security_headers(resp: falcon.Response) -> None:
    resp.set_header("Content-Security-Policy", CSP)
    resp.set_header("X-Frame-Options", "DENY")
    resp.set_header("X-Content-Type-Options", "nosniff")
    resp.set_header("Referrer-Policy", "same-origin")
    resp.set_header("Cache-Control", "no-store")
