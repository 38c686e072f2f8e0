"""The user's own account: `/settings` (name, e-mail address, password, API tokens) and resetting a
forgotten password by e-mail (`/login/reset`)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from core.config import Config
from core.errors import ValidationError
from core.system_mail import SystemMailFailed
from core.tenancy import password_resets, ui_sessions
from models.user import User
from web.api_v2.errors import APIError
from web.api_v2.invoke import as_api_error
from web.ui import oidc
from web.ui.page import Page, View

log = logging.getLogger(__name__)

RESET_SENT = (
    "If an account uses that address, we have sent it a link to choose a new password. "
    "The link works once and expires in {minutes} minutes."
)
LINK_UNUSABLE = (
    "This password reset link has expired or was used already. Ask for a new one on the login page if you still "
    "need it."
)


def mismatch(field: str) -> APIError:
    """The error of a new password typed differently twice, shown like the API's input errors."""
    return APIError(
        "validation_failed",
        "The new passwords do not match.",
        [{"field": field, "message": "must be the same as the new password"}],
    )


class Settings(Page):
    """Own name and e-mail address (POST here), password and API tokens (their own forms)."""

    def get(self, view: View) -> None:
        show_settings(view)

    def post(self, view: View) -> None:
        form = view.form
        body: dict[str, Any] = {
            "first_name": form.get("first_name"),
            "last_name": form.get("last_name"),
            "email": form.get("email_address"),
        }
        if form.get("current_password"):
            body["current_password"] = form.get("current_password")
        _, error = view.submit("update_me", body)
        if error is not None:
            return show_settings(view, 422, profile_error=error, profile=form.as_dict())
        view.redirect("/settings", notice="Your details have been saved.")


class ChangePassword(Page):
    def post(self, view: View) -> None:
        form = view.form
        password = form.get("password")
        if password != form.get("password_confirmation"):
            return show_settings(view, 422, password_error=mismatch("password_confirmation"))
        _, error = view.submit("update_me", {"password": password, "current_password": form.get("current_password")})
        if error is not None:
            return show_settings(view, 422, password_error=error)
        # Whoever else had a session (a lost laptop, a stolen cookie) is logged out; this one stays.
        user = view.current_user
        with self.ui.runtime.db.transaction() as session:
            ui_sessions.close_user_sessions(session, user.id, keep=user.session_id)
        view.redirect("/settings", notice="Your password has been changed. Your other sessions have been logged out.")


class CreateToken(Page):
    def post(self, view: View) -> None:
        created, error = view.submit("create_my_token", {"name": view.form.get("name").strip()})
        if error is not None:
            return show_settings(view, 422, token_error=error, token_name=view.form.get("name"))
        # Shown in this answer only: it is never stored, and a redirect would have to carry it.
        show_settings(view, 201, new_token=created)


class RevokeToken(Page):
    def post(self, view: View, uuid: str) -> None:
        view.call("revoke_my_token", uuid=uuid)
        view.redirect("/settings", notice="The API token has been revoked.")


def show_settings(view: View, status: int = 200, **context: Any) -> None:
    me = view.call("get_me")
    tokens = view.call("list_my_tokens", query={"cursor": view.query.get("cursor")})
    user = me["user"]
    profile = {"first_name": user["first_name"], "last_name": user["last_name"], "email_address": user["email_address"]}
    view.render(
        "account/settings.html",
        status=status,
        me=me,
        tokens=tokens,
        profile={**profile, **context.pop("profile", {})},
        profile_error=context.pop("profile_error", None),
        password_error=context.pop("password_error", None),
        token_error=context.pop("token_error", None),
        token_name=context.pop("token_name", ""),
        new_token=context.pop("new_token", None),
    )


# -- a forgotten password ---------------------------------------------------------------------


class ResetPasswordPage(Page):
    public = True

    def _refuse_when_off(self, view: View) -> bool:
        """With only OIDC logins, a password would be of no use."""
        if oidc.local_login_enabled(self.ui.runtime.config):
            return False
        view.render(
            "error.html", status=403, title="Not available", message="Logging in with a password is turned off here."
        )
        return True


