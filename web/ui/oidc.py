"""Logging in through an OpenID Connect provider (the `oidc` section): the authorization-code flow
with state, nonce and PKCE, the id_token checked against the provider's keys, and the account
found by the provider's subject or e-mail address (`core.tenancy.oidc_users`)."""

from __future__ import annotations

import base64
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from core.config import Config
from core.config.sections import OIDCSection
from core.tenancy.oidc_users import OIDCIdentity, find_oidc_user
from web.ui.auth import safe_return_to
from web.ui.page import Page, Redirect, View

log = logging.getLogger(__name__)

FLOW_COOKIE = "postal_oidc"
FLOW_PATH = "/login/oidc"
# Long enough to log in at the provider (a password, a second factor), short enough to go stale.
FLOW_SECONDS = 600
TIMEOUT = 10.0
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
# id_token times are the provider's clock: allow it to be a little off ours.
LEEWAY = 60


def local_login_enabled(config: Config) -> bool:
    """Password logins (and resets) work unless OIDC is on with local authentication switched off."""
    return config.oidc.local_authentication_enabled or not config.oidc.enabled


class OIDCFailed(Exception):
    """A login through the provider that cannot go on; the text is for the person logging in."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Endpoints:
    issuer: str
    authorization: str
    token: str
    userinfo: str
    jwks: str
    token_auth_method: str


def endpoints(settings: OIDCSection) -> Endpoints:
    """From discovery (`{issuer}/.well-known/openid-configuration`), else as configured."""
    if not settings.issuer:
        raise OIDCFailed("Logging in with OIDC is not configured: oidc.issuer is empty.", 503)
    found: dict[str, Any] = {}
    if settings.discovery:
        url = settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        found = _get_json(url, "discovery document")
        if str(found.get("issuer", "")).rstrip("/") != settings.issuer.rstrip("/"):
            raise OIDCFailed(f"The provider's discovery document names another issuer ({found.get('issuer')!r}).")
    methods = found.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    chosen = Endpoints(
        issuer=str(found.get("issuer") or settings.issuer),
        authorization=str(found.get("authorization_endpoint") or settings.authorization_endpoint),
        token=str(found.get("token_endpoint") or settings.token_endpoint),
        userinfo=str(found.get("userinfo_endpoint") or settings.userinfo_endpoint),
        jwks=str(found.get("jwks_uri") or settings.jwks_uri),
        token_auth_method="client_secret_basic" if "client_secret_basic" in methods else "client_secret_post",
    )
    missing = [name for name in ("authorization", "token", "jwks") if not getattr(chosen, name)]
    if missing:
        raise OIDCFailed(
            f"The provider's {', '.join(missing)} endpoint is not known (configure it or use discovery).", 503
        )
    return chosen


def _get_json(url: str, what: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    try:
        reply = requests.get(url, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as exc:
        log.error("OIDC %s %s unreachable: %s", what, url, exc)
        raise OIDCFailed("The identity provider cannot be reached just now. Please try again shortly.") from exc
    if reply.status_code != 200:
        log.error("OIDC %s %s answered %s: %s", what, url, reply.status_code, reply.text[:300])
        raise OIDCFailed(f"The identity provider answered {reply.status_code} for its {what}.")
    try:
        data = reply.json()
    except ValueError as exc:
        raise OIDCFailed(f"The identity provider's {what} is not JSON.") from exc
    if not isinstance(data, dict):
        raise OIDCFailed(f"The identity provider's {what} is not a JSON object.")
    return data


def _client(settings: OIDCSection, found: Endpoints, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(
        settings.identifier,
        settings.secret,
        token_endpoint_auth_method=found.token_auth_method,
        scope=" ".join(settings.scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )


def _redirect_uri(view: View) -> str:
    """The browser's own view of this site (scheme and host, through a proxy too)."""
    return view.req.forwarded_prefix + FLOW_PATH + "/callback"


# -- the state of one login, in the browser -----------------------------------------------------


def _save_flow(view: View, flow: dict[str, Any]) -> None:
    raw = base64.urlsafe_b64encode(json.dumps(flow, separators=(",", ":")).encode()).decode()
    view.resp.set_cookie(
        FLOW_COOKIE, raw, max_age=FLOW_SECONDS, path=FLOW_PATH, secure=view.secure, http_only=True, same_site="Lax"
    )


def _take_flow(view: View) -> dict[str, Any]:
    """The pending login: its random state, nonce and PKCE verifier only ever leave in the
    cookie, so a callback whose state is not the cookie's is not ours to complete."""
    values = view.req.get_cookie_values(FLOW_COOKIE)
    view.resp.unset_cookie(FLOW_COOKIE, path=FLOW_PATH)
    stale = OIDCFailed("This login has expired or was started in another browser. Please log in again.", 400)
    if not values:
        raise stale
    try:
        flow = json.loads(base64.urlsafe_b64decode(values[0].encode()))
    except ValueError as exc:
        raise stale from exc
    if not isinstance(flow, dict) or not all(isinstance(flow.get(k), str) for k in ("state", "nonce", "verifier")):
        raise stale
    if not isinstance(flow.get("started"), int) or time.time() - flow["started"] > FLOW_SECONDS:
        raise stale
    sent = view.query.get("state", "")
    if not sent or not hmac.compare_digest(sent.encode(), flow["state"].encode()):
        log.warning("OIDC callback with a state that is not this browser's")
        raise stale
    return flow


