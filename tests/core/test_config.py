"""postal.yml loading: Postal's v2 format, environment overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Config, SMTPRelay, build_config, load_config
from core.errors import ConfigError
from tests.conftest import run_cli


def test_defaults_are_the_embedded_all_in_one_setup() -> None:
    config = build_config({}, environ={})
    assert config.embedded_database and config.embedded_queue
    assert config.postal.data_dir == "./data"
    assert config.web_server.default_port == 5000
    assert config.smtp_server.default_port == 25
    assert config.smtp_client.destination_port == 25
    assert config.dns.dkim_key_size == 2048
    assert config.postal.default_maximum_delivery_attempts == 18
    assert config.explicit == frozenset()


def test_file_values_are_typed_and_tracked_as_explicit(tmp_path: Path) -> None:
    path = tmp_path / "postal.yml"
    path.write_text(
        "version: 2\n"
        "postal:\n  web_hostname: mail.example.com\n  use_ip_pools: true\n"
        "smtp_server:\n  default_port: 2525\n  max_message_size: 20\n"
        "dns:\n  mx_records: [mx1.example.com, mx2.example.com]\n  nameservers: [127.0.0.1]\n  port: 5353\n"
    )
    config = load_config(path, environ={})
    assert config.postal.web_hostname == "mail.example.com"
    assert config.postal.use_ip_pools is True
    assert config.smtp_server.default_port == 2525
    assert config.max_message_size_bytes == 20 * 1024 * 1024
    assert config.dns.mx_records == ["mx1.example.com", "mx2.example.com"]
    assert config.dns.nameservers == ["127.0.0.1"] and config.dns.port == 5353
    assert config.is_set("smtp_server.default_port")
    assert not config.is_set("web_server.default_port")
    assert config.file_path == path


def test_environment_variables_override_the_file_with_postal_names(tmp_path: Path) -> None:
    path = tmp_path / "postal.yml"
    path.write_text("version: 2\npostal:\n  web_hostname: from-file.example.com\n")
    environ = {
        "POSTAL_CONFIG_FILE_PATH": str(path),
        "POSTAL_WEB_HOSTNAME": "from-env.example.com",
        "MAIN_DB_HOST": "db.internal",
        "SMTP_SERVER_DEFAULT_PORT": "2526",
        "POSTAL_USE_IP_POOLS": "true",
        "DNS_MX_RECORDS": "mx1.example.com, mx2.example.com",
        "DNS_TIMEOUT": "2.5",
    }
    config = load_config(environ=environ)
    assert config.postal.web_hostname == "from-env.example.com"
    assert config.main_db.host == "db.internal" and not config.embedded_database
    assert config.smtp_server.default_port == 2526
    assert config.postal.use_ip_pools is True
    assert config.dns.mx_records == ["mx1.example.com", "mx2.example.com"]
    assert config.dns.timeout == 2.5
    assert config.is_set("main_db.host")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 2\npostal:\n  web_hostnam: x\n", "unknown key postal.web_hostnam"),
        ("version: 2\nmystery:\n  a: 1\n", "unknown section 'mystery'"),
        (
            "version: 2\nsmtp_server:\n  default_port: twenty-five\n",
            "smtp_server.default_port: expected an integer",
        ),
        ("version: 2\npostal:\n  use_ip_pools: maybe\n", "postal.use_ip_pools: expected a boolean"),
        ("version: 2\ndns:\n  mx_records: {a: 1}\n", "dns.mx_records: expected a list of strings"),
        ("version: 2\npostal: [1, 2]\n", "postal: must be a mapping"),
        ("version: 1\n", "only the version 2 format"),
        ("version: 2\npostal:\n  smtp_relays: ['http://x']\n", "postal.smtp_relays"),
        ("version: 2\npostal: {a: [\n", "not valid YAML"),
    ],
)
def test_bad_files_are_reported_with_the_key_name(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "postal.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_config(path, environ={})


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"SMTP_SERVER_DEFAULT_PORT .*smtp_server\.default_port.*integer"):
        build_config({}, environ={"SMTP_SERVER_DEFAULT_PORT": "abc"})


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yml", environ={})


def test_config_file_root_is_substituted(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "postal.yml"
    path.parent.mkdir()
    path.write_text("version: 2\nmain_db:\n  host: db\n")
    config = load_config(path, environ={})
    assert config.signing_key_path == tmp_path / "conf" / "signing.key"
    assert config.resolve_path(config.smtp_server.tls_certificate_path) == tmp_path / "conf" / "smtp.cert"


def test_embedded_signing_key_lives_in_the_data_directory(tmp_path: Path) -> None:
    config = build_config({"postal": {"data_dir": str(tmp_path / "d")}}, environ={})
    assert config.signing_key_path == tmp_path / "d" / "signing.key"


def test_smtp_relays_in_postal_url_form() -> None:
    config = build_config(
        {"postal": {"smtp_relays": ["smtp://relay.example.com:2525?ssl_mode=TLS", "smtp://other.example.com"]}},
        environ={},
    )
    assert config.smtp_relays == [
        SMTPRelay("relay.example.com", 2525, "TLS"),
        SMTPRelay("other.example.com", 25, "Auto"),
    ]


def test_cli_reports_a_config_error_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "postal.yml"
    path.write_text("version: 2\nsmtp_server:\n  default_prot: 25\n")
    result = run_cli("initialize", config_file=path, check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [f"Error: {path}: unknown key smtp_server.default_prot"]
    assert "Traceback" not in result.stderr


def test_config_is_a_frozen_value() -> None:
    config = Config()
    with pytest.raises(AttributeError):
        config.postal = None  # type: ignore[misc]


def test_every_key_is_documented() -> None:
    import dataclasses

    from core.config import SECTIONS, env_name

    text = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    for section, cls in SECTIONS.items():
        assert f"## `{section}`" in text
        if section == "oidc":
            continue
        for field in dataclasses.fields(cls):
            assert f"| `{field.name}` | `{env_name(section, field.name)}` |" in text, f"{section}.{field.name}"
