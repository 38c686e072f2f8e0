"""The web UI for tests: the app on a real socket, a browser-like HTTP client (cookies, CSRF
tokens read from the pages), and users with passwords."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

from core.runtime import Runtime
from core.tenancy.memberships import find_user, parse_servers, set_membership
from core.tenancy.organizations import find_organization
from core.tenancy.users import create_user
from tests.support.api_v2 import serve

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')


@dataclass
class Page:
    status: int
    text: str
    headers: Any
    url: str

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")

    def csrf(self) -> str:
        found = CSRF_RE.search(self.text)
        assert found, f"no CSRF token on {self.url}"
        return html.unescape(found.group(1))

    def __contains__(self, text: str) -> bool:
        return text in html.unescape(self.text)


class Browser:
    """Requests with a cookie jar, following no redirects, so tests see each 303."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.csrf_token = ""

    def get(self, path: str, **kwargs: Any) -> Page:
        return self._page(self.http.get(self.base + path, allow_redirects=False, timeout=30, **kwargs))

    def post(self, path: str, data: dict[str, Any] | None = None, csrf: bool = True, **kwargs: Any) -> Page:
        form = dict(data or {})
        if csrf:
            form.setdefault("_csrf", self.csrf_token)
        return self._page(self.http.post(self.base + path, data=form, allow_redirects=False, timeout=30, **kwargs))

    def follow(self, page: Page) -> Page:
        assert page.status in (302, 303), f"{page.url} answered {page.status}, not a redirect"
        assert page.location is not None
        return self.get(page.location.removeprefix(self.base))

    def _page(self, response: requests.Response) -> Page:
        page = Page(response.status_code, response.text, response.headers, response.url)
        if "text/html" in response.headers.get("Content-Type", ""):
            found = CSRF_RE.search(response.text)
            if found:
                self.csrf_token = html.unescape(found.group(1))
        return page

    def login(self, email: str, password: str = PASSWORD) -> Page:
        self.get("/login")
        reply = self.post("/login", {"email_address": email, "password": password})
        assert reply.status == 303, f"login as {email} failed: {reply.status}"
        return self.follow(reply)


class Site:
    """The running web UI and ways to make users for it."""

    def __init__(self, runtime: Runtime, port: int) -> None:
        self.runtime = runtime
        self.port = port
        self.base = f"http://127.0.0.1:{port}"

    def user(self, email: str, admin: bool = False, password: str = PASSWORD, first_name: str = "") -> str:
        with self.runtime.db.transaction() as session:
            create_user(session, email, password, first_name, "", admin=admin)
        return email

    def member(self, email: str, org: str, admin: bool = False, servers: str = "all") -> str:
        self.user(email)
        with self.runtime.db.transaction() as session:
            organization = find_organization(session, org)
            set_membership(
                session, organization, find_user(session, email), admin, parse_servers(session, organization, servers)
            )
        return email

    def browser(self, email: str | None = None) -> Browser:
        browser = Browser(self.base)
        if email is not None:
            browser.login(email)
        return browser


@contextmanager
def live_site(runtime: Runtime) -> Iterator[Site]:
    with serve(runtime) as port:
        yield Site(runtime, port)
