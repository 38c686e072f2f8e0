"""The sections of `postal.yml`: one frozen dataclass per section, its keys with Postal's defaults.

Postal's own keys come first in each section; the keys this platform adds are marked as additions
and documented in `docs/configuration.md`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

CONFIG_ROOT_TOKEN = "$config-file-root"  # noqa: S105 (a path placeholder, not a secret)


@dataclass(frozen=True)
class SMTPRelay:
    """One entry of `postal.smtp_relays` (`smtp://host:port?ssl_mode=Auto`)."""

    host: str
    port: int = 25
    ssl_mode: str = "Auto"

    @classmethod
    def parse(cls, text: str) -> SMTPRelay:
        parts = urlsplit(text if "://" in text else f"smtp://{text}")
        if parts.scheme != "smtp" or not parts.hostname:
            raise ValueError(f"not an smtp://host:port URL: {text!r}")
        ssl_mode = parse_qs(parts.query).get("ssl_mode", ["Auto"])[0]
        if ssl_mode not in ("None", "Auto", "STARTTLS", "TLS"):
            raise ValueError(f"ssl_mode must be None, Auto, STARTTLS or TLS, not {ssl_mode!r}")
        return cls(host=parts.hostname, port=parts.port or 25, ssl_mode=ssl_mode)


@dataclass(frozen=True)
class PostalSection:
    web_hostname: str = "postal.example.com"
    web_protocol: str = "https"
    smtp_hostname: str = "postal.example.com"
    use_ip_pools: bool = False
    default_maximum_delivery_attempts: int = 18
    default_maximum_hold_expiry_days: int = 7
    default_suppression_list_automatic_removal_days: int = 30
    default_spam_threshold: float = 5.0
    default_spam_failure_threshold: float = 20.0
    use_local_ns_for_domain_verification: bool = False
    use_resent_sender_header: bool = True
    signing_key_path: str = f"{CONFIG_ROOT_TOKEN}/signing.key"
    smtp_relays: list[str] = field(default_factory=list)
    trusted_proxies: list[str] = field(default_factory=list)
    queued_message_lock_stale_days: int = 1
    batch_queued_messages: bool = True
    # Additions: where the embedded databases live, and the retry schedule (reference §3.8).
    data_dir: str = "./data"
    retry_base_delay: float = 300.0
    retry_backoff_factor: float = 1.3


@dataclass(frozen=True)
class WebServerSection:
    default_port: int = 5000
    default_bind_address: str = "127.0.0.1"
    # Postal's default is 5 (puma); request threads here mostly wait for the batched database
    # writes of submissions, and more of them let more requests share one batch.
    max_threads: int = 20


@dataclass(frozen=True)
class WorkerSection:
    default_health_server_port: int = 9090
    default_health_server_bind_address: str = "127.0.0.1"
    threads: int = 8
    # Additions: a worker renews the lock of what it holds every third of this; a lock not
    # renewed for this long belongs to a worker that died, and the requeuer frees it.
    lease_seconds: int = 60
    # How many SMTP sessions a worker process keeps open towards one destination at most.
    max_connections_per_destination: int = 5


@dataclass(frozen=True)
class WebhooksSection:
    """An addition: how webhook requests are delivered and kept."""

    timeout: float = 5.0
    # Failed requests are retried with exponential back-off (first wait, growth, longest wait)
    # for this many hours after the event, then given up.
    retry_base_delay: float = 120.0
    retry_backoff_factor: float = 2.0
    retry_max_delay: float = 3600.0
    retry_window_hours: float = 24.0
    # Every attempt is kept in the server's history for this many days.
    history_days: int = 7


@dataclass(frozen=True)
class APISection:
    """An addition: limits of the management API (`/api/v2`)."""

    # Requests a minute each token may make on average, and at once; 0 turns the limit off.
    rate_limit_per_minute: int = 600
    rate_limit_burst: int = 60
    # Largest request body accepted, in bytes.
    max_request_size: int = 10 * 1024 * 1024
    # Items per page of a list when `limit` is not given, and the most `limit` may ask for.
    default_page_size: int = 50
    max_page_size: int = 500


@dataclass(frozen=True)
class MainDBSection:
    # Empty host = the embedded SQLite database under `postal.data_dir` (an addition).
    host: str = ""
    port: int = 3306
    username: str = "postal"
    password: str = ""
    database: str = "postal"
    pool_size: int = 5
    encoding: str = "utf8mb4"


@dataclass(frozen=True)
class MessageDBSection:
    # Empty host = the same server as `main_db` (or SQLite files when that is embedded).
    host: str = ""
    port: int = 3306
    username: str = ""
    password: str = ""
    encoding: str = "utf8mb4"
    database_name_prefix: str = "postal"


@dataclass(frozen=True)
class RabbitMQSection:
    # Empty host = an in-process queue, accepted only by `postal run` (an addition).
    host: str = ""
    port: int = 5672
    username: str = "guest"
    password: str = "guest"  # noqa: S105 (RabbitMQ's stock local account)
    vhost: str = "/postal"
    tls: bool = False
    verify_peer: bool = True
    tls_ca_certificates: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LoggingSection:
    rails_log_enabled: bool = False
    sentry_dsn: str = ""
    enabled: bool = True
    highlighting_enabled: bool = False
    level: str = "info"
    # Addition: `text` (one readable line per event) or `json` (one JSON object per line).
    format: str = "text"


@dataclass(frozen=True)
class GelfSection:
    host: str = ""
    port: int = 12201
    facility: str = "postal"


@dataclass(frozen=True)
class SMTPServerSection:
    default_port: int = 25
    default_bind_address: str = "::"
    default_health_server_port: int = 9091
    default_health_server_bind_address: str = "127.0.0.1"
    tls_enabled: bool = False
    tls_certificate_path: str = f"{CONFIG_ROOT_TOKEN}/smtp.cert"
    tls_private_key_path: str = f"{CONFIG_ROOT_TOKEN}/smtp.key"
    tls_ciphers: str = ""
    ssl_version: str = "SSLv23"
    proxy_protocol: bool = False
    log_connections: bool = False
    max_message_size: int = 14
    log_ip_address_exclusion_matcher: str = ""
    # Additions (see docs/configuration.md).
    implicit_tls_port: int = -1
    require_tls_for_auth: bool = False
    idle_timeout: float = 300.0
    session_timeout: float = 1800.0
    max_connections_per_ip: int = 20
    auth_failure_limit: int = 5
    auth_failure_window: float = 300.0


@dataclass(frozen=True)
class DNSSection:
    mx_records: list[str] = field(default_factory=lambda: ["mx1.postal.example.com", "mx2.postal.example.com"])
    spf_include: str = "spf.postal.example.com"
    return_path_domain: str = "rp.postal.example.com"
    route_domain: str = "routes.postal.example.com"
    track_domain: str = "track.postal.example.com"
    helo_hostname: str = ""
    dkim_identifier: str = "postal"
    domain_verify_prefix: str = "postal-verification"
    custom_return_path_prefix: str = "psrp"
    timeout: float = 5.0
    resolv_conf_path: str = "/etc/resolv.conf"
    # Additions: send every lookup to these servers (tests use a DNS server on 127.0.0.1).
    nameservers: list[str] = field(default_factory=list)
    port: int = 53
    dkim_key_size: int = 2048


@dataclass(frozen=True)
class SMTPSection:
    host: str = "127.0.0.1"
    port: int = 25
    username: str = ""
    password: str = ""
    authentication_type: str = "login"
    enable_starttls: bool = False
    enable_starttls_auto: bool = True
    openssl_verify_mode: str = "peer"
    from_name: str = "Postal"
    from_address: str = "postal@example.com"


@dataclass(frozen=True)
class RailsSection:
    environment: str = "production"
    secret_key: str = ""


@dataclass(frozen=True)
class RspamdSection:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 11334
    ssl: bool = False
    password: str = ""
    flags: str = ""


@dataclass(frozen=True)
class SpamdSection:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 783


@dataclass(frozen=True)
class ClamAVSection:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2000


@dataclass(frozen=True)
class SMTPClientSection:
    open_timeout: float = 30.0
    read_timeout: float = 30.0
    # Addition: the port used when delivering to an MX host (tests point it at a local sink).
    destination_port: int = 25


@dataclass(frozen=True)
class MigrationWaiterSection:
    enabled: bool = False
    attempts: int = 120
    sleep_time: float = 2.0


@dataclass(frozen=True)
class WebUISection:
    """Addition: the web UI's sessions and login throttling."""

    # A session ends after this long without a request, and in any case after `session_max_days`.
    session_idle_hours: float = 12.0
    session_max_days: float = 30.0
    # Failed logins counted over `login_failure_window_minutes`: past either limit, logins from
    # that address (or for that account) are refused until the window has moved on.
    login_failure_window_minutes: float = 15.0
    login_failures_per_address: int = 20
    login_failures_per_account: int = 5
    # Password reset links stay valid this long.
    password_reset_minutes: int = 60


