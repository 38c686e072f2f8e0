"""A small OpenID Connect provider on 127.0.0.1 for tests: discovery, an `/authorize` that logs the
configured user in at once, `/token` (checking the client, the code and its PKCE verifier) with an
RS256 id_token, `/userinfo` and `/jwks`."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CLIENT_ID = "postal-tests"
CLIENT_SECRET = "provider-secret"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class Grant:
    """What `/authorize` handed out, for `/token` to check."""

    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str | None
    challenge_method: str | None
    claims: dict[str, Any]


@dataclass
class Provider:
    """Set `claims` to who logs in next; `sign_with` to another key to send a bad signature."""

    claims: dict[str, Any] = field(default_factory=lambda: {"sub": "user-1", "email": "admin@example.com"})
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    sign_with: rsa.RSAPrivateKey | None = None
    # Extra id_token claims (or None values to drop one): a wrong audience, an old expiry…
    id_token_changes: dict[str, Any] = field(default_factory=dict)
    port: int = 0
    grants: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def kid(self) -> str:
        return "test-key-1"

    def config(self, **changes: Any) -> dict[str, Any]:
        """The `oidc` section of postal.yml that uses this provider."""
        return {
            "enabled": True,
            "name": "Test ID",
            "issuer": self.issuer,
            "identifier": CLIENT_ID,
            "secret": CLIENT_SECRET,
            "scopes": ["openid", "email", "profile"],
            **changes,
        }

    def start(self) -> Provider:
        provider = self

        class Handler(ProviderHandler):
            owner = provider

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- what the endpoints answer ----------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        key = {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _uint(numbers.n),
            "e": _uint(numbers.e),
        }
        return {"keys": [key]}

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + 300,
            **({"nonce": grant.nonce} if grant.nonce else {}),
            **grant.claims,
        }
        for name, value in self.id_token_changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = (self.sign_with or self.key).sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"


class ProviderHandler(BaseHTTPRequestHandler):
    owner: Provider

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.owner.requests.append(f"GET {url.path}")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/.well-known/openid-configuration":
            return self._json(200, self.owner.discovery())
        if url.path == "/jwks":
            return self._json(200, self.owner.jwks())
        if url.path == "/authorize":
            return self._authorize(query)
        if url.path == "/userinfo":
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            claims = self.owner.access_tokens.get(token)
            if claims is None:
                return self._json(401, {"error": "invalid_token"})
            return self._json(200, claims)
        self._json(404, {"error": "not_found"})

    def _authorize(self, query: dict[str, str]) -> None:
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code" or "redirect_uri" not in query:
            return self._json(400, {"error": "invalid_request"})
        code = secrets.token_urlsafe(16)
        self.owner.grants[code] = Grant(
            client_id=query["client_id"],
            redirect_uri=query["redirect_uri"],
            nonce=query.get("nonce"),
            challenge=query.get("code_challenge"),
            challenge_method=query.get("code_challenge_method"),
            claims=dict(self.owner.claims),
        )
        self.send_response(302)
        self.send_header(
            "Location", f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        )
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.owner.requests.append(f"POST {url.path}")
        if url.path != "/token":
            return self._json(404, {"error": "not_found"})
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            return self._json(401, {"error": "invalid_client"})
        grant = self.owner.grants.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return self._json(400, {"error": "invalid_grant"})
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._json(400, {"error": "invalid_grant", "error_description": "redirect_uri differs"})
        verifier = form.get("code_verifier", "")
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        if grant.challenge_method != "S256" or not grant.challenge or challenge != grant.challenge:
            return self._json(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
        access_token = secrets.token_urlsafe(16)
        self.owner.access_tokens[access_token] = dict(grant.claims)
        self._json(
            200,
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.owner.id_token(grant),
            },
        )
