"""Set-up commands: bootstrap, initialize, upgrade, make-user, default-dkim-record, version."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from pathlib import Path

from cli.common import config_from, emit
from core import installation, presenters
from core.config import Config
from core.db import Database
from core.errors import PostalError
from core.installation import initialize_database, upgrade_message_databases
from core.mail import dkim
from core.tenancy.users import create_user

POSTAL_YML = """\
version: 2

postal:
  web_hostname: {hostname}
  web_protocol: https
  smtp_hostname: {hostname}
  # Where the embedded SQLite databases live when main_db.host is empty.
  data_dir: ./data

web_server:
  default_bind_address: 127.0.0.1
  default_port: 5000

smtp_server:
  default_bind_address: "::"
  default_port: 25

main_db:
  # Empty: embedded SQLite under postal.data_dir. For MariaDB set host, username, password.
  host: ""
  port: 3306
  username: postal
  password: ""
  database: postal

message_db:
  # Empty host: the same server as main_db.
  host: ""
  database_name_prefix: postal

rabbitmq:
  # Empty: an in-process queue (only `postal run`). For separate processes set host etc.
  host: ""
  port: 5672
  username: postal
  password: ""
  vhost: /postal

dns:
  mx_records:
    - mx.{hostname}
  spf_include: spf.{hostname}
  return_path_domain: rp.{hostname}
  route_domain: routes.{hostname}
  track_domain: track.{hostname}
  helo_hostname: {hostname}

rails:
  secret_key: {secret}
"""


def bootstrap(args: argparse.Namespace) -> int:
    directory = Path(args.config_dir)
    config_file, key_file = directory / "postal.yml", directory / "signing.key"
    for path in (config_file, key_file):
        if path.exists() and not args.force:
            raise PostalError(f"{path} already exists (use --force to overwrite it)")
    directory.mkdir(parents=True, exist_ok=True)
    config_file.write_text(POSTAL_YML.format(hostname=args.hostname, secret=secrets.token_hex(64)))
    key_file.write_text(dkim.generate_private_key(2048))
    key_file.chmod(0o600)
    print(f"Wrote {config_file} and {key_file}.")
    print(f"Next: POSTAL_CONFIG_FILE_PATH={config_file} postal initialize")
    return 0


def ensure_signing_key(config: Config) -> Path | None:
    """Make the installation signing key if it is missing, saying so; None when it cannot be."""
    path = config.signing_key_path
    try:
        if installation.ensure_signing_key(config):
            print(f"Created the signing key {path}.")
    except OSError as exc:
        print(f"Warning: cannot create the signing key {path}: {exc.strerror}", file=sys.stderr)
        return None
    return path


def initialize(args: argparse.Namespace) -> int:
    config = config_from(args)
    db = initialize_database(config)
    ensure_signing_key(config)
    db.dispose()
    print("The database is ready.")
    return 0


def upgrade(args: argparse.Namespace) -> int:
    config = config_from(args)
    db = initialize_database(config)
    try:
        count = upgrade_message_databases(config, db)
    finally:
        db.dispose()
    print(f"The main database and {count} message database(s) are up to date.")
    return 0


def _ask(prompt: str, secret: bool = False) -> str:
    if not sys.stdin.isatty():
        raise PostalError(f"missing {prompt.lower().rstrip(': ')} (pass it as an option)")
    return getpass.getpass(prompt) if secret else input(prompt)


def make_user(args: argparse.Namespace) -> int:
    config = config_from(args)
    email = args.email or _ask("E-mail address: ")
    first = args.first_name or (input("First name: ") if not args.email and sys.stdin.isatty() else "")
    last = args.last_name or (input("Last name: ") if not args.email and sys.stdin.isatty() else "")
    password = args.password or _ask("Password: ", secret=True)
    db = Database.from_config(config)
    with db.transaction() as session:
        user = create_user(session, email, password, first, last, admin=args.admin)
        data = presenters.user(user)
    db.dispose()
    role = "administrator" if args.admin else "user"
    emit(args, data, f"Created {role} {data['email_address']} (id {data['id']}).")
    return 0


def default_dkim_record(args: argparse.Namespace) -> int:
    config = config_from(args)
    path = config.signing_key_path
    if not path.exists():
        raise PostalError(f"The signing key {path} does not exist")
    print(dkim.dns_record(path.read_text()))
    return 0
