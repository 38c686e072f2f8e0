"""A server's overview, help and settings pages: what they show, their forms, and who may use them."""

from __future__ import annotations

import re

from tests.support.ui import PASSWORD, Site

SERVER = "/org/acme/servers/main"


def test_overview_shows_graph_usage_and_recent_messages(site: Site) -> None:
    browser = site.browser("admin@example.com")
    page = browser.get(SERVER)
    assert page.status == 200
    assert 'class="chart" data-source="server-graph"' in page.text and 'id="server-graph"' in page
    assert "Held messages" in page and "Bounce rate (30 days)" in page and "Storage used" in page
    assert "Messages per minute" in page and "No messages yet" in page
    api = site.browser("admin@example.com")
    assert api.get("/org/acme/servers/nope").status == 404


def test_overview_says_when_mail_is_held_or_the_server_is_suspended(site: Site) -> None:
    browser = site.browser("admin@example.com")
    browser.get(f"{SERVER}/settings")
    reply = browser.post(f"{SERVER}/settings", {"name": "Main", "mode": "Development", "postmaster_address": ""})
    assert reply.status == 303
    assert "Development mode: mail sent through it is held" in browser.get(SERVER)
    browser.get(f"{SERVER}/suspend")
    assert browser.post(f"{SERVER}/suspend", {"reason": "Sending spam"}).status == 303
    page = browser.get(SERVER)
    assert "This server is suspended" in page and "Sending spam" in page


def test_help_page_says_how_to_send_and_receive(site: Site) -> None:
    page = site.browser("admin@example.com").get(f"{SERVER}/help")
    assert page.status == 200
    assert "postal.test" in page and "/api/v1/send/message" in page and "X-Server-API-Key" in page
    assert "mx1.postal.test" in page and "routes.postal.test" in page and f"{SERVER}/credentials" in page.text


def test_general_settings_are_saved_and_errors_shown(site: Site) -> None:
    site.member("dev@example.com", "acme")
    browser = site.browser("dev@example.com")
    page = browser.get(f"{SERVER}/settings")
    assert page.status == 200 and 'value="Main"' in page.text and f"{SERVER}/ip_rules" in page.text
    bad = browser.post(f"{SERVER}/settings", {"name": "Main", "mode": "Live", "postmaster_address": "nonsense"})
    assert bad.status == 422 and "is not a valid e-mail address" in bad and 'value="nonsense"' in bad.text
    done = browser.post(f"{SERVER}/settings", {"name": "Main Mail", "mode": "Development",
                                               "postmaster_address": "pm@example.com"})  # fmt: skip
    assert done.status == 303 and done.location == f"{SERVER}/settings"
    page = browser.follow(done)
    assert "The settings have been saved." in page and 'value="Main Mail"' in page.text
    assert 'value="pm@example.com"' in page.text and '<option value="Development" selected>' in page.text


def test_advanced_settings_are_for_global_admins(site: Site) -> None:
    site.member("dev@example.com", "acme", admin=True)
    dev = site.browser("dev@example.com")
    assert dev.get(f"{SERVER}/advanced").status == 403
    assert dev.post(f"{SERVER}/advanced", {"send_limit": "5"}).status == 403
    admin = site.browser("admin@example.com")
    assert admin.get(f"{SERVER}/advanced").status == 200
    form = {"send_limit": "100", "allow_sender": "1", "privacy_mode": "1", "log_smtp_data": "0",
            "outbound_spam_threshold": "7.5", "raw_message_retention_days": "5",
            "raw_message_retention_size": "512", "message_retention_days": "10"}  # fmt: skip
    bad = admin.post(f"{SERVER}/advanced", {**form, "send_limit": "lots"})
    assert bad.status == 422 and "'lots' is not a whole number" in bad
    assert admin.post(f"{SERVER}/advanced", {**form, "message_retention_days": "0"}).status == 422
    done = admin.post(f"{SERVER}/advanced", form)
    assert done.status == 303
    page = admin.follow(done)
    assert (
        "The advanced settings have been saved." in page and 'name="send_limit" type="number" value="100"' in page.text
    )
    assert 'name="privacy_mode" value="1" checked' in page.text
    assert 'name="log_smtp_data" value="1" checked' not in page.text
    cleared = admin.post(f"{SERVER}/advanced", {**form, "send_limit": ""})
    assert cleared.status == 303 and 'name="send_limit" type="number" value=""' in admin.follow(cleared).text


def test_spam_thresholds(site: Site) -> None:
    site.member("dev@example.com", "acme")
    browser = site.browser("dev@example.com")
    assert browser.get(f"{SERVER}/spam").status == 200
    bad = browser.post(f"{SERVER}/spam", {"spam_threshold": "high", "spam_failure_threshold": "20"})
    assert bad.status == 422 and "'high' is not a number" in bad
    done = browser.post(f"{SERVER}/spam", {"spam_threshold": "3.5", "spam_failure_threshold": "15"})
    assert done.status == 303
    page = browser.follow(done)
    assert "The spam thresholds have been saved." in page
    assert re.search(r"value=\"3\.5\"", page.text) and re.search(r"value=\"15(\.0)?\"", page.text), page.text


def test_suspend_and_unsuspend_are_for_global_admins(site: Site) -> None:
    site.member("boss@example.com", "acme", admin=True)
    boss = site.browser("boss@example.com")
    assert boss.get(f"{SERVER}/suspend").status == 403
    assert boss.post(f"{SERVER}/suspend", {"reason": "x"}).status == 403
    admin = site.browser("admin@example.com")
    admin.get(f"{SERVER}/suspend")
    blank = admin.post(f"{SERVER}/suspend", {"reason": "  "})
    assert blank.status == 422 and "Give a reason" in blank
    done = admin.post(f"{SERVER}/suspend", {"reason": "Abuse report"})
    assert done.status == 303
    page = admin.follow(done)
    assert "The server has been suspended." in page and "Abuse report" in page and "Unsuspend this server" in page
    assert boss.post(f"{SERVER}/unsuspend").status == 403
    done = admin.post(f"{SERVER}/unsuspend")
    assert done.status == 303 and "The server has been unsuspended." in admin.follow(done)
    assert "This server is suspended" not in admin.get(SERVER)


def test_deleting_needs_the_password_and_an_organization_admin(site: Site) -> None:
    site.member("dev@example.com", "acme")
    dev = site.browser("dev@example.com")
    assert dev.get(f"{SERVER}/delete").status == 200
    assert dev.post(f"{SERVER}/delete", {"password": PASSWORD}).status == 403
    admin = site.browser("admin@example.com")
    wrong = admin.post(f"{SERVER}/delete", {"password": "wrong"})
    assert wrong.status == 422 and "That password is not right." in wrong
    assert admin.get(SERVER).status == 200
    done = admin.post(f"{SERVER}/delete", {"password": PASSWORD})
    assert done.status == 303 and done.location == "/org/acme"
    assert admin.get(SERVER).status == 404


def test_other_organizations_users_get_404(site: Site) -> None:
    site.user("stranger@example.com")
    stranger = site.browser("stranger@example.com")
    for path in ("", "/help", "/settings", "/spam", "/delete"):
        assert stranger.get(SERVER + path).status == 404, path
    assert stranger.post(f"{SERVER}/settings", {"name": "Mine", "mode": "Live"}).status == 404
    assert stranger.post(f"{SERVER}/delete", {"password": PASSWORD}).status == 404
