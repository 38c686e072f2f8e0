"""SMTP reply texts, as Postal words them (reference §5). Replies are data (STYLE rule 11).

The server advertises ENHANCEDSTATUSCODES, so every reply but the greeting, the answers to
HELO/EHLO and the intermediate 334/354 carries an RFC 3463 status code between the reply code
and Postal's text (RFC 2034 §3).
"""

# -- session ------------------------------------------------------------------------------------
R220_GREETING = "220 {hostname} ESMTP Postal/{session}"
R250_HELO = "250 {hostname}"
EHLO_FIRST_LINE = "My capabilities are"
R221_CLOSING = "221 2.0.0 Closing Connection"
R250_OK = "250 2.0.0 OK"
R250_SENDER_OK = "250 2.1.0 OK"
R250_RECIPIENT_OK = "250 2.1.5 OK"
R250_QUEUED = "250 2.0.0 OK"
R354_GO_AHEAD = "354 Go ahead"
R451_TEMPORARY = "451 4.3.0 Temporary server error, please try again later"
R502_UNSUPPORTED = "502 5.5.1 Invalid/unsupported command"
R503_HELO_FIRST = "503 5.5.1 EHLO/HELO first please"
R503_MAIL_FIRST = "503 5.5.1 EHLO/HELO and MAIL FROM first please"
R503_RCPT_FIRST = "503 5.5.1 HELO/EHLO, MAIL FROM and RCPT TO before sending data"
R500_LINE_TOO_LONG = "500 5.5.2 Line too long"
R501_HELO_SYNTAX = "501 5.5.4 Syntax: {command} hostname"
R501_MAIL_SYNTAX = "501 5.5.4 Syntax: MAIL FROM:<address>"
R501_RCPT_SYNTAX = "501 5.5.4 Syntax: RCPT TO:<address>"
R501_BODY_PARAMETER = "501 5.5.4 BODY can only be 7BIT or 8BITMIME"
R555_MAIL_PARAMETERS = "555 5.5.4 MAIL FROM parameters not recognized or not implemented"

# -- connection limits (additions to Postal) ----------------------------------------------------
R421_IDLE_TIMEOUT = "421 4.4.2 {hostname} Error: timeout exceeded"
R421_SESSION_TIMEOUT = "421 4.4.2 {hostname} Error: session time limit exceeded"
R421_TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections from your address"
R421_TOO_MANY_AUTH_FAILURES = "421 4.7.0 Too many failed authentication attempts"
R454_TOO_MANY_AUTH_FAILURES = "454 4.7.0 Too many failed authentication attempts, try again later"
R502_PROXY_ERROR = "502 5.5.1 Proxy Error"

# -- TLS ----------------------------------------------------------------------------------------
R220_READY_FOR_TLS = "220 2.0.0 Ready to start TLS"
R502_TLS_NOT_AVAILABLE = "502 5.5.1 TLS not available"
R503_TLS_ACTIVE = "503 5.5.1 TLS already active"

# -- AUTH ---------------------------------------------------------------------------------------
R235_GRANTED = "235 2.7.0 Granted for {org}/{server}"
R334_USERNAME = "334 VXNlcm5hbWU6"
R334_PASSWORD = "334 UGFzc3dvcmQ6"  # noqa: S105 (the base64 prompt "Password:")
R535_INVALID_CREDENTIAL = "535 5.7.8 Invalid credential"
R535_DENIED = "535 5.7.8 Denied"
R535_PROTOCOL_ERROR = "535 5.7.8 Authenticated failed - protocol error"
R501_AUTH_SYNTAX = "501 5.5.4 Syntax: AUTH <mechanism>"
R501_AUTH_ABORTED = "501 5.7.0 Auth aborted"
R501_AUTH_BASE64 = "501 5.5.2 Can't decode base64"
R503_ALREADY_AUTHENTICATED = "503 5.5.1 Already authenticated"
R504_UNKNOWN_MECHANISM = "504 5.5.4 Unrecognized authentication type"
R538_ENCRYPTION_REQUIRED = "538 5.7.11 Encryption required for requested authentication mechanism"

