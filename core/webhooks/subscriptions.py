"""Webhook subscriptions (reference §7): a server's webhooks, their URLs and the events they want."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import ValidationError
from core.http_client import valid_url
from models.server import Server
from models.webhook import SELECTABLE, Webhook, WebhookEvent


def _valid_events(events: Sequence[str]) -> list[str]:
    unknown = [e for e in events if e not in SELECTABLE]
    if unknown:
        raise ValidationError("event", f"{', '.join(unknown)} is not one of {', '.join(SELECTABLE)}")
    return list(dict.fromkeys(events))


def _subscribe(session: Session, webhook: Webhook, events: list[str]) -> None:
    """Subscribe the webhook to `events` only (to every event when the list is empty)."""
    for row in session.scalars(select(WebhookEvent).where(WebhookEvent.webhook_id == webhook.id)):
        session.delete(row)
    session.flush()
    webhook.all_events = not events
    for event in events:
        session.add(WebhookEvent(webhook_id=webhook.id, event=event))
    session.flush()


def create_webhook(
    session: Session, server: Server, url: str, name: str | None = None, events: Sequence[str] | None = None
) -> Webhook:
    """A webhook for `events` (all events when none are named)."""
    url = valid_url(url)
    chosen = _valid_events(events or ())
    name = (name or urlsplit(url).hostname or "").strip()
    webhook = Webhook(server_id=server.id, name=name, url=url, all_events=not chosen, enabled=True, sign=True)
    session.add(webhook)
    session.flush()
    _subscribe(session, webhook, chosen)
    return webhook


def webhook_events(session: Session, webhook: Webhook) -> list[str]:
    """The events the webhook was subscribed to by name (empty when it wants all events)."""
    return list(
        session.scalars(
            select(WebhookEvent.event).where(WebhookEvent.webhook_id == webhook.id).order_by(WebhookEvent.id)
        )
    )


def update_webhook(
    session: Session,
    webhook: Webhook,
    url: str | None = None,
    name: str | None = None,
    events: Sequence[str] | None = None,
    enabled: bool | None = None,
) -> Webhook:
    """Change what is given, with the rules of `create_webhook`; `events=[]` means all events."""
    if url is not None:
        webhook.url = valid_url(url)
    if name is not None:
        if not name.strip():
            raise ValidationError("name", "can't be blank")
        webhook.name = name.strip()
    if events is not None:
        _subscribe(session, webhook, _valid_events(events))
    if enabled is not None:
        webhook.enabled = enabled
    session.flush()
    return webhook


def delete_webhook(session: Session, webhook: Webhook) -> None:
    """Remove the webhook; its requests still waiting go with it, its history stays."""
    session.delete(webhook)
    session.flush()
