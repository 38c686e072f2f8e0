"""Typed configuration: `postal.yml` in Postal's v2 file format, overridable by environment variables.

Only this package reads configuration files and the environment (STYLE rule 3); the sections
and their defaults are in `core.config.sections`. Every key of a section is also settable by the
environment variable `<SECTION>_<KEY>` in upper case, as Postal names them (`POSTAL_WEB_HOSTNAME`,
`MAIN_DB_HOST`, `SMTP_SERVER_DEFAULT_PORT`); lists are comma-separated. The environment wins over
the file, the file over the defaults.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.config.sections import (
    CONFIG_ROOT_TOKEN,
    SECTIONS,
    APISection,
    ClamAVSection,
    DNSSection,
    GelfSection,
    LoggingSection,
    MainDBSection,
    MessageDBSection,
    MigrationWaiterSection,
    OIDCSection,
    PostalSection,
    RabbitMQSection,
    RailsSection,
    RspamdSection,
    SMTPClientSection,
    SMTPRelay,
    SMTPSection,
    SMTPServerSection,
    SpamdSection,
    WebhooksSection,
    WebServerSection,
    WebUISection,
    WorkerSection,
)
from core.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("config/postal/postal.yml")


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
    web_ui: WebUISection = field(default_factory=WebUISection)
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
    if config.logging.format.lower() not in ("text", "json"):
        raise ConfigError(f"{source}: logging.format: must be text or json")
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
