"""The enumerated values stored in both databases, spelled as Postal stores them."""

from __future__ import annotations

from enum import StrEnum


class ServerMode(StrEnum):
    LIVE = "Live"
    DEVELOPMENT = "Development"


class CredentialType(StrEnum):
    SMTP = "SMTP"
    API = "API"
    SMTP_IP = "SMTP-IP"


class VerificationMethod(StrEnum):
    DNS = "DNS"
    EMAIL = "Email"


class DNSStatus(StrEnum):
    OK = "OK"
    MISSING = "Missing"
    INVALID = "Invalid"


class RouteMode(StrEnum):
    ENDPOINT = "Endpoint"
    ACCEPT = "Accept"
    HOLD = "Hold"
    BOUNCE = "Bounce"
    REJECT = "Reject"


class SpamMode(StrEnum):
    MARK = "Mark"
    QUARANTINE = "Quarantine"
    FAIL = "Fail"


class HTTPEncoding(StrEnum):
    BODY_AS_JSON = "BodyAsJSON"
    FORM_DATA = "FormData"


class HTTPFormat(StrEnum):
    HASH = "Hash"
    RAW_MESSAGE = "RawMessage"


class SSLMode(StrEnum):
    NONE = "None"
    AUTO = "Auto"
    STARTTLS = "STARTTLS"
    TLS = "TLS"


class OwnerType(StrEnum):
    ORGANIZATION = "Organization"
    SERVER = "Server"


class EndpointType(StrEnum):
    HTTP = "HTTPEndpoint"
    SMTP = "SMTPEndpoint"
    ADDRESS = "AddressEndpoint"


class MessageScope(StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"


class MessageStatus(StrEnum):
    """A message's status is the status of its latest delivery (reference §2.2)."""

    PENDING = "Pending"
    SENT = "Sent"
    SOFT_FAIL = "SoftFail"
    HARD_FAIL = "HardFail"
    HELD = "Held"
    BOUNCED = "Bounced"
    PROCESSED = "Processed"
    HOLD_CANCELLED = "HoldCancelled"
    ERROR = "Error"
