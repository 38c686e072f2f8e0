"""Plain-data views of the objects of both databases, shared by the CLI's `--json` and the APIs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from models.api_token import APIToken
from models.credential import Credential
from models.domain import Domain
from models.endpoint import endpoint_kind
from models.ip_pool import IPAddress, IPPool, IPPoolRule
from models.organization import Organization, OrganizationUser
from models.server import Server
from models.track_domain import TrackDomain
from models.user import User
from models.webhook import Webhook


def iso(value: datetime | None) -> str | None:
    return value.replace(tzinfo=UTC).isoformat() if value is not None else None


def organization(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "uuid": org.uuid,
        "name": org.name,
        "permalink": org.permalink,
        "time_zone": org.time_zone,
        "suspended": org.suspended_at is not None,
        "created_at": iso(org.created_at),
    }


def server(srv: Server, org: Organization | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": srv.id,
        "uuid": srv.uuid,
        "name": srv.name,
        "permalink": srv.permalink,
        "mode": srv.mode.value,
        "token": srv.token,
        "organization_id": srv.organization_id,
        "send_limit": srv.send_limit,
        "suspended": srv.suspended_at is not None,
        "created_at": iso(srv.created_at),
    }
    if org is not None:
        data["organization"] = org.permalink
    return data


def domain(d: Domain) -> dict[str, Any]:
    return {
        "id": d.id,
        "uuid": d.uuid,
        "name": d.name,
        "owner_type": d.owner_type.value,
        "owner_id": d.owner_id,
        "verified": d.verified,
        "verified_at": iso(d.verified_at),
        "verification_method": d.verification_method.value,
        "dns_checked_at": iso(d.dns_checked_at),
        "dns_ok": d.dns_ok,
    }


def dns_status(d: Domain) -> dict[str, Any]:
    """The fields Postal reports for a DNS check."""

    def status(value: Any) -> str | None:
        return value.value if value is not None else None

    return {
        "domain": d.name,
        "uuid": d.uuid,
        "spf_status": status(d.spf_status),
        "spf_error": d.spf_error,
        "dkim_status": status(d.dkim_status),
        "dkim_error": d.dkim_error,
        "mx_status": status(d.mx_status),
        "mx_error": d.mx_error,
        "return_path_status": status(d.return_path_status),
        "return_path_error": d.return_path_error,
        "dns_checked_at": iso(d.dns_checked_at),
        "dns_ok": d.dns_ok,
        "verified": d.verified,
    }


def credential(c: Credential) -> dict[str, Any]:
    return {
        "id": c.id,
        "uuid": c.uuid,
        "server_id": c.server_id,
        "type": c.type.value,
        "name": c.name,
        "key": c.key,
        "hold": c.hold,
        "last_used_at": iso(c.last_used_at),
        "created_at": iso(c.created_at),
    }


def user(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "uuid": u.uuid,
        "email_address": u.email_address,
        "first_name": u.first_name,
        "last_name": u.last_name,
        "admin": u.admin,
        "created_at": iso(u.created_at),
    }


def ip_pool(pool: IPPool) -> dict[str, Any]:
    return {
        "id": pool.id,
        "uuid": pool.uuid,
        "name": pool.name,
        "permalink": pool.permalink,
        "default": pool.default,
        "queue": f"outgoing-{pool.permalink}",
    }


def ip_address(address: IPAddress) -> dict[str, Any]:
    return {
        "id": address.id,
        "ip_pool_id": address.ip_pool_id,
        "ipv4": address.ipv4,
        "ipv6": address.ipv6,
        "hostname": address.hostname,
        "priority": address.priority,
    }


def ip_rule(rule: IPPoolRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "uuid": rule.uuid,
        "owner_type": rule.owner_type.value,
        "owner_id": rule.owner_id,
        "ip_pool_id": rule.ip_pool_id,
        "from": (rule.from_text or "").splitlines(),
        "to": (rule.to_text or "").splitlines(),
    }


def webhook(hook: Webhook, events: list[str]) -> dict[str, Any]:
    return {
        "id": hook.id,
        "uuid": hook.uuid,
        "server_id": hook.server_id,
        "name": hook.name,
        "url": hook.url,
        "all_events": hook.all_events,
        "events": events,
        "enabled": hook.enabled,
        "last_used_at": iso(hook.last_used_at),
    }


def suppression(row: Any) -> dict[str, Any]:
    return {
        "address": row.address,
        "type": row.type,
        "reason": row.reason,
        "timestamp": float(row.timestamp),
        "keep_until": float(row.keep_until),
    }


def complaint(row: Any) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "message_id": int(row.message_id),
        "report_message_id": row.report_message_id,
        "address": row.address,
        "feedback_type": row.feedback_type,
        "user_agent": row.user_agent,
        "arrival_date": row.arrival_date,
        "timestamp": float(row.timestamp),
    }


def endpoint(e: Any) -> dict[str, Any]:
    """An HTTP, SMTP or address endpoint; `ref` is how `--endpoint` names it."""
    kind = endpoint_kind(e)
    data: dict[str, Any] = {
        "id": e.id,
        "uuid": e.uuid,
        "type": kind.value,
        "ref": f"{kind.value.removesuffix('Endpoint').lower()}:{e.uuid}",
        "server_id": e.server_id,
    }
    if kind.value == "HTTPEndpoint":
        data.update(
            name=e.name,
            url=e.url,
            encoding=e.encoding.value,
            format=e.format.value,
            strip_replies=e.strip_replies,
            include_attachments=e.include_attachments,
            timeout=e.timeout,
        )
    elif kind.value == "SMTPEndpoint":
        data.update(name=e.name, hostname=e.hostname, port=e.port, ssl_mode=e.ssl_mode.value)
    else:
        data.update(address=e.address)
    data["last_used_at"] = iso(e.last_used_at)
    return data


def route(r: Any, domain_name: str | None, route_domain: str, additional: list[dict[str, Any]]) -> dict[str, Any]:
    """A route; `address` is how mail reaches it, `route_address` reaches it directly."""
    return {
        "id": r.id,
        "uuid": r.uuid,
        "server_id": r.server_id,
        "name": r.name,
        "domain": domain_name,
        "address": f"{r.name}@{domain_name}" if domain_name else r.name,
        "route_address": f"{r.token}@{route_domain}" if route_domain else None,
        "mode": r.mode.value,
        "spam_mode": r.spam_mode.value,
        "endpoint": {"type": r.endpoint_type.value, "id": r.endpoint_id} if r.endpoint_type else None,
        "additional_endpoints": additional,
        "token": r.token,
    }


def api_token(t: APIToken) -> dict[str, Any]:
    """A management API token, without the token (only its hash is kept)."""
    return {
        "uuid": t.uuid,
        "name": t.name,
        "user_id": t.user_id,
        "last_used_at": iso(t.last_used_at),
        "expires_at": iso(t.expires_at),
        "created_at": iso(t.created_at),
    }


def membership(m: OrganizationUser, u: User, servers: list[str]) -> dict[str, Any]:
    """A member of an organization; `servers` are the permalinks they may use unless `all_servers`."""
    return {
        "user": user(u),
        "admin": m.admin,
        "all_servers": m.all_servers,
        "servers": [] if m.all_servers else servers,
        "created_at": iso(m.created_at),
    }


def server_settings(srv: Server, org: Organization) -> dict[str, Any]:
    """A server with every setting the management API can change."""
    return {
        **server(srv, org),
        "status": "Suspended" if srv.suspended_at or org.suspended_at else srv.mode.value,
        "suspension_reason": srv.suspension_reason,
        "ip_pool_id": srv.ip_pool_id,
        "message_retention_days": srv.message_retention_days,
        "raw_message_retention_days": srv.raw_message_retention_days,
        "raw_message_retention_size": srv.raw_message_retention_size,
        "allow_sender": srv.allow_sender,
        "spam_threshold": srv.spam_threshold,
        "spam_failure_threshold": srv.spam_failure_threshold,
        "outbound_spam_threshold": srv.outbound_spam_threshold,
        "postmaster_address": srv.postmaster_address,
        "log_smtp_data": srv.log_smtp_data,
        "privacy_mode": srv.privacy_mode,
    }


def epoch_iso(value: float | None) -> str | None:
    """Epoch seconds (as the message database stores times) in ISO 8601 UTC."""
    return datetime.fromtimestamp(float(value), UTC).isoformat() if value is not None else None


def message_summary(row: Any) -> dict[str, Any]:
    """A row of a server's messages table, as lists show it."""
    return {
        "id": row.id,
        "token": row.token,
        "scope": row.scope,
        "rcpt_to": row.rcpt_to,
        "mail_from": row.mail_from,
        "subject": row.subject,
        "message_id": row.message_id,
        "tag": row.tag,
        "status": row.status,
        "held": bool(row.held),
        "spam": bool(row.spam),
        "bounce": bool(row.bounce),
        "size": row.size,
        "timestamp": epoch_iso(row.timestamp),
        "last_delivery_attempt": epoch_iso(row.last_delivery_attempt),
        "hold_expiry": epoch_iso(row.hold_expiry),
    }


