"""The Routing tab over HTTP: HTTP, SMTP and address endpoints and routes, made, changed and
deleted through their forms, the errors the forms show, and nothing visible across tenants."""

from __future__ import annotations

import re
from typing import Any

from core.runtime import Runtime
from core.tenancy.organizations import create_organization, find_organization
from core.tenancy.servers import create_server
from tests.support.ui import Browser, Site

SERVER = "/org/acme/servers/main"
UUID = r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"


def uuids(browser: Browser, path: str, kind: str) -> list[str]:
    """The uuids of the items the list at `path` links to."""
    page = browser.get(path)
    assert page.status == 200
    return list(dict.fromkeys(re.findall(rf"/{kind}/{UUID}/edit", page.text)))


def add_http_endpoint(browser: Browser, name: str, url: str) -> str:
    reply = browser.post(
        f"{SERVER}/http_endpoints/new",
        {"name": name, "url": url, "encoding": "BodyAsJSON", "format": "Hash", "timeout": "5",
         "strip_replies": "0", "include_attachments": "1"},
    )  # fmt: skip
    assert reply.status == 303, reply.text
    return uuids(browser, f"{SERVER}/http_endpoints", "http_endpoints")[-1]


def test_http_endpoints_are_added_changed_and_deleted(site: Site) -> None:
    dev = site.browser(site.member("dev@example.com", "acme", servers="main"))
    page = dev.get(f"{SERVER}/http_endpoints")
    assert page.status == 200 and "This server has no HTTP endpoints yet." in page
    form = dev.get(f"{SERVER}/http_endpoints/new")
    assert form.status == 200 and "Sent in the body as JSON" in form and "Delivered as the raw message" in form

    reply = dev.post(
        f"{SERVER}/http_endpoints/new",
        {"name": "App", "url": "https://app.example.com/in", "encoding": "FormData", "format": "RawMessage",
         "strip_replies": "1", "include_attachments": "0", "timeout": "30"},
    )  # fmt: skip
    assert reply.status == 303 and reply.location == f"{SERVER}/http_endpoints"
    listed = dev.follow(reply)
    assert "The HTTP endpoint App (https://app.example.com/in) has been added." in listed
    assert (
        "https://app.example.com/in" in listed and "Form data, raw message, replies stripped, no attachments" in listed
    )
    [uuid] = uuids(dev, f"{SERVER}/http_endpoints", "http_endpoints")

    edit = dev.get(f"{SERVER}/http_endpoints/{uuid}/edit")
    assert edit.status == 200 and 'value="https://app.example.com/in"' in edit.text and 'value="30"' in edit.text
    reply = dev.post(
        f"{SERVER}/http_endpoints/{uuid}/edit",
        {"name": "App v2", "url": "http://app.example.com/v2", "encoding": "BodyAsJSON", "format": "Hash",
         "strip_replies": "0", "include_attachments": "1", "timeout": "10"},
    )  # fmt: skip
    assert reply.status == 303
    listed = dev.follow(reply)
    assert "App v2" in listed and "http://app.example.com/v2" in listed and "JSON, hash" in listed and "10 s" in listed

    # Given wrong values, the form comes back with the API's message and what was typed.
    for values, message in [
        ({"url": "ftp://app.example.com/"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"timeout": "1"}, "timeout"),
        ({"timeout": "soon"}, "timeout"),
        ({"name": "  "}, "name"),
    ]:
        body = {"name": "App", "url": "https://app.example.com/in", "encoding": "BodyAsJSON", "format": "Hash",
                "timeout": "5", **values}  # fmt: skip
        reply = dev.post(f"{SERVER}/http_endpoints/{uuid}/edit", body)
        assert reply.status == 422 and 'class="form-errors"' in reply.text and message in reply, values
        assert f'value="{body["url"]}"' in reply.text
    reply = dev.post(f"{SERVER}/http_endpoints/new", {"name": "X", "url": "ftp://x.example/", "timeout": "5"})
    assert reply.status == 422 and "ftp://x.example/" in reply

    reply = dev.post(f"{SERVER}/http_endpoints/{uuid}/delete")
    assert reply.status == 303 and "has been deleted" in dev.follow(reply)
    assert uuids(dev, f"{SERVER}/http_endpoints", "http_endpoints") == []
    assert dev.get(f"{SERVER}/http_endpoints/{uuid}/edit").status == 404