@dataclass(frozen=True)
class OIDCSection:
    enabled: bool = False
    local_authentication_enabled: bool = True
    name: str = "OIDC Provider"
    issuer: str = ""
    identifier: str = ""
    secret: str = ""
    scopes: list[str] = field(default_factory=lambda: ["openid", "email"])
    uid_field: str = "sub"
    email_address_field: str = "email"
    name_field: str = "name"
    discovery: bool = True
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    userinfo_endpoint: str = ""
    jwks_uri: str = ""


SECTIONS: dict[str, type] = {
    "postal": PostalSection,
    "web_server": WebServerSection,
    "worker": WorkerSection,
    "main_db": MainDBSection,
    "message_db": MessageDBSection,
    "rabbitmq": RabbitMQSection,
    "logging": LoggingSection,
    "gelf": GelfSection,
    "smtp_server": SMTPServerSection,
    "dns": DNSSection,
    "smtp": SMTPSection,
    "rails": RailsSection,
    "rspamd": RspamdSection,
    "spamd": SpamdSection,
    "clamav": ClamAVSection,
    "smtp_client": SMTPClientSection,
    "webhooks": WebhooksSection,
    "api": APISection,
    "migration_waiter": MigrationWaiterSection,
    "oidc": OIDCSection,
    "web_ui": WebUISection,
}
