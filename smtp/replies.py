"""SMTP reply texts, as Postal words them (reference §5). Replies are data (STYLE rule 11).

The server advertises ENHANCEDSTATUSCODES, so every reply but the greeting, the answers to
HELO/EHLO and the intermediate 334/354 carries an RFC 3463 status code between the reply code
and Postal's text (RFC 2034 §3).
"""

# -- session ------------------------------------------------------------------------------------
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

# -- AUTH ---------------------------------------------------------------------------------------
R235_GRANTED = "235 2.7.0 Granted for {org}/{server}"
R334_USERNAME = "334 VXNlcm5hbWU6"
R334_PASSWORD = "334 UGFzc3dvcmQ6"  # noqa: S105 (the base64 prompt "Password:")
R535_INVALID_CREDENTIAL = "535 5.7.8 Invalid credential"
R535_DENIED = "535 5.7.8 Denied"
R535_PROTOCOL_ERROR = "535 5.7.8 Authenticated failed - protocol error"

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
