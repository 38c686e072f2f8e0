"""Password digests: argon2id for new ones, Postal's bcrypt digests accepted and replaced."""

from __future__ import annotations

import bcrypt

from core.tenancy.passwords import hash_password, needs_rehash, verify_password
from core.tenancy.users import upgrade_password_digest
from models.user import User


def test_new_digests_are_argon2id_and_check_only_their_password() -> None:
    digest = hash_password("correct horse")
    assert digest.startswith("$argon2id$")
    assert verify_password(digest, "correct horse")
    assert not verify_password(digest, "correct horsE")
    assert not needs_rehash(digest)


def test_postal_bcrypt_digests_are_accepted_then_replaced() -> None:
    # Given a user carried over from Postal, whose digest Rails' has_secure_password made
    legacy = bcrypt.hashpw(b"battery staple", bcrypt.gensalt(rounds=4)).decode()
    user = User(email_address="old@example.com", password_digest=legacy.replace("$2b$", "$2a$"))
    assert verify_password(user.password_digest, "battery staple")
    assert not verify_password(user.password_digest, "battery stapler")
    # When they log in, the digest becomes argon2id and still matches
    assert upgrade_password_digest(user, "battery staple")
    assert user.password_digest is not None and user.password_digest.startswith("$argon2id$")
    assert verify_password(user.password_digest, "battery staple")
    assert not upgrade_password_digest(user, "battery staple")


def test_no_digest_or_a_broken_one_never_matches() -> None:
    assert not verify_password(None, "")
    assert not verify_password("", "x")
    assert not verify_password("$argon2id$garbage", "x")
    assert not verify_password("$2b$12$short", "x")
    assert not verify_password(bcrypt.hashpw(b"a" * 72, bcrypt.gensalt(rounds=4)).decode(), "a" * 73)