def queued_message(row: Any) -> dict[str, Any]:
    """A row of the delivery queue; `locked` while a worker is delivering it."""
    return {
        "id": row.id,
        "message_id": row.message_id,
        "domain": row.domain,
        "queue": row.queue,
        "attempts": row.attempts,
        "retry_after": iso(row.retry_after),
        "locked": row.locked_at is not None,
        "locked_at": iso(row.locked_at),
        "manual": bool(row.manual),
        "created_at": iso(row.created_at),
    }


def track_domain(t: TrackDomain, d: Domain) -> dict[str, Any]:
    """A track domain; `name` is the full host name (Postal stores its first label and the domain)."""
    return {
        "id": t.id,
        "uuid": t.uuid,
        "server_id": t.server_id,
        "name": f"{t.name}.{d.name}",
        "domain": d.name,
        "domain_uuid": d.uuid,
        "ssl_enabled": t.ssl_enabled,
        "track_clicks": t.track_clicks,
        "track_loads": t.track_loads,
        "excluded_click_domains": [h.strip() for h in (t.excluded_click_domains or "").splitlines() if h.strip()],
        "dns_status": t.dns_status.value if t.dns_status is not None else None,
        "dns_error": t.dns_error,
        "dns_checked_at": iso(t.dns_checked_at),
        "created_at": iso(t.created_at),
    }
