"""DKIM: keys, the DNS record that publishes the public half (RFC 6376 §3.6.1), and signing."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def generate_private_key(bits: int = 2048) -> str:
    """A new RSA key as PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), the form Postal stores."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@lru_cache(maxsize=1024)
def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def public_key_base64(pem: str) -> str:
    """The public key as base64 DER SubjectPublicKeyInfo, the `p=` of the DNS record."""
    der = (
        load_private_key(pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode()


def dns_record(pem: str) -> str:
    """The TXT record value, exactly as Postal publishes it."""
    return f"v=DKIM1; t=s; h=sha256; p={public_key_base64(pem)};"


# Postal's header list (reference §3.4), plus list-unsubscribe-post as Postal 3 signs it.
SIGNED_HEADERS = frozenset(
    {
        "from", "sender", "reply-to", "subject", "date", "message-id", "to", "cc", "mime-version",
        "content-type", "content-transfer-encoding", "resent-to", "resent-cc", "resent-from",
        "resent-sender", "resent-message-id", "in-reply-to", "references", "list-id", "list-help",
        "list-owner", "list-unsubscribe", "list-unsubscribe-post", "list-subscribe", "list-post",
    }
)  # fmt: skip

_WSP = re.compile(rb"[ \t]+")
# Runs of white space that are not already a single space (a single space is most of a body's).
_WSP_RUN = re.compile(rb"\t[ \t]*| [ \t]+")
_FOLD = re.compile(rb"\r\n(?=[ \t])")


def header_fields(header_block: bytes) -> list[tuple[bytes, bytes]]:
    """(name, raw field including continuation lines, without the final CRLF) in message order."""
    fields: list[tuple[bytes, bytes]] = []
    for line in header_block.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            name, text = fields[-1]
            fields[-1] = (name, text + b"\r\n" + line)
        elif line:
            fields.append((line.split(b":", 1)[0].strip(), line))
    return fields


def relaxed_header(field: bytes) -> bytes:
    """RFC 6376 §3.4.2."""
    name, _, value = field.partition(b":")
    value = _WSP.sub(b" ", _FOLD.sub(b"", value)).strip(b" ")
    return name.strip().lower() + b":" + value


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 §3.4.4 (an empty body stays empty)."""
    if b"\t" in body or b"  " in body:
        body = _WSP_RUN.sub(b" ", body)
    # Now no two spaces are adjacent, so one pass removes every line's trailing white space.
    body = body.replace(b" \r\n", b"\r\n")
    if body.endswith(b" "):
        body = body.rstrip(b" ")
    while body.endswith(b"\r\n\r\n"):
        body = body[:-2]
    if body == b"\r\n":
        return b""
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body


def sign(headers: bytes, body: bytes, domain: str, selector: str, private_key_pem: str, timestamp: int) -> bytes:
    """The `DKIM-Signature` header field (with CRLF) for a CRLF message, relaxed/relaxed rsa-sha256.

    Every present header of Postal's list is signed. Where a header occurs more than once its
    instances are taken from the bottom up, as verifiers read them (RFC 6376 §5.4.2).
    """
    fields = header_fields(headers)
    chosen = [
        (name.lower(), field) for name, field in fields if name.lower().decode(errors="replace") in SIGNED_HEADERS
    ]
    names = [name for name, _ in chosen]
    remaining: dict[bytes, list[bytes]] = {}
    for name, field in chosen:
        remaining.setdefault(name, []).append(field)
    canonical = [relaxed_header(remaining[name].pop()) for name in names]
    body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode()
    tags = [
        "a=rsa-sha256; c=relaxed/relaxed;",
        f"d={domain};",
        f"s={selector}; t={timestamp};",
        f"bh={body_hash};",
        f"h={':'.join(n.decode() for n in names)};",
        "b=",
    ]
    unsigned = ("dkim-signature:v=1; " + " ".join(tags)).encode()
    signed_data = b"\r\n".join([*canonical, unsigned])
    key = load_private_key(private_key_pem)
    signature = base64.b64encode(key.sign(signed_data, padding.PKCS1v15(), hashes.SHA256())).decode()
    folded = "\r\n\t".join(signature[i : i + 72] for i in range(0, len(signature), 72))
    return ("DKIM-Signature: v=1; " + "\r\n\t".join(tags) + folded + "\r\n").encode()
