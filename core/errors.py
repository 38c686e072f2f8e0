"""The exception base of the platform and the errors that more than one role raises."""

from __future__ import annotations


class PostalError(Exception):
    """Base of every error the platform raises on purpose; its text is shown to the user as is."""


class ConfigError(PostalError):
    """The configuration file or an environment variable holds something we cannot use."""


class NotFound(PostalError):
    """An object named by the user (organization, server, domain, message…) does not exist."""

    def __init__(self, kind: str, name: object) -> None:
        super().__init__(f"{kind} not found: {name}")
        self.kind = kind
        self.name = name


class ValidationError(PostalError):
    """A value given by the user breaks a rule (duplicate permalink, bad domain name…)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.message = message


class DatabaseUnavailable(PostalError):
    """The database cannot be reached; the caller should fail temporarily and retry later."""
