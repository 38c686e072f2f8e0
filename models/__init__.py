"""Database models: the main database (`MainBase`) and the per-server message database (`MessageBase`).

Importing this package registers every table on its base's metadata (migrations and tests rely on it).
"""

from models.api_token import APIToken
from models.base import MainBase, MessageBase
from models.credential import Credential
from models.domain import Domain
from models.endpoint import AddressEndpoint, HTTPEndpoint, SMTPEndpoint
from models.idempotency_key import IdempotencyKey
from models.ip_pool import IPAddress, IPPool, IPPoolRule, OrganizationIPPool
from models.organization import Organization, OrganizationUser, OrganizationUserServer
from models.queued_message import QueuedMessage
from models.route import AdditionalRouteEndpoint, Route
from models.server import Server
from models.statistic import Statistic
from models.track_domain import TrackDomain
from models.ui_session import LoginFailure, UISession
from models.user import User, UserInvite
from models.webhook import Webhook, WebhookEvent, WebhookRequest
from models.worker_role import ScheduledTask, WorkerRole

__all__ = [
    "APIToken",
    "AdditionalRouteEndpoint",
    "AddressEndpoint",
    "Credential",
    "Domain",
    "HTTPEndpoint",
    "IPAddress",
    "IPPool",
    "IPPoolRule",
    "IdempotencyKey",
    "LoginFailure",
    "MainBase",
    "MessageBase",
    "Organization",
    "OrganizationIPPool",
    "OrganizationUser",
    "OrganizationUserServer",
    "QueuedMessage",
    "Route",
    "SMTPEndpoint",
    "ScheduledTask",
    "Server",
    "Statistic",
    "TrackDomain",
    "UISession",
    "User",
    "UserInvite",
    "Webhook",
    "WebhookEvent",
    "WebhookRequest",
    "WorkerRole",
]
