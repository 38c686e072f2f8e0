"""What an API v1 action is: its declared parameters and a function of the request context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.outgoing.submission import Submission
from core.queue.enqueue import Accepted, SubmissionRejected
from core.runtime import Runtime
from core.tenancy.credentials import Authenticated
from web.api_v1.params import Param


@dataclass(frozen=True)
class Context:
    """Who is asking and from where; the action's only view of the HTTP request."""

    runtime: Runtime
    auth: Authenticated
    client_ip: str
    # Stores and queues one submission, in a batch with those of concurrent requests.
    submit: Callable[[Submission], Accepted | SubmissionRejected]


@dataclass(frozen=True)
class Action:
    run: Callable[[Context, dict[str, Any]], Any]
    declared: tuple[Param, ...] = ()
    # Honours the Idempotency-Key header (the send endpoints).
    idempotent: bool = False