# -- envelope -----------------------------------------------------------------------------------
R501_RCPT_EMPTY = "501 5.1.3 RCPT TO should not be empty"
R501_RCPT_INVALID = "501 5.1.3 Invalid RCPT TO"
R530_AUTH_REQUIRED = "530 5.7.0 Authentication required"
R535_SUSPENDED = "535 5.7.1 Mail server has been suspended"
R550_INVALID_SERVER_TOKEN = "550 5.1.1 Invalid server token"  # noqa: S105 (not a secret)
R550_INVALID_ROUTE_TOKEN = "550 5.1.1 Invalid route token"  # noqa: S105 (not a secret)
R550_ROUTE_REJECTS = "550 5.7.1 Route does not accept incoming messages"

# -- end of DATA --------------------------------------------------------------------------------
R530_FROM_INVALID = "530 5.7.1 From/Sender name is not valid"
R550_LOOP = "550 5.4.6 Loop detected"
R550_SERVER_GONE = "550 5.1.1 Mail server no longer exists"
R552_TOO_LARGE = "552 5.3.4 Message too large (maximum size {megabytes}MB)"

# -- metrics ------------------------------------------------------------------------------------
# The `error` label of `postal_smtp_server_client_errors` for each refusal, Postal's where it has
# one (reference §11); replies with a placeholder are matched on the text before it.
CLIENT_ERRORS = {
    R502_UNSUPPORTED: "invalid-command",
    R502_PROXY_ERROR: "proxy-error",
    R502_TLS_NOT_AVAILABLE: "tls-unavailable",
    R535_PROTOCOL_ERROR: "missing-credentials",
    R535_INVALID_CREDENTIAL: "invalid-credentials",
    R535_DENIED: "invalid-credentials",
    R503_HELO_FIRST: "mail-from-out-of-order",
    R503_MAIL_FIRST: "rcpt-to-out-of-order",
    R501_RCPT_EMPTY: "empty-rcpt-to",
    R501_RCPT_INVALID: "invalid-rcpt-to",
    R535_SUSPENDED: "server-suspended",
    R550_INVALID_SERVER_TOKEN: "invalid-server-token",
    R550_ROUTE_REJECTS: "route-rejected",
    R530_AUTH_REQUIRED: "authentication-required",
    R503_RCPT_FIRST: "data-out-of-order",
    R550_LOOP: "loop-detected",
    R530_FROM_INVALID: "from-name-invalid",
    # Additions: refusals Postal does not make or does not count.
    R550_INVALID_ROUTE_TOKEN: "invalid-route-token",
    R550_SERVER_GONE: "server-gone",
    R500_LINE_TOO_LONG: "line-too-long",
    R421_TOO_MANY_CONNECTIONS: "too-many-connections",
    R454_TOO_MANY_AUTH_FAILURES: "authentication-blocked",
    R421_TOO_MANY_AUTH_FAILURES: "authentication-blocked",
    R538_ENCRYPTION_REQUIRED: "encryption-required",
}
_TEMPLATED_ERRORS = {
    R552_TOO_LARGE: "message-too-large",
    R421_IDLE_TIMEOUT: "idle-timeout",
    R421_SESSION_TIMEOUT: "session-timeout",
}
# (text before the placeholder, text after it, error)
_TEMPLATES = [(t.split("{")[0], t.split("}")[-1], error) for t, error in _TEMPLATED_ERRORS.items()]


def client_error(reply: str) -> str | None:
    """The client error a reply reports, if it is one we count."""
    error = CLIENT_ERRORS.get(reply)
    if error is not None or reply[:1] in ("2", "3"):
        return error
    for head, tail, name in _TEMPLATES:
        if reply.startswith(head) and reply.endswith(tail):
            return name
    return None
