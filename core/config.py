"""Typed configuration: `postal.yml` in Postal's v2 file format, overridable by environment variables.

Only this module reads configuration files and the environment (STYLE rule 3). Every key of a
section is also settable by the environment variable `<SECTION>_<KEY>` in upper case, as Postal
names them (`POSTAL_WEB_HOSTNAME`, `MAIN_DB_HOST`, `SMTP_SERVER_DEFAULT_PORT`); lists are
comma-separated. The environment wins over the file, the file over the defaults.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from core.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("config/postal/postal.yml")
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
    max_threads: int = 5


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
}


@dataclass(frozen=True)
class Config:
    """The whole configuration of one process, loaded once at start and passed down."""

    postal: PostalSection = field(default_factory=PostalSection)
    web_server: WebServerSection = field(default_factory=WebServerSection)
    worker: WorkerSection = field(default_factory=WorkerSection)
    main_db: MainDBSection = field(default_factory=MainDBSection)
    message_db: MessageDBSection = field(default_factory=MessageDBSection)
    rabbitmq: RabbitMQSection = field(default_factory=RabbitMQSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    gelf: GelfSection = field(default_factory=GelfSection)
    smtp_server: SMTPServerSection = field(default_factory=SMTPServerSection)
    dns: DNSSection = field(default_factory=DNSSection)
    smtp: SMTPSection = field(default_factory=SMTPSection)
    rails: RailsSection = field(default_factory=RailsSection)
    rspamd: RspamdSection = field(default_factory=RspamdSection)
    spamd: SpamdSection = field(default_factory=SpamdSection)
    clamav: ClamAVSection = field(default_factory=ClamAVSection)
    smtp_client: SMTPClientSection = field(default_factory=SMTPClientSection)
    webhooks: WebhooksSection = field(default_factory=WebhooksSection)
    api: APISection = field(default_factory=APISection)
    migration_waiter: MigrationWaiterSection = field(default_factory=MigrationWaiterSection)
    oidc: OIDCSection = field(default_factory=OIDCSection)
    # The file this was read from (None: defaults and environment only).
    file_path: Path | None = None
    # Dotted names of the keys set by the file or the environment, not left at their default.
    explicit: frozenset[str] = frozenset()

    # -- derived values ---------------------------------------------------------------------------

    @property
    def config_root(self) -> Path:
        return (self.file_path or DEFAULT_CONFIG_FILE).parent

    def resolve_path(self, value: str) -> Path:
        """Substitute `$config-file-root` like Postal does and return the path."""
        return Path(value.replace(CONFIG_ROOT_TOKEN, str(self.config_root)))

    @property
    def data_dir(self) -> Path:
        return Path(self.postal.data_dir)

    @property
    def embedded_database(self) -> bool:
        return not self.main_db.host

    @property
    def embedded_queue(self) -> bool:
        return not self.rabbitmq.host

    @property
    def signing_key_path(self) -> Path:
        """The installation signing key; the embedded default keeps it in the data directory."""
        configured = self.resolve_path(self.postal.signing_key_path)
        if "postal.signing_key_path" in self.explicit or configured.exists():
            return configured
        if self.embedded_database:
            return self.data_dir / "signing.key"
        return configured

    @property
    def smtp_relays(self) -> list[SMTPRelay]:
        return [SMTPRelay.parse(text) for text in self.postal.smtp_relays]

    @property
    def max_message_size_bytes(self) -> int:
        return self.smtp_server.max_message_size * 1024 * 1024

    @property
    def smtp_implicit_tls_port(self) -> int:
        """The SMTPS port, or 0 when there is no implicit-TLS listener."""
        port = self.smtp_server.implicit_tls_port
        if port < 0:
            return 465 if self.smtp_server.tls_enabled else 0
        return port if self.smtp_server.tls_enabled else 0

    def is_set(self, dotted: str) -> bool:
        return dotted in self.explicit


# -- loading ----------------------------------------------------------------------------------------


def env_name(section: str, key: str) -> str:
    return f"{section}_{key}".upper()


def _type_name(kind: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    if typing.get_origin(kind) is list:
        return "a list of strings"
    return names.get(kind, str(kind))


def _coerce(kind: Any, value: Any, from_env: bool) -> Any:
    """Turn a YAML or environment value into `kind`, raising ValueError with a short reason."""
    if typing.get_origin(kind) is list:
        if from_env:
            return [part.strip() for part in str(value).split(",") if part.strip()]
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            return [str(v) for v in value]
        raise ValueError
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("false", "no", "0", "off", ""):
            return False
        raise ValueError
    if kind is int:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value.strip())
        raise ValueError
    if kind is float:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())
        raise ValueError
    if kind is str:
        if value is None:
            return ""
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
        raise ValueError
    raise ValueError


def _section_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"Cannot read the configuration file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the file must hold a mapping of sections")
    return data


def build_config(
    data: Mapping[str, Any],
    environ: Mapping[str, str],
    file_path: Path | None = None,
) -> Config:
    """Validate `data` (a parsed postal.yml), apply `environ` and return the typed configuration."""
    source = str(file_path) if file_path else "configuration"
    data = dict(data)
    version = data.pop("version", 2)
    if version != 2:
        raise ConfigError(
            f"{source}: version: only the version 2 format of postal.yml is supported (found {version!r})"
        )
    for name in data:
        if name not in SECTIONS:
            raise ConfigError(f"{source}: unknown section {name!r}")

    sections: dict[str, Any] = {}
    explicit: set[str] = set()
    for section, cls in SECTIONS.items():
        raw = data.get(section) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: {section}: must be a mapping of keys, not {type(raw).__name__}")
        kinds = _section_types(cls)
        for key in raw:
            if key not in kinds:
                raise ConfigError(f"{source}: unknown key {section}.{key}")
        values: dict[str, Any] = {}
        for key, kind in kinds.items():
            dotted = f"{section}.{key}"
            variable = env_name(section, key)
            if variable in environ:
                try:
                    values[key] = _coerce(kind, environ[variable], from_env=True)
                except ValueError:
                    raise ConfigError(
                        f"environment variable {variable} ({dotted}): expected {_type_name(kind)}, "
                        f"got {environ[variable]!r}"
                    ) from None
                explicit.add(dotted)
            elif key in raw:
                try:
                    values[key] = _coerce(kind, raw[key], from_env=False)
                except ValueError:
                    raise ConfigError(f"{source}: {dotted}: expected {_type_name(kind)}, got {raw[key]!r}") from None
                explicit.add(dotted)
        sections[section] = cls(**values)

    config = Config(**sections, file_path=file_path, explicit=frozenset(explicit))
    _check(config, source)
    return config


def _check(config: Config, source: str) -> None:
    for relay in config.postal.smtp_relays:
        try:
            SMTPRelay.parse(relay)
        except ValueError as exc:
            raise ConfigError(f"{source}: postal.smtp_relays: {exc}") from None
    if config.smtp_server.max_message_size <= 0:
        raise ConfigError(f"{source}: smtp_server.max_message_size: must be a positive number of megabytes")
    if config.dns.dkim_key_size < 1024:
        raise ConfigError(f"{source}: dns.dkim_key_size: must be at least 1024 bits")
    if config.api.max_request_size <= 0 or config.api.default_page_size <= 0:
        raise ConfigError(f"{source}: api: max_request_size and default_page_size must be positive")
    if config.api.max_page_size < config.api.default_page_size:
        raise ConfigError(f"{source}: api.max_page_size: must be at least api.default_page_size")
    if config.logging.level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"{source}: logging.level: must be one of debug, info, warning, error")


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load the configuration of this process.

    The file is `path` if given, else `POSTAL_CONFIG_FILE_PATH`, else `config/postal/postal.yml`
    when it exists. A file named explicitly must exist; without any file the defaults (the
    embedded all-in-one set-up) apply, still overridable by the environment.
    """
    env = os.environ if environ is None else environ
    named = path or env.get("POSTAL_CONFIG_FILE_PATH")
    if named:
        file_path: Path | None = Path(named)
        assert file_path is not None
        if not file_path.exists():
            raise ConfigError(f"The configuration file {file_path} does not exist")
    elif DEFAULT_CONFIG_FILE.exists():
        file_path = DEFAULT_CONFIG_FILE
    else:
        file_path = None
    data = _read_file(file_path) if file_path else {}
    return build_config(data, env, file_path)


def replace(config: Config, **sections: Mapping[str, Any]) -> Config:
    """A copy of `config` with some keys changed, e.g. `replace(c, dns={"port": 5353})` (for tests)."""
    changes: dict[str, Any] = {}
    explicit = set(config.explicit)
    for name, values in sections.items():
        changes[name] = dataclasses.replace(getattr(config, name), **values)
        explicit.update(f"{name}.{key}" for key in values)
    return dataclasses.replace(config, **changes, explicit=frozenset(explicit))


def as_dict(config: Config) -> dict[str, dict[str, Any]]:
    """The configuration as plain data, section by section (used by `bootstrap`)."""
    return {name: dataclasses.asdict(getattr(config, name)) for name in SECTIONS}
