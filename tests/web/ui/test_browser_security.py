"""The permission and CSRF rules in a real browser: a member of one organization cannot open
another's server, and a form posted from another site with the user's cookies changes nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core.tenancy.organizations import create_organization
from tests.support.ui import Site
from tests.web.ui.conftest import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def attacker(site: Site) -> Iterator[int]:
    """The port of another origin whose page posts a form to ours as soon as it loads."""
    page = f"""<!DOCTYPE html><html><body>
<form id="f" method="post" action="{site.base}/org/new">
<input name="name" value="Evil Corp"><input name="permalink" value="evil"></form>
<script>document.getElementById("f").submit();</script></body></html>""".encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()


def test_a_member_cannot_open_another_tenants_server(page: Any, site: Site) -> None:
    with site.runtime.db.transaction() as session:
        create_organization(session, "Globex Corp", "globex")
    site.member("dev@example.com", "globex")
    log_in(page, "dev@example.com")
    assert "ACME Inc" not in page.content() and "Globex Corp" in page.content()

    for path in ("/org/acme", "/org/acme/servers/main", "/org/acme/servers/main/messages/outgoing"):
        reply = page.goto(path)
        assert reply.status == 404, path
        assert "Page not found" in page.content()


def test_a_form_posted_from_another_origin_is_refused(page: Any, site: Site, attacker: int) -> None:
    log_in(page, "admin@example.com")
    # Another port of 127.0.0.1 is another origin but the same site: the browser sends the session
    # cookie along, and only the missing CSRF token stops the request.
    page.goto(f"http://127.0.0.1:{attacker}/")
    page.wait_for_url(f"{site.base}/org/new")
    assert "security token" in page.content()
    # From another site ("localhost" is not "127.0.0.1") the SameSite=Lax cookie stays behind: the
    # POST arrives logged out and is sent to the login page, which (the GET carrying the cookie
    # again) goes on to the start page, nothing posted.
    page.goto(f"http://localhost:{attacker}/")
    page.wait_for_url(f"{site.base}/")
    assert "ACME Inc" in page.content() and "Evil Corp" not in page.content()
