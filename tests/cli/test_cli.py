"""The `postal` command: set-up, provisioning, `--json` shapes and one-line errors.

Most cases call the entry point in this process (`main([...])` is what the console script runs);
a few run the installed script to prove the process exit codes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from cli import main
from core.config import load_config
from tests.conftest import Backend, run_cli
from tests.support.cli import CLI
from tests.support.dns_server import Zone


def test_initialize_and_upgrade_are_safe_to_run_again(cli: CLI, config_file: Path) -> None:
    code, out, _ = cli("initialize")
    assert code == 0 and "ready" in out
    cli.json("org", "create", "ACME")
    server = cli.json("server", "create", "acme", "Main")
    code, out, _ = cli("upgrade")
    assert code == 0 and "1 message database(s) are up to date" in out

    from core.message_db import MessageDatabases
    from core.migrations import HEADS, current_revision

    dbs = MessageDatabases(load_config(config_file, environ={}))
    try:
        with dbs.get(server["id"]).migration_connection() as conn:
            assert current_revision(conn) == HEADS["message"]
    finally:
        dbs.dispose()


def test_provisioning_objects_carry_ids_uuids_and_names(cli: CLI) -> None:
    org = cli.json("org", "create", "ACME Inc")
    assert org["permalink"] == "acme-inc" and org["name"] == "ACME Inc"
    assert isinstance(org["id"], int) and len(org["uuid"]) == 36

    server = cli.json("server", "create", "acme-inc", "Main Server", "--mode", "Development")
    assert server["permalink"] == "main-server" and server["mode"] == "Development"
    assert len(server["token"]) == 6 and server["token"] == server["token"].lower()
    assert isinstance(server["id"], int) and len(server["uuid"]) == 36

    domain = cli.json("domain", "add", "acme-inc/main-server", "Example.COM")
    assert domain["name"] == "example.com" and domain["verified"] is False
    assert isinstance(domain["id"], int) and len(domain["uuid"]) == 36

    org_domain = cli.json("domain", "add", "acme-inc", "example.org", "--verified")
    assert org_domain["owner_type"] == "Organization" and org_domain["verified"] is True

    for kind in ("SMTP", "API"):
        credential = cli.json("credential", "create", "acme-inc/main-server", "--type", kind, "--name", "App")
        assert credential["type"] == kind and credential["name"] == "App"
        assert len(credential["key"]) == 24 and credential["key"].isalnum()
    smtp_ip = cli.json("credential", "create", "acme-inc/main-server", "--type", "SMTP-IP", "--key", "10.0.0.1/24")
    assert smtp_ip["key"] == "10.0.0.0/24"


def test_message_database_is_created_with_the_server(cli: CLI, config_file: Path, backend: Backend) -> None:
    cli.json("org", "create", "ACME")
    server = cli.json("server", "create", "acme", "Main")
    from core.message_db import MessageDatabases

    config = load_config(config_file, environ={})
    dbs = MessageDatabases(config)
    try:
        assert dbs.exists(server["id"])
        assert dbs.name_for(server["id"]) == f"{config.message_db.database_name_prefix}-server-{server['id']}"
    finally:
        dbs.dispose()


def test_permalinks_are_unique_and_reserved_ones_refused(cli: CLI) -> None:
    cli.json("org", "create", "ACME")
    assert cli.json("org", "create", "ACME")["permalink"] == "acme-2"
    assert "has already been taken" in cli.fails("org", "create", "Other", "--permalink", "acme")
    assert "reserved" in cli.fails("org", "create", "Admin", "--permalink", "admin")
    assert "lowercase letters" in cli.fails("org", "create", "X", "--permalink", "Not Valid")
    cli.json("server", "create", "acme", "Main")
    assert "has already been taken" in cli.fails("server", "create", "acme", "Main")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("server", "create", "nope", "Main"), "organization not found: nope"),
        (("domain", "add", "nope/main", "example.com"), "organization not found: nope"),
        (("credential", "create", "acme", "--type", "SMTP"), "must be given as ORG/SERVER"),
        (("credential", "create", "acme/nope", "--type", "SMTP"), "server not found: acme/nope"),
        (("domain", "add", "acme", "not a domain"), "is not a valid domain name"),
        (("domain", "add", "acme", "localhost"), "is not a valid domain name"),
        (("domain", "dns", "missing.example"), "domain not found: missing.example"),
        (("credential", "create", "acme/main", "--type", "SMTP-IP", "--key", "10.0.0.300"), "not an IP address"),
        (("message", "show", "acme/main", "999"), "message not found: 999"),
        (("org",), "needs a sub-command"),
    ],
)
def test_errors_print_one_clear_line(cli: CLI, args: tuple[str, ...], expected: str) -> None:
    cli.json("org", "create", "ACME")
    cli.json("server", "create", "acme", "Main")
    assert expected in cli.fails(*args)


def test_domain_dns_lists_every_record_fully_qualified(cli: CLI) -> None:
    cli.json("org", "create", "ACME")
    cli.json("server", "create", "acme", "Main")
    cli.json("domain", "add", "acme/main", "example.com")
    shown = cli.json("domain", "dns", "example.com")
    assert shown["domain"] == "example.com"
    by_purpose = {r["purpose"]: r for r in shown["records"] if r["purpose"] != "mx"}
    assert by_purpose["verification"]["type"] == "TXT" and by_purpose["verification"]["name"] == "example.com"
    assert by_purpose["verification"]["value"].startswith("postal-verification ")
    assert by_purpose["spf"]["value"] == "v=spf1 a mx include:spf.postal.test ~all"
    dkim = by_purpose["dkim"]
    assert dkim["name"].startswith("postal-") and dkim["name"].endswith("._domainkey.example.com")
    assert dkim["value"].startswith("v=DKIM1; t=s; h=sha256; p=") and dkim["value"].endswith(";")
    assert by_purpose["return_path"] == {
        "purpose": "return_path",
        "type": "CNAME",
        "name": "psrp.example.com",
        "value": "rp.postal.test",
        "priority": None,
    }
    mx = [r for r in shown["records"] if r["purpose"] == "mx"]
    assert [(r["name"], r["value"], r["priority"]) for r in mx] == [
        ("example.com", "mx1.postal.test", 10),
        ("example.com", "mx2.postal.test", 10),
    ]


def test_domain_verify_and_check_against_published_dns(cli: CLI, zone: Zone) -> None:
    cli.json("org", "create", "ACME")
    cli.json("server", "create", "acme", "Main")
    cli.json("domain", "add", "acme/main", "example.com")
    records = {r["purpose"]: r for r in cli.json("domain", "dns", "example.com")["records"]}

    # Not published yet: verification fails and says what is missing
    code, out, _ = cli("domain", "verify", "example.com")
    assert code != 0 and records["verification"]["value"] in out
    check = cli.json("domain", "check", "example.com")
    assert check["spf_status"] == "Missing" and check["dkim_status"] == "Missing"
    assert check["mx_status"] == "Missing" and check["return_path_status"] == "Missing"
    assert check["verified"] is False and check["dns_checked_at"]

    # Published: both succeed
    zone.set("example.com", "TXT", records["verification"]["value"], records["spf"]["value"])
    zone.set(records["dkim"]["name"], "TXT", records["dkim"]["value"])
    zone.set("psrp.example.com", "CNAME", "rp.postal.test.")
    zone.set("example.com", "MX", "10 mx1.postal.test.", "20 mx2.postal.test.")
    assert cli.json("domain", "verify", "example.com")["verified"] is True
    check = cli.json("domain", "check", "example.com")
    assert {k: check[k] for k in ("spf_status", "dkim_status", "mx_status", "return_path_status")} == {
        "spf_status": "OK",
        "dkim_status": "OK",
        "mx_status": "OK",
        "return_path_status": "OK",
    }
    assert check["spf_error"] is None and check["verified"] is True and check["dns_ok"] is True


def test_make_user_and_duplicate_email(cli: CLI) -> None:
    user = cli.json("make-user", "--email", "Ops@Example.com", "--password", "correct horse", "--admin")
    assert user["email_address"] == "ops@example.com" and user["admin"] is True
    assert "has already been taken" in cli.fails("make-user", "--email", "ops@example.com", "--password", "x" * 10)
    assert "at least 8" in cli.fails("make-user", "--email", "b@example.com", "--password", "short")


def test_bootstrap_writes_config_and_a_2048_bit_signing_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "conf"
    assert main(["bootstrap", "mail.example.com", "--config-dir", str(directory)]) == 0
    config = load_config(directory / "postal.yml", environ={})
    assert config.postal.web_hostname == "mail.example.com"
    assert config.dns.return_path_domain == "rp.mail.example.com"
    assert len(config.rails.secret_key) == 128
    key = serialization.load_pem_private_key((directory / "signing.key").read_bytes(), password=None)
    assert key.key_size == 2048  # type: ignore[union-attr]
    assert (directory / "signing.key").stat().st_mode & 0o077 == 0

    capsys.readouterr()
    assert main(["--config", str(directory / "postal.yml"), "default-dkim-record"]) == 0
    record = capsys.readouterr().out.strip()
    assert record.startswith("v=DKIM1; t=s; h=sha256; p=MIIB") and record.endswith(";")
    # A second bootstrap does not overwrite the key
    assert main(["bootstrap", "mail.example.com", "--config-dir", str(directory)]) == 1


def test_roles_other_than_run_refuse_the_in_process_queue(sqlite_backend: Backend, tmp_path: Path) -> None:
    path = tmp_path / "postal.yml"
    path.write_text(f"version: 2\npostal:\n  data_dir: {tmp_path / 'data'}\n")
    for role in ("worker", "smtp-server", "scheduler"):
        result = run_cli(role, config_file=path, check=False)
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            "Error: rabbitmq.host is empty, which means an in-process queue: only `postal run` can use it. "
            "Set rabbitmq.host (or RABBITMQ_HOST) to run the roles as separate processes."
        ]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from core.version import __version__

    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == __version__