def test_smtp_and_address_endpoints_are_added_changed_and_deleted(site: Site) -> None:
    dev = site.browser(site.member("dev@example.com", "acme", servers="main"))
    form = dev.get(f"{SERVER}/smtp_endpoints/new")
    assert form.status == 200 and "Always use STARTTLS" in form
    reply = dev.post(f"{SERVER}/smtp_endpoints/new",
                     {"name": "Relay", "hostname": "MX.Example.NET", "port": "2525", "ssl_mode": "TLS"})  # fmt: skip
    assert reply.status == 303
    listed = dev.follow(reply)
    assert "mx.example.net:2525" in listed and "TLS" in listed
    [smtp] = uuids(dev, f"{SERVER}/smtp_endpoints", "smtp_endpoints")
    changed = {"name": "Relay", "hostname": "mx2.example.net", "port": "587", "ssl_mode": "STARTTLS"}
    reply = dev.post(f"{SERVER}/smtp_endpoints/{smtp}/edit", changed)
    assert reply.status == 303 and "mx2.example.net:587" in dev.follow(reply)
    for values in ({"hostname": "not a host"}, {"port": "0"}, {"port": "many"}):
        body = {"name": "Relay", "hostname": "mx.example.net", "port": "25", "ssl_mode": "Auto", **values}
        reply = dev.post(f"{SERVER}/smtp_endpoints/{smtp}/edit", body)
        assert reply.status == 422 and 'class="form-errors"' in reply.text, values

    assert dev.get(f"{SERVER}/address_endpoints/new").status == 200
    reply = dev.post(f"{SERVER}/address_endpoints/new", {"address": "inbox@example.net"})
    assert reply.status == 303 and "inbox@example.net" in dev.follow(reply)
    [address] = uuids(dev, f"{SERVER}/address_endpoints", "address_endpoints")
    reply = dev.post(f"{SERVER}/address_endpoints/new", {"address": "inbox@example.net"})
    assert reply.status == 422 and "inbox@example.net is already an endpoint of this server" in reply
    reply = dev.post(f"{SERVER}/address_endpoints/{address}/edit", {"address": "nobody"})
    assert reply.status == 422 and "must be an e-mail address" in reply
    reply = dev.post(f"{SERVER}/address_endpoints/{address}/edit", {"address": "other@example.net"})
    assert reply.status == 303 and "other@example.net" in dev.follow(reply)

    for kind, uuid in (("smtp_endpoints", smtp), ("address_endpoints", address)):
        assert dev.post(f"{SERVER}/{kind}/{uuid}/delete").status == 303
        assert uuids(dev, f"{SERVER}/{kind}", kind) == []


