"""Shared fixtures: a DNS server and an SMTP sink on 127.0.0.1, configurations for both backends
(SQLite + in-process queue, MariaDB + RabbitMQ), and provisioned installations.

With `CI=true` an unreachable MariaDB or RabbitMQ fails the tests that need them; elsewhere
those tests are skipped with a message saying why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from dramatiq.brokers.stub import StubBroker

from core.broker import Publisher
from core.config import Config, build_config
from core.runtime import Runtime
from core.tenancy.credentials import create_credential
from core.tenancy.domains import add_domain
from core.tenancy.organizations import create_organization
from core.tenancy.servers import create_server
from models.enums import CredentialType
from tests.support.dns_server import DNSServer
from tests.support.services import mariadb_reachable, rabbitmq_reachable, rabbitmq_vhost
from tests.support.smtp_sink import SMTPSink

IN_CI = os.environ.get("CI", "").lower() == "true"
MARIADB = {"host": os.environ.get("POSTAL_TEST_MARIADB_HOST", "127.0.0.1"), "port": 3306, "username": "root"}
RABBITMQ = {"host": os.environ.get("POSTAL_TEST_RABBITMQ_HOST", "127.0.0.1"), "port": 5672}


def require(service: str, reachable: bool, why: str) -> None:
    if reachable:
        return
    message = f"{service} is not reachable ({why})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(f"{message}; start it to run this test")


# -- network fakes of the outside world ------------------------------------------------------


@pytest.fixture(scope="session")
def dns_server() -> Iterator[DNSServer]:
    server = DNSServer().start()
    yield server
    server.stop()


@pytest.fixture
def zone(dns_server: DNSServer) -> Iterator[Any]:
    """The test DNS zone, emptied after each test."""
    yield dns_server.zone
    dns_server.zone._records.clear()


@pytest.fixture
def smtp_sink() -> Iterator[SMTPSink]:
    sink = SMTPSink().start()
    yield sink
    sink.stop()


# -- configurations --------------------------------------------------------------------------

BACKENDS = ["sqlite", "mariadb"]


@dataclass
class Backend:
    name: str
    data: dict[str, Any]
    cleanup_databases: list[str]

    @property
    def external(self) -> bool:
        return self.name == "mariadb"


@pytest.fixture(scope="session")
def rabbitmq_vhost_name() -> Iterator[str]:
    require("RabbitMQ", rabbitmq_reachable(RABBITMQ["host"], RABBITMQ["port"]), f"{RABBITMQ['host']}:5672")
    with rabbitmq_vhost() as name:
        yield name


def _backend(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> Backend:
    data: dict[str, Any] = {
        "postal": {"data_dir": str(tmp_path / "data"), "signing_key_path": str(tmp_path / "signing.key")}
    }
    cleanup: list[str] = []
    if name == "mariadb":
        require("MariaDB", mariadb_reachable(MARIADB["host"], MARIADB["port"]), f"{MARIADB['host']}:3306")
        suffix = uuid.uuid4().hex[:10]
        database = f"postal_test_{suffix}"
        prefix = f"postal-test-{suffix}"
        data["main_db"] = {**MARIADB, "database": database, "pool_size": 10}
        data["message_db"] = {"database_name_prefix": prefix}
        vhost = request.getfixturevalue("rabbitmq_vhost_name")
        data["rabbitmq"] = {**RABBITMQ, "vhost": vhost, "username": "guest", "password": "guest"}
        cleanup = [database, f"{prefix}-server-%"]
    return Backend(name, data, cleanup)


def _drop_databases(patterns: list[str]) -> None:
    if not patterns:
        return
    import MySQLdb

    conn = MySQLdb.connect(host=MARIADB["host"], port=MARIADB["port"], user="root")
    try:
        cursor = conn.cursor()
        for pattern in patterns:
            cursor.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s", (pattern,))
            for (name,) in cursor.fetchall():
                cursor.execute(f"DROP DATABASE `{name}`")
    finally:
        conn.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each test using this runs twice: SQLite + in-process queue, then MariaDB + RabbitMQ."""
    chosen = _backend(request.param, tmp_path, request)
    yield chosen
    _drop_databases(chosen.cleanup_databases)


