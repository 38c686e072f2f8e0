"""The SMTP server role: inbound mail and authenticated submission (aiosmtpd)."""