class RequestReset(ResetPasswordPage):
    def get(self, view: View) -> None:
        if not self._refuse_when_off(view):
            view.render("account/reset_request.html", email="", error=None, sent=None)

    def post(self, view: View) -> None:
        if self._refuse_when_off(view):
            return
        runtime = self.ui.runtime
        settings = runtime.config.web_ui
        email = view.form.get("email_address").strip().lower()[:255]
        address = view.client_address
        key = password_resets.throttle_key(email)
        now = runtime.clock()
        with runtime.db.transaction() as session:
            wait = ui_sessions.login_refused_for(session, settings, address, key, now)
            if wait is not None:
                minutes = max(1, round(wait / 60))
                view.resp.set_header("Retry-After", str(int(wait)))
                message = f"Too many requests. Please wait {minutes} minute{'s' if minutes != 1 else ''} and try again."
                return view.render("account/reset_request.html", status=429, email=email, error=message, sent=None)
            ui_sessions.record_login_failure(session, address, key, now)
            started = password_resets.start_reset(session, email, now, settings.password_reset_minutes)
            if started is not None:
                session.expunge(started[0])
        if started is not None:
            user, token = started
            # Sent beside the answer, not before it: an answer that took longer for a real account
            # would tell which addresses have one.
            threading.Thread(
                target=_send_reset_mail, args=(runtime.config, user, token), name="password-reset-mail", daemon=True
            ).start()
        sent = RESET_SENT.format(minutes=settings.password_reset_minutes)
        view.render("account/reset_request.html", email="", error=None, sent=sent)


def _send_reset_mail(config: Config, user: User, token: str) -> None:
    try:
        password_resets.send_reset_mail(config, user, token, config.web_ui.password_reset_minutes)
    except SystemMailFailed as exc:
        # The answer was the same as ever: saying the mail failed would say the account exists.
        log.error("password reset link for user %s not sent: %s", user.id, exc)
    except Exception:
        log.exception("password reset link for user %s not sent", user.id)


class ChooseNewPassword(ResetPasswordPage):
    def get(self, view: View, token: str) -> None:
        if self._refuse_when_off(view):
            return
        with self.ui.runtime.db.transaction() as session:
            user = password_resets.user_for_token(session, token, self.ui.runtime.clock())
            email = None if user is None else user.email_address
        if email is None:
            return self._unusable(view)
        view.render("account/reset_password.html", email=email, error=None)

    def post(self, view: View, token: str) -> None:
        if self._refuse_when_off(view):
            return
        runtime = self.ui.runtime
        password = view.form.get("password")
        with runtime.db.transaction() as session:
            user = password_resets.user_for_token(session, token, runtime.clock())
            if user is None:
                return self._unusable(view)
            email = user.email_address
            if password != view.form.get("password_confirmation"):
                error = mismatch("password_confirmation")
            else:
                try:
                    password_resets.finish_reset(session, user, password)
                except ValidationError as exc:
                    error = as_api_error(exc)
                else:
                    # Every session, whoever holds it, ends with the old password.
                    ui_sessions.close_user_sessions(session, user.id)
                    ui_sessions.clear_login_failures(session, email)
                    error = None
        if error is not None:
            return view.render("account/reset_password.html", status=422, email=email, error=error)
        view.redirect("/login", notice="Your password has been changed. Log in with your new password.")

    def _unusable(self, view: View) -> None:
        view.render("error.html", status=404, title="Link expired", message=LINK_UNUSABLE)


ROUTES: list[tuple[str, type[Page]]] = [
    ("/settings", Settings),
    ("/settings/password", ChangePassword),
    ("/settings/tokens", CreateToken),
    ("/settings/tokens/{uuid}/revoke", RevokeToken),
    ("/login/reset", RequestReset),
    ("/login/reset/{token}", ChooseNewPassword),
]
