"""Each web request has an id, in its log lines and in the response."""

from __future__ import annotations

import falcon
import falcon.testing

from core import logs
from web.request_context import HEADER, RequestContext


class Seen:
    def __init__(self) -> None:
        self.ids: list[str | None] = []

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.ids.append(logs.request_id.get())
        resp.text = "ok"


def client() -> tuple[falcon.testing.TestClient, Seen]:
    app = falcon.App(middleware=[RequestContext()])
    seen = Seen()
    app.add_route("/", seen)
    return falcon.testing.TestClient(app), seen


def test_a_request_gets_an_id_for_its_log_lines_and_response() -> None:
    test_client, seen = client()
    response = test_client.simulate_get("/")
    assert seen.ids == [response.headers[HEADER]] and len(seen.ids[0] or "") == 16
    # and the id does not outlive the request
    assert logs.request_id.get() is None


def test_a_proxys_id_is_kept_when_sane_and_replaced_when_not() -> None:
    test_client, seen = client()
    kept = test_client.simulate_get("/", headers={HEADER: "edge-1234abcd"})
    replaced = test_client.simulate_get("/", headers={HEADER: "bad id\nwith newline"})
    assert kept.headers[HEADER] == "edge-1234abcd"
    assert replaced.headers[HEADER] != "bad id\nwith newline" and seen.ids[1] == replaced.headers[HEADER]
