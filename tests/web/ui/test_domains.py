"""Domains of a server and of an organization, their verification (DNS record or e-mailed
code) and DNS setup, and a server's track domains, through the web UI."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.smtp_sink import SMTPSink
from tests.support.ui import Browser, Site

SERVER = "/org/acme/servers/main"


@pytest.fixture
def ui_config(smtp_sink: SMTPSink) -> dict[str, Any]:
    """System mail (the verification codes) goes to the test sink."""
    return {"smtp": {"host": "127.0.0.1", "port": smtp_sink.port}}


def add(browser: Browser, base: str, name: str, method: str = "DNS", verified: bool = False) -> str:
    """Add a domain through the form; answers its uuid."""
    assert browser.get(f"{base}/domains/new").status == 200
    reply = browser.post(f"{base}/domains/new", {"name": name, "verification_method": method,
                                                 "verified": "1" if verified else "0"})  # fmt: skip
    assert reply.status == 303, reply.text
    found = re.search(r"/domains/([0-9a-f-]{36})/", reply.location or "")
    assert found, reply.location
    return found.group(1)


def test_list_add_verify_by_dns_set_up_and_delete(site: Site, zone: Any) -> None:
    site.member("dev@example.com", "acme")
    browser = site.browser("dev@example.com")
    page = browser.get(f"{SERVER}/domains")
    assert (
        page.status == 200 and "example.com" in page and "Verified" in page and f"{SERVER}/track_domains" in page.text
    )

    bad = browser.post(f"{SERVER}/domains/new", {"name": "not a domain", "verification_method": "DNS"})
    assert bad.status == 422 and "is not a valid domain name" in bad and 'value="not a domain"' in bad.text
    uuid = add(browser, SERVER, "Mail.Example.ORG")
    verify = browser.get(f"{SERVER}/domains/{uuid}/verify")
    assert verify.status == 200 and "postal-verification " in verify
    token = re.search(r"postal-verification [A-Za-z0-9]+", verify.text)
    assert token
    missing = browser.post(f"{SERVER}/domains/{uuid}/verify")
    assert missing.status == 303 and "TXT record was not found" in browser.follow(missing)

    zone.add("mail.example.org", "TXT", token.group(0))
    done = browser.post(f"{SERVER}/domains/{uuid}/verify")
    assert done.status == 303 and done.location == f"{SERVER}/domains/{uuid}/setup"
    setup = browser.follow(done)
    assert "mail.example.org has been verified." in setup and "Check my records" in setup
    assert "v=spf1 a mx include:spf.postal.test ~all" in setup and "psrp.mail.example.org" in setup
    assert "rp.postal.test" in setup and "mx1.postal.test" in setup and "Not checked yet" in setup

    # Publish SPF, DKIM and the return path (MX may stay missing): the check passes.
    dkim = re.search(
        r"(postal-[A-Za-z]+\._domainkey\.mail\.example\.org)</td><td><code class=\"secret\">([^<]+)<", setup.text
    )
    assert dkim
    zone.add("mail.example.org", "TXT", "v=spf1 a mx include:spf.postal.test ~all")
    zone.add(dkim.group(1), "TXT", dkim.group(2).replace("&#34;", '"'))
    zone.set("psrp.mail.example.org", "CNAME", "rp.postal.test.")
    checked = browser.post(f"{SERVER}/domains/{uuid}/check")
    assert checked.status == 303
    setup = browser.follow(checked)
    assert "The records of mail.example.org are all right." in setup and "everything needed is in place" in setup
    listing = browser.get(f"{SERVER}/domains")
    assert "SPF OK" in listing and "DKIM OK" in listing and "MX Missing" in listing

    zone.remove("mail.example.org", "TXT")
    browser.post(f"{SERVER}/domains/{uuid}/check")
    setup = browser.get(f"{SERVER}/domains/{uuid}/setup")
    assert "No SPF record exists for this domain" in setup

    gone = browser.post(f"{SERVER}/domains/{uuid}/delete")
    assert gone.status == 303 and "mail.example.org has been removed." in browser.follow(gone)
    assert browser.get(f"{SERVER}/domains/{uuid}/setup").status == 404


def test_admins_add_verified_domains(site: Site) -> None:
    admin = site.browser("admin@example.com")
    uuid = add(admin, SERVER, "verified.example.net", verified=True)
    assert "verified.example.net has been added." in admin.get(f"{SERVER}/domains/{uuid}/setup")
    site.member("dev@example.com", "acme")
    dev = site.browser("dev@example.com")
    assert 'name="verified"' not in dev.get(f"{SERVER}/domains/new").text
    # A member's ticked box is ignored: only administrators may skip verification.
    uuid = add(dev, SERVER, "mine.example.net", verified=True)
    assert "postal-verification" in dev.get(f"{SERVER}/domains/{uuid}/verify")


def test_verify_by_emailed_code(site: Site, smtp_sink: SMTPSink) -> None:
    site.member("dev@example.com", "acme")
    browser = site.browser("dev@example.com")
    uuid = add(browser, SERVER, "shop.example.org", method="Email")
    page = browser.get(f"{SERVER}/domains/{uuid}/verify")
    assert page.status == 200 and "webmaster@shop.example.org" in page and "hostmaster@example.org" in page
    assert "postal-verification" not in page and 'name="code"' not in page.text

    refused = browser.post(f"{SERVER}/domains/{uuid}/verification_code", {"address": "someone@example.org"})
    assert refused.status == 422 and "must be one of" in refused
    sent = browser.post(f"{SERVER}/domains/{uuid}/verification_code", {"address": "postmaster@example.org"})
    assert sent.status == 303 and "A code has been sent to postmaster@example.org" in browser.follow(sent)
    [mail] = smtp_sink.handler.wait_for(1)
    assert mail.rcpt_tos == ["postmaster@example.org"] and b"Verify shop.example.org" in mail.data
    code = re.search(rb"\b(\d{6})\b", mail.data)
    assert code
    again = browser.post(f"{SERVER}/domains/{uuid}/verification_code", {"address": "postmaster@example.org"})
    assert again.status == 422 and "less than a minute ago" in again

    blank = browser.post(f"{SERVER}/domains/{uuid}/verify", {"code": ""})
    assert blank.status == 422 and "Enter the code" in blank
    wrong = "000000" if code.group(1) != b"000000" else "111111"
    bad = browser.post(f"{SERVER}/domains/{uuid}/verify", {"code": wrong})
    assert bad.status == 422 and "That code is not right" in bad
    done = browser.post(f"{SERVER}/domains/{uuid}/verify", {"code": code.group(1).decode()})
    assert done.status == 303 and "shop.example.org has been verified." in browser.follow(done)


def test_failed_system_mail_is_reported(site: Site, smtp_sink: SMTPSink) -> None:
    browser = site.browser("admin@example.com")
    uuid = add(browser, SERVER, "down.example.org", method="Email")
    smtp_sink.stop()
    reply = browser.post(f"{SERVER}/domains/{uuid}/verification_code", {"address": "admin@down.example.org"})
    assert reply.status == 422 and "could not be sent" in reply
    smtp_sink.start()


def test_organization_domains_use_the_same_pages(site: Site) -> None:
    site.member("dev@example.com", "acme")
    admin = site.browser("admin@example.com")
    assert admin.get("/org/acme/domains").status == 200
    uuid = add(admin, "/org/acme", "acme.example", verified=True)
    page = admin.get("/org/acme/domains")
    assert "acme.example" in page and "every mail server of ACME Inc" in page
    assert admin.get(f"/org/acme/domains/{uuid}/setup").status == 200
    dev = site.browser("dev@example.com")
    # Members see the organization's domains but only its admins change them.
    assert "acme.example" in dev.get("/org/acme/domains")
    assert dev.post("/org/acme/domains/new", {"name": "x.example", "verification_method": "DNS"}).status == 403
    assert dev.post(f"/org/acme/domains/{uuid}/check").status == 403
    assert dev.post(f"/org/acme/domains/{uuid}/delete").status == 403
    # The organization's domain is not one of the server's.
    assert admin.get(f"{SERVER}/domains/{uuid}/setup").status == 404
    assert admin.post(f"/org/acme/domains/{uuid}/delete").status == 303


def test_other_organizations_users_get_404(site: Site) -> None:
    site.user("stranger@example.com")
    stranger = site.browser("stranger@example.com")
    for path in (f"{SERVER}/domains", f"{SERVER}/domains/new", "/org/acme/domains", f"{SERVER}/track_domains"):
        assert stranger.get(path).status == 404, path
    assert stranger.post(f"{SERVER}/domains/new", {"name": "x.example"}).status == 404


def test_track_domains(site: Site, zone: Any) -> None:
    site.member("dev@example.com", "acme")
    browser = site.browser("dev@example.com")
    page = browser.get(f"{SERVER}/track_domains")
    assert page.status == 200 and "No track domains yet" in page
    form = browser.get(f"{SERVER}/track_domains/new")
    assert form.status == 200 and '<option value="example.com"' in form.text
    data = {"name": "click", "domain": "example.com", "ssl_enabled": "1", "track_clicks": "1", "track_loads": "0",
            "excluded_click_domains": "unsub.example.com\nshop.example.com"}  # fmt: skip
    bad = browser.post(f"{SERVER}/track_domains/new", {**data, "name": "bad name"})
    assert bad.status == 422 and "is not a valid domain name" in bad
    done = browser.post(f"{SERVER}/track_domains/new", data)
    assert done.status == 303
    edit = browser.follow(done)
    assert "click.example.com has been added" in edit and "track.postal.example.com" in edit
    assert "unsub.example.com\nshop.example.com" in edit
    path = done.location or ""

    check = browser.post(f"{path}/check")
    assert check.status == 303 and "There is no CNAME record at click.example.com" in browser.follow(check)
    zone.set("click.example.com", "CNAME", "track.postal.example.com.")
    check = browser.post(f"{path}/check")
    assert "The CNAME of click.example.com is right." in browser.follow(check)
    assert "OK" in browser.get(f"{SERVER}/track_domains")

    saved = browser.post(path, {"ssl_enabled": "0", "track_clicks": "1", "track_loads": "1",
                                "excluded_click_domains": "bad domain!"})  # fmt: skip
    assert saved.status == 422 and "excluded_click_domains" in saved
    saved = browser.post(path, {"ssl_enabled": "0", "track_clicks": "0", "track_loads": "1",
                                "excluded_click_domains": ""})  # fmt: skip
    assert saved.status == 303
    listing = browser.get(f"{SERVER}/track_domains")
    assert "click.example.com" in listing and "Off" in listing
    gone = browser.post(f"{path}/delete")
    assert gone.status == 303 and "No track domains yet" in browser.follow(gone)
