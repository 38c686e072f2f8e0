"""The SMTP server's TLS context, rebuilt when its certificate or key file changes.

Certificates are renewed in place (ACME clients replace the files every few weeks), so the
server looks at the files' modification times whenever a connection starts TLS and loads them
again when they changed; no restart needed. A broken pair (half-written, key not matching) is
logged and the previous context kept, so renewals never take TLS down.
"""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path

from core.config import Config

log = logging.getLogger(__name__)

# `smtp_server.ssl_version`: the oldest protocol accepted. Postal passes it to Ruby's OpenSSL;
# "SSLv23" there means "negotiate the best version", i.e. Python's defaults.
MINIMUM_VERSIONS = {
    "SSLv23": None,
    "TLS": None,
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1_1": ssl.TLSVersion.TLSv1_1,
    "TLSv1_2": ssl.TLSVersion.TLSv1_2,
    "TLSv1_3": ssl.TLSVersion.TLSv1_3,
}

Stamp = tuple[tuple[int, int, int], ...]


def build_context(
    certificate: Path, private_key: Path, ciphers: str = "", ssl_version: str = "SSLv23"
) -> ssl.SSLContext:
    """A server-side context for the certificate chain and key (PEM); raises when they are unusable."""
    if ssl_version not in MINIMUM_VERSIONS:
        raise ValueError(f"smtp_server.ssl_version must be one of {', '.join(MINIMUM_VERSIONS)}, not {ssl_version!r}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    minimum = MINIMUM_VERSIONS[ssl_version]
    if minimum is not None:
        context.minimum_version = minimum
    if ciphers:
        context.set_ciphers(ciphers)
    context.load_cert_chain(certificate, private_key)
    return context


class CertificateStore:
    """Hands out the current SSLContext; `context()` reloads the files when they changed."""

    def __init__(self, certificate: Path, private_key: Path, ciphers: str = "", ssl_version: str = "SSLv23") -> None:
        self.certificate = certificate
        self.private_key = private_key
        self._ciphers = ciphers
        self._ssl_version = ssl_version
        # At start a broken pair is an error: refuse to run rather than offer a TLS that fails.
        self._stamp = self._read_stamp()
        self._context = build_context(certificate, private_key, ciphers, ssl_version)

    @classmethod
    def from_config(cls, config: Config) -> CertificateStore:
        section = config.smtp_server
        return cls(
            config.resolve_path(section.tls_certificate_path),
            config.resolve_path(section.tls_private_key_path),
            section.tls_ciphers,
            section.ssl_version,
        )

    def context(self) -> ssl.SSLContext:
        try:
            stamp = self._read_stamp()
        except OSError as error:
            # Missing for a moment while being replaced: keep serving the old certificate.
            log.error("cannot read the SMTP TLS certificate or key, keeping the loaded one: %s", error)
            return self._context
        if stamp != self._stamp:
            # Remember the stamp even if loading fails: one error per change, not per connection.
            self._stamp = stamp
            try:
                self._context = build_context(self.certificate, self.private_key, self._ciphers, self._ssl_version)
            except (OSError, ssl.SSLError, ValueError) as error:
                log.error(
                    "the SMTP TLS certificate %s or key %s changed but cannot be loaded, keeping the previous one: %s",
                    self.certificate,
                    self.private_key,
                    error,
                )
            else:
                log.info("reloaded the SMTP TLS certificate %s", self.certificate)
        return self._context

    def _read_stamp(self) -> Stamp:
        # Inode too: files replaced by rename within the same clock tick still count as changed.
        stats = [os.stat(path) for path in (self.certificate, self.private_key)]
        return tuple((s.st_mtime_ns, s.st_size, s.st_ino) for s in stats)