# -- the pages --------------------------------------------------------------------------------


def _failure(view: View, exc: OIDCFailed) -> None:
    view.render("error.html", status=exc.status, title="Could not log you in", message=exc.message)


class StartLogin(Page):
    public = True

    def post(self, view: View) -> None:
        settings = self.ui.runtime.config.oidc
        if not settings.enabled:
            view.not_found()
        try:
            found = endpoints(settings)
        except OIDCFailed as exc:
            return _failure(view, exc)
        flow = {
            "state": secrets.token_urlsafe(32),
            "nonce": secrets.token_urlsafe(32),
            "verifier": secrets.token_urlsafe(48),
            "return_to": safe_return_to(view.form.get("return_to")),
            "started": int(time.time()),
        }
        client = _client(settings, found, _redirect_uri(view))
        url, _ = client.create_authorization_url(
            found.authorization, state=flow["state"], nonce=flow["nonce"], code_verifier=flow["verifier"]
        )
        _save_flow(view, flow)
        # Not a redirect: browsers hold a form's redirects to the page's `form-action 'self'`, so
        # a page of our own sends the browser on (a refresh, with a link for the unwilling).
        view.render("account/oidc_continue.html", url=url, name=settings.name)


class Callback(Page):
    public = True

    def get(self, view: View) -> None:
        runtime = self.ui.runtime
        settings = runtime.config.oidc
        if not settings.enabled:
            view.not_found()
        try:
            flow = _take_flow(view)
            if view.query.get("error"):
                reason = view.query.get("error_description") or view.query["error"]
                raise OIDCFailed(f"{settings.name} did not log you in: {reason}", 403)
            identity = self._identity(view, settings, flow)
        except OIDCFailed as exc:
            return _failure(view, exc)
        with runtime.db.transaction() as session:
            user = find_oidc_user(session, identity)
            if user is not None:
                session.expunge(user)
        if user is None:
            log.info("OIDC login of %s (%s) refused: no matching user", identity.uid, identity.email)
            who = identity.email or f"the identity {identity.uid}"
            message = f"No Postal account uses {who}. Ask an administrator to add you, then log in again."
            return view.render("error.html", status=403, title="No account", message=message)
        view.start_session(user, "oidc")
        raise Redirect(safe_return_to(flow.get("return_to")))

    def _identity(self, view: View, settings: OIDCSection, flow: dict[str, Any]) -> OIDCIdentity:
        code = view.query.get("code")
        if not code:
            raise OIDCFailed("The identity provider sent no authorization code.", 400)
        found = endpoints(settings)
        client = _client(settings, found, _redirect_uri(view))
        try:
            token = client.fetch_token(found.token, code=code, code_verifier=flow["verifier"], timeout=TIMEOUT)
        except requests.RequestException as exc:
            log.error("OIDC token endpoint %s unreachable: %s", found.token, exc)
            raise OIDCFailed("The identity provider cannot be reached just now. Please try again shortly.") from exc
        except Exception as exc:  # authlib raises its own errors for refused or malformed answers
            log.error("OIDC token request refused by %s: %s", found.token, exc)
            raise OIDCFailed(f"{settings.name} refused to complete the login ({exc}).") from exc
        claims = _verified_claims(token.get("id_token"), found, settings.identifier, flow["nonce"])
        if found.userinfo and token.get("access_token"):
            info = _get_json(found.userinfo, "user info", {"Authorization": f"Bearer {token['access_token']}"})
            if info.get("sub") != claims.get("sub"):
                raise OIDCFailed("The identity provider's user info is about someone else than its id_token.")
            claims = {**claims, **info}
        uid = claims.get(settings.uid_field)
        if uid in (None, ""):
            raise OIDCFailed(f"The identity provider did not say who you are (no {settings.uid_field!r} claim).")
        email, name = claims.get(settings.email_address_field), claims.get(settings.name_field)
        return OIDCIdentity(
            issuer=settings.issuer,
            uid=str(uid),
            email=str(email) if email else None,
            name=str(name) if name else None,
            email_verified=claims.get("email_verified") is not False,
        )


def _verified_claims(id_token: Any, found: Endpoints, client_id: str, nonce: str) -> dict[str, Any]:
    """The id_token's claims once its signature (the provider's JWKS), issuer, audience, expiry
    and nonce check out."""
    if not isinstance(id_token, str) or not id_token:
        raise OIDCFailed("The identity provider sent no id_token.")
    try:
        keys = KeySet.import_key_set(_get_json(found.jwks, "signing keys"))  # type: ignore[arg-type]
        decoded = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": found.issuer},
            aud={"essential": True, "value": client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(decoded.claims)
    except (JoseError, ValueError, TypeError) as exc:
        log.error("OIDC id_token from %s refused: %s", found.issuer, exc)
        raise OIDCFailed(f"The identity provider's id_token could not be verified ({exc}).") from exc
    claims = dict(decoded.claims)
    audience = claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise OIDCFailed("The identity provider's id_token was issued to another application.")
    return claims


ROUTES: list[tuple[str, type[Page]]] = [(FLOW_PATH, StartLogin), (FLOW_PATH + "/callback", Callback)]
