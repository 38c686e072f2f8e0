"""Logging in and out with a password (throttled per address and per account)."""

from __future__ import annotations

from sqlalchemy import func, select

from core.tenancy import ui_sessions
from core.tenancy.users import check_password, upgrade_password_digest
from models.user import User
from web.ui.page import Page, Redirect, View

BAD_LOGIN = "The e-mail address or password you entered was incorrect. Please check and try again."


def safe_return_to(value: str | None) -> str:
    """Only a path on this site: never `//host` or `https://host` (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


class Login(Page):
    public = True

    def get(self, view: View) -> None:
        if view.user is not None:
            raise Redirect(safe_return_to(view.query.get("return_to")))
        self._show(view, email="")

    def _show(self, view: View, email: str, error: str | None = None, status: int = 200) -> None:
        oidc = self.ui.runtime.config.oidc
        view.render(
            "login.html",
            status=status,
            email=email,
            error=error,
            return_to=safe_return_to(view.query.get("return_to") or view.form.get("return_to")),
            local_login=oidc.local_authentication_enabled or not oidc.enabled,
            oidc_name=oidc.name if oidc.enabled else None,
        )

    def post(self, view: View) -> None:
        runtime = self.ui.runtime
        oidc = runtime.config.oidc
        if oidc.enabled and not oidc.local_authentication_enabled:
            return self._show(view, "", "Logging in with a password is turned off here.", 403)
        email = view.form.get("email_address").strip().lower()
        password = view.form.get("password")
        address = view.client_address
        now = runtime.clock()
        settings = runtime.config.web_ui
        with runtime.db.transaction() as session:
            wait = ui_sessions.login_refused_for(session, settings, address, email, now)
            if wait is not None:
                minutes = max(1, round(wait / 60))
                message = (
                    f"Too many failed logins. Please wait {minutes} minute{'s' if minutes != 1 else ''} and try again."
                )
                view.resp.set_header("Retry-After", str(int(wait)))
                return self._show(view, email, message, 429)
            user = session.scalar(select(User).where(func.lower(User.email_address) == email)) if email else None
            if user is None or not check_password(user, password):
                ui_sessions.record_login_failure(session, address, email, now)
                return self._show(view, email, BAD_LOGIN, 403)
            upgrade_password_digest(user, password)
            ui_sessions.clear_login_failures(session, email)
            session.expunge(user)
        view.start_session(user, "password")
        raise Redirect(safe_return_to(view.form.get("return_to")))


class Logout(Page):
    public = True

    def post(self, view: View) -> None:
        view.end_session()
        view.redirect("/login", notice="You have been logged out.")


ROUTES = [("/login", Login), ("/logout", Logout)]