def test_routes_are_added_changed_and_deleted(site: Site) -> None:
    dev = site.browser(site.member("dev@example.com", "acme", servers="main"))
    app = add_http_endpoint(dev, "App", "https://app.example.com/in")
    log = add_http_endpoint(dev, "Log", "https://log.example.com/in")
    assert dev.post(f"{SERVER}/smtp_endpoints/new", {"name": "Relay", "hostname": "mx.example.net"}).status == 303
    [relay] = uuids(dev, f"{SERVER}/smtp_endpoints", "smtp_endpoints")

    empty = dev.get(f"{SERVER}/routes")
    assert empty.status == 200 and "This server has no routes yet" in empty
    form = dev.get(f"{SERVER}/routes/new")
    assert form.status == 200
    for text in ("Accept message with no endpoint", "Accept message and put message in hold queue",
                 "Accept message and immediately send bounce to sender", "Do not accept any incoming messages",
                 '<option value="example.com"', f'value="http:{app}"', f'value="smtp:{relay}"',
                 "Quarantine"):  # fmt: skip
        assert text in form, text

    reply = dev.post(
        f"{SERVER}/routes/new",
        {"name": "Support", "domain": "example.com", "target": f"http:{app}", "spam_mode": "Quarantine",
         "additional": [f"http:{log}", f"http:{app}"]},
    )  # fmt: skip
    assert reply.status == 303 and reply.location == f"{SERVER}/routes"
    listed = dev.follow(reply)
    assert "The route support@example.com has been added." in listed
    assert "App (https://app.example.com/in)" in listed and "Log (https://log.example.com/in)" in listed
    assert "Quarantine" in listed
    [route] = uuids(dev, f"{SERVER}/routes", "routes")
    assert re.search(r"[a-z0-9]+@routes\.postal\.test", listed.text), "the route's forward address is shown"

    edit = dev.get(f"{SERVER}/routes/{route}/edit")
    assert edit.status == 200 and "support@example.com" in edit
    assert re.search(rf'value="http:{log}" checked', edit.text) and re.search(
        rf'<option value="http:{app}" selected', edit.text
    )
    reply = dev.post(f"{SERVER}/routes/{route}/edit",
                     {"target": "Hold", "spam_mode": "Mark", "additional": [f"http:{log}"]})  # fmt: skip
    assert reply.status == 303
    listed = dev.follow(reply)
    assert "Accept message and put message in hold queue" in listed and "Log (https" not in listed
    reply = dev.post(f"{SERVER}/routes/{route}/edit", {"target": f"smtp:{relay}", "spam_mode": "Fail"})
    assert reply.status == 303 and "Relay (mx.example.net:25)" in dev.follow(reply)

    # Given Postal's rules broken, the form shows why and keeps what was chosen.
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "support", "target": f"http:{app}"}, "support@example.com already has a route"),
        ({"name": "bad name!", "target": f"http:{app}"}, "may only hold letters"),
        ({"name": "*", "target": f"http:{app}", "additional": [f"smtp:{relay}"]}, "must be HTTP endpoints"),
        ({"name": "x", "domain": "elsewhere.example", "target": "Accept"}, "not a domain of this server"),
    ]
    for values, message in cases:
        body = {"domain": "example.com", "spam_mode": "Mark", **values}
        reply = dev.post(f"{SERVER}/routes/new", body)
        assert reply.status == 422 and message in reply, values
        assert f'value="{values["name"]}"' in reply.text
    reply = dev.post(f"{SERVER}/routes/new", {"name": "any", "domain": "example.com", "target": "Reject"})
    assert reply.status == 303 and "Do not accept any incoming messages" in dev.follow(reply)

    # Deleting the endpoint of a route makes it refuse mail, as in Postal.
    assert dev.post(f"{SERVER}/smtp_endpoints/{relay}/delete").status == 303
    assert dev.get(f"{SERVER}/routes/{route}/edit").text.count('value="Reject" selected') == 1

    reply = dev.post(f"{SERVER}/routes/{route}/delete")
    assert reply.status == 303 and "The route support@example.com has been deleted." in dev.follow(reply)
    assert dev.get(f"{SERVER}/routes/{route}/edit").status == 404


def test_routing_is_invisible_across_tenants(site: Site, runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        create_organization(session, "Rival", "rival")
        create_server(
            session, runtime.config, runtime.message_dbs, find_organization(session, "acme"), "Other", "other"
        )
    admin = site.browser("admin@example.com")
    endpoint = add_http_endpoint(admin, "App", "https://app.example.com/in")
    reply = admin.post(f"{SERVER}/routes/new", {"name": "a", "domain": "example.com", "target": f"http:{endpoint}"})
    assert reply.status == 303
    [route] = uuids(admin, f"{SERVER}/routes", "routes")
    outsider = site.browser(site.member("outsider@example.com", "rival", admin=True))
    elsewhere = site.browser(site.member("other@example.com", "acme", servers="other"))

    for browser in (outsider, elsewhere):
        for path in ("routes", "routes/new", f"routes/{route}/edit", "http_endpoints", "http_endpoints/new",
                     f"http_endpoints/{endpoint}/edit", "smtp_endpoints", "address_endpoints/new"):  # fmt: skip
            assert browser.get(f"{SERVER}/{path}").status == 404, path
        for path in (f"routes/{route}/delete", f"http_endpoints/{endpoint}/delete", "http_endpoints/new"):
            assert browser.post(f"{SERVER}/{path}", {"name": "X", "url": "https://x.example/"}).status == 404, path
    # The route of one server is not found under another one the user may use.
    assert elsewhere.get(f"/org/acme/servers/other/routes/{route}/edit").status == 404
    assert elsewhere.post(f"/org/acme/servers/other/http_endpoints/{endpoint}/delete").status == 404
    assert uuids(admin, f"{SERVER}/routes", "routes") == [route]
    assert uuids(admin, f"{SERVER}/http_endpoints", "http_endpoints") == [endpoint]


def test_forms_need_their_security_token(site: Site) -> None:
    dev = site.browser(site.member("dev@example.com", "acme", servers="main"))
    dev.get(f"{SERVER}/routes")
    reply = dev.post(f"{SERVER}/http_endpoints/new", {"name": "App", "url": "https://app.example.com/"}, csrf=False)
    assert reply.status == 403
    assert uuids(dev, f"{SERVER}/http_endpoints", "http_endpoints") == []
