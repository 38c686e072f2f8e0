"""Mail we receive: decisions at RCPT time, incoming submission, routes and endpoints, the incoming
pipeline (reference §4) and bounces."""
