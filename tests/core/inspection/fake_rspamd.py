"""A stand-in for rspamd's HTTP API (rspamd itself is not packaged for offline use): POST /checkv2."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# What rspamd 3.x answers for a GTUBE message (abridged): symbols without a description, like
# ASN here, are not reported as checks.
CHECKV2_RESPONSE: dict[str, Any] = {
    "is_skipped": False,
    "score": 1009.6,
    "required_score": 15.0,
    "action": "reject",
    "thresholds": {"reject": 15.0, "add header": 6.0, "greylist": 4.0},
    "symbols": {
        "GTUBE": {
            "name": "GTUBE",
            "score": 1000.0,
            "metric_score": 0.0,
            "description": "Generic Test for Unsolicited Bulk Email",
        },
        "MISSING_MID": {
            "name": "MISSING_MID",
            "score": 2.5,
            "metric_score": 2.5,
            "description": "Message id is missing",
        },
        "MISSING_DATE": {"name": "MISSING_DATE", "score": 1.0, "metric_score": 1.0, "description": "Date is missing"},
        "R_SPF_NA": {
            "name": "R_SPF_NA",
            "score": 0.0,
            "metric_score": 0.0,
            "description": "Missing SPF record",
            "options": ["no SPF record"],
        },
        "FROM_NO_DN": {
            "name": "FROM_NO_DN",
            "score": 0.0,
            "metric_score": 0.0,
            "description": "From header does not have a display name",
        },
        "MIME_TRACE": {"name": "MIME_TRACE", "score": 0.0, "metric_score": 0.0, "options": ["0:+"]},
        "ONCE_RECEIVED": {"name": "ONCE_RECEIVED", "score": 0.1, "metric_score": 0.1},
        "ASN": {"name": "ASN", "score": 0.0, "metric_score": 0.0, "options": ["asn:64496, ipnet:192.0.2.0/24"]},
        "HFILTER_HOSTNAME_UNKNOWN": {
            "name": "HFILTER_HOSTNAME_UNKNOWN",
            "score": 6.0,
            "metric_score": 2.5,
            "description": "Unknown client hostname (PTR or A)",
        },
    },
    "messages": {"smtp_message": "Gtube pattern"},
    "message-id": "undef",
    "time_real": 0.012,
    "milter": {"remove_headers": {"X-Spam": 0}},
}


class FakeRspamd:
    """Answers POST /checkv2 like rspamd, with a chosen status and body, and remembers the requests."""

    def __init__(self) -> None:
        self.status = 200
        self.body = json.dumps(CHECKV2_RESPONSE).encode()
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fake.requests.append((self.command, self.path, dict(self.headers.items()), body))
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(fake.body)))
                self.end_headers()
                self.wfile.write(fake.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
