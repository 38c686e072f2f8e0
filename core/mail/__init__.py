"""The mail toolkit: addresses, header parsing, DKIM keys, MX lookup, the SMTP client and reply classes."""
