"""Mail we send: submission by SMTP and HTTP API, the outgoing pipeline (reference §3.3), SMTP
sessions and return paths."""