@pytest.fixture
def sqlite_backend(tmp_path: Path, request: pytest.FixtureRequest) -> Backend:
    return _backend("sqlite", tmp_path, request)


@pytest.fixture
def services_backend(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Backend]:
    """MariaDB + RabbitMQ only, for tests of what happens to those services."""
    chosen = _backend("mariadb", tmp_path, request)
    yield chosen
    _drop_databases(chosen.cleanup_databases)


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    result = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for section, values in extra.items():
        result.setdefault(section, {}).update(values)
    return result


@pytest.fixture
def config_data(backend: Backend, dns_server: DNSServer, smtp_sink: SMTPSink) -> dict[str, Any]:
    """postal.yml contents for this backend, with DNS and outgoing SMTP pointed at the fakes."""
    return config_data_for(backend, dns_server, smtp_sink)


def config_data_for(backend: Backend, dns_server: DNSServer, smtp_sink: SMTPSink) -> dict[str, Any]:
    return merge(
        backend.data,
        {
            "postal": {"smtp_hostname": "postal.test", "web_hostname": "postal.test"},
            "dns": {
                "nameservers": ["127.0.0.1"],
                "port": dns_server.port,
                "timeout": 2,
                "return_path_domain": "rp.postal.test",
                "route_domain": "routes.postal.test",
                "spf_include": "spf.postal.test",
                "mx_records": ["mx1.postal.test", "mx2.postal.test"],
                # Small keys keep tests fast; production defaults to 2048 bits.
                "dkim_key_size": 1024,
            },
            "smtp_client": {"destination_port": smtp_sink.port, "open_timeout": 5, "read_timeout": 10},
        },
    )


@pytest.fixture
def config(config_data: dict[str, Any]) -> Config:
    return build_config(config_data, environ={})


@pytest.fixture
def config_file(config_data: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "postal.yml"
    path.write_text(yaml.safe_dump({"version": 2, **config_data}))
    return path


# -- runtimes and provisioned objects --------------------------------------------------------


@pytest.fixture
def runtime(config: Config) -> Iterator[Runtime]:
    """An initialized installation in this process, publishing to an in-memory broker."""
    from core.installation import ensure_signing_key, initialize_database

    initialize_database(config).dispose()
    ensure_signing_key(config)
    # Jobs stay in memory: these tests call the actors' code themselves.
    broker = StubBroker()
    rt = Runtime.create(config, Publisher(broker))
    yield rt
    rt.close()
    broker.close()


@dataclass
class Installation:
    """An organization with a server, a verified domain and an SMTP credential."""

    runtime: Runtime
    org_permalink: str
    server_id: int
    server_token: str
    server_ref: str
    domain: str
    smtp_key: str
    api_key: str


@pytest.fixture
def installation(runtime: Runtime, zone: Any) -> Installation:
    with runtime.db.transaction() as session:
        org = create_organization(session, "ACME Inc", "acme")
        server = create_server(session, runtime.config, runtime.message_dbs, org, "Main", "main")
        add_domain(session, runtime.config, server, "example.com", verified=True)
        smtp = create_credential(session, server, CredentialType.SMTP)
        api = create_credential(session, server, CredentialType.API)
        installation = Installation(
            runtime=runtime,
            org_permalink=org.permalink,
            server_id=server.id,
            server_token=server.token,
            server_ref="acme/main",
            domain="example.com",
            smtp_key=smtp.key,
            api_key=api.key,
        )
    zone.mail_domain("example.net")
    return installation


def postal_command() -> list[str]:
    """How to run the CLI of this checkout (the installed script, else the module)."""
    script = Path(sys.executable).parent / "postal"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def run_cli(
    *args: str, config_file: Path | None = None, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if config_file is not None:
        env["POSTAL_CONFIG_FILE_PATH"] = str(config_file)
    result = subprocess.run(
        [*postal_command(), *args], check=False, capture_output=True, text=True, env=env, timeout=120, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(f"postal {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def cli(config_file: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    """The CLI against an initialized installation of this backend."""
    from tests.support.cli import CLI

    tool = CLI(config_file, capsys)
    code, _, err = tool("initialize")
    assert code == 0, err
    return tool
