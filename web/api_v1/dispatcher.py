"""The `/api/v1/<controller>/<action>` sink: authenticates, reads parameters, runs the action and
renders every outcome in the Moonrope envelope; the one place that maps errors to responses.

Order of checks, as Moonrope runs them: OPTIONS is answered first (CORS preflight), then an
unknown controller/action (HTTP 400), then the `X-Server-API-Key`, then the body (size, JSON),
then the declared parameters, then the action. Any method reaches the action.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import falcon
from sqlalchemy.exc import OperationalError

from core.outgoing.batcher import ThreadBatcher
from core.outgoing.submission import Submission, submit_outgoing_many
from core.queue.enqueue import Accepted, SubmissionRejected
from core.runtime import Runtime
from core.tenancy.credentials import Authenticated, authenticate_key
from models.enums import CredentialType
from web.api_v1 import envelope
from web.api_v1.action import Action, Context
from web.api_v1.envelope import APIError, ParameterError
from web.api_v1.idempotency import HEADER as IDEMPOTENCY_HEADER
from web.api_v1.idempotency import Claim, IdempotencyKeys, Replay, check_key, fingerprint
from web.api_v1.params import InvalidJSON, parse_params, validate
from web.body import BodyTooLarge, discard_body, read_body
from web.client_address import ClientAddress

log = logging.getLogger(__name__)

PREFIX = "/api/v1/"
API_KEY_HEADER = "X-Server-API-Key"
SUSPENDED_MESSAGE = "The mail server has been suspended"
TEMPORARY_MESSAGE = "The database could not be reached; try again later"
# Room for the JSON around a message: the parameters other than the message data.
BODY_ALLOWANCE = 1024 * 1024


def body_limit(max_message_size: int) -> int:
    """The largest body accepted: a maximum-size message in base64 (4 bytes per 3), plus room."""
    return -(-max_message_size // 3) * 4 + BODY_ALLOWANCE


class BodyTooLargeError(APIError):
    def __init__(self, limit: int, max_message_size: int) -> None:
        super().__init__(
            "MessageTooLarge",
            f"The request body is larger than {limit} bytes "
            f"(messages may be up to {max_message_size // (1024 * 1024)}MB)",
        )


class Dispatcher:
    def __init__(self, runtime: Runtime, actions: Mapping[tuple[str, str], Action], keys: IdempotencyKeys) -> None:
        self.runtime = runtime
        self.actions = actions
        self.keys = keys
        self.max_message_size = runtime.config.max_message_size_bytes
        self.limit = body_limit(self.max_message_size)
        self.client_address = ClientAddress(runtime.config.postal.trusted_proxies)
        # The submissions of concurrent requests are stored together (DESIGN §11).
        self._submissions: ThreadBatcher[Submission, Accepted | SubmissionRejected] = ThreadBatcher(
            lambda items: submit_outgoing_many(runtime, items)
        )

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_: Any) -> None:
        started = time.monotonic()
        resp.set_header("Access-Control-Allow-Origin", "*")
        resp.set_header("Access-Control-Allow-Methods", "*")
        try:
            self._handle(req, resp, started)
        except Exception:
            log.exception("API v1 %s %s failed", req.method, req.path)
            envelope.internal_server_error(resp)
        finally:
            discard_body(req, cap=2 * self.limit)

    def _handle(self, req: falcon.Request, resp: falcon.Response, started: float) -> None:
        if req.method == "OPTIONS":
            requested = req.get_header("Access-Control-Request-Headers")
            if requested:
                resp.set_header("Access-Control-Allow-Headers", requested)
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = "OK"
            return
        name = _controller_action(req.path)
        action = self.actions.get(name) if name is not None else None
        if name is None or action is None:
            envelope.invalid_controller_or_action(resp)
            return

        def elapsed() -> float:
            return time.monotonic() - started

        try:
            auth = self._authenticate(req)
            body = read_body(req, self.limit)
            params = parse_params(req, body)
            checked = validate(params, action.declared)
            ctx = Context(self.runtime, auth, self._client_ip(req), self._submissions.submit)
            key = req.get_header(IDEMPOTENCY_HEADER)
            if action.idempotent and key:
                data, replayed = self._run_once(ctx, action, checked, check_key(key), f"{name[0]}/{name[1]}", params)
                if replayed:
                    resp.set_header("Idempotent-Replayed", "true")
            else:
                data = action.run(ctx, checked)
        except BodyTooLarge:
            envelope.error(resp, elapsed(), BodyTooLargeError(self.limit, self.max_message_size), falcon.HTTP_413)
        except InvalidJSON as exc:
            envelope.invalid_json(resp, str(exc))
        except APIError as exc:
            envelope.error(resp, elapsed(), exc)
        except ParameterError as exc:
            envelope.parameter_error(resp, elapsed(), exc)
        except OperationalError as exc:
            # The database is unreachable: nothing was stored, and the client should send again.
            log.error("API v1 %s: the database could not be reached: %s", req.path, exc.orig)
            envelope.error(resp, elapsed(), APIError("TemporaryError", TEMPORARY_MESSAGE))
        else:
            envelope.success(resp, elapsed(), data)

    def _authenticate(self, req: falcon.Request) -> Authenticated:
        key = (req.get_header(API_KEY_HEADER) or "").strip()
        if not key:
            raise APIError("AccessDenied", "Must be authenticated as a server.")
        auth = authenticate_key(self.runtime.db, key, CredentialType.API)
        if auth is None:
            raise APIError(
                "InvalidServerAPIKey", "The API token provided in X-Server-API-Key was not valid.", token=key
            )
        if auth.suspended:
            raise APIError("ServerSuspended", SUSPENDED_MESSAGE)
        return auth

    def _run_once(
        self, ctx: Context, action: Action, checked: dict[str, Any], key: str, endpoint: str, params: dict[str, Any]
    ) -> tuple[Any, bool]:
        """Run `action` unless this key was used before; (data, whether it is a replay)."""
        outcome = self.keys.begin(ctx.auth.server_id, key, fingerprint(endpoint, params))
        if isinstance(outcome, Replay):
            return outcome.data, True
        claim: Claim = outcome
        try:
            data = action.run(ctx, checked)
        except BaseException:
            self.keys.release(claim)
            raise
        self.keys.complete(claim, data)
        return data, False

    def _client_ip(self, req: falcon.Request) -> str:
        return self.client_address.of(req)


def _controller_action(path: str) -> tuple[str, str] | None:
    if not path.startswith(PREFIX):
        return None
    parts = path[len(PREFIX) :].rstrip("/").split("/")
    return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None
