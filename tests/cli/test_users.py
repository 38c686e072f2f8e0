"""CLI of users: personal API tokens (shown once, stored hashed) and organization memberships."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from core.config import load_config
from core.db import Database
from core.tenancy.api_tokens import authenticate, hash_token
from models.api_token import APIToken
from tests.support.cli import CLI


def make_user(cli: CLI, email: str, *extra: str) -> None:
    cli.json("make-user", "--email", email, "--password", "secret-password", *extra)


def test_a_token_is_shown_once_and_stored_hashed(cli: CLI) -> None:
    make_user(cli, "ops@example.com", "--admin")
    data = cli.json("user", "token", "create", "OPS@example.com", "--name", "deploy bot")
    token = data["token"]
    assert token.startswith("postal_") and data["name"] == "deploy bot" and data["last_used_at"] is None

    db = Database.from_config(load_config(cli.config_file))
    try:
        with db.transaction() as session:
            [row] = session.scalars(select(APIToken)).all()
            assert row.token_hash == hash_token(token) and token not in row.token_hash
        user = authenticate(db, token)
        assert user is not None and user.admin is True
        assert authenticate(db, token + "x") is None
        assert authenticate(db, "not-a-token") is None
    finally:
        db.dispose()

    code, out, _ = cli("user", "token", "create", "ops@example.com")
    assert code == 0 and "not shown again" in out and "postal_" in out
    assert cli.fails("user", "token", "create", "nobody@example.com") == "Error: user not found: nobody@example.com"


def test_org_add_user_with_all_or_some_servers(cli: CLI, tmp_path: Path) -> None:
    cli.json("org", "create", "ACME", "--permalink", "acme")
    cli.json("server", "create", "acme", "Main", "--permalink", "main")
    cli.json("server", "create", "acme", "Bulk", "--permalink", "bulk")
    make_user(cli, "dev@example.com")

    member = cli.json("org", "add-user", "acme", "dev@example.com")
    assert (member["admin"], member["all_servers"], member["servers"]) == (False, True, [])
    assert member["user"]["email_address"] == "dev@example.com"

    # Running it again changes the membership rather than adding a second one.
    member = cli.json("org", "add-user", "acme", "dev@example.com", "--admin", "--servers", "bulk,main")
    assert (member["admin"], member["all_servers"], sorted(member["servers"])) == (True, False, ["bulk", "main"])
    code, out, _ = cli("org", "add-user", "acme", "dev@example.com", "--servers", "main")
    assert code == 0 and out.strip() == "dev@example.com is member of acme, with servers main."

    assert cli.fails("org", "add-user", "acme", "dev@example.com", "--servers", "nope") == (
        "Error: server not found: acme/nope"
    )
    assert cli.fails("org", "add-user", "nope", "dev@example.com") == "Error: organization not found: nope"
    assert cli.fails("user", "token") == "Error: `postal user` needs a sub-command; see `postal user --help`"
