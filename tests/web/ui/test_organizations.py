"""The organization pages: creating one, its servers, settings, members, IP pools and rules, deleting it."""

from __future__ import annotations

import re

from core.tenancy.ip_pools import create_pool
from tests.support.ui import PASSWORD, Browser, Site


def pool(site: Site, name: str, permalink: str) -> str:
    with site.runtime.db.transaction() as session:
        return create_pool(session, name, permalink).uuid


def member_uuid(page_text: str, email: str) -> str:
    found = re.search(r'href="/org/acme/users/([0-9a-f-]+)"[^>]*>Change</a>', page_text.split(email, 1)[1])
    assert found, f"no member row for {email}"
    return found.group(1)


# -- creating organizations and servers ----------------------------------------------------------


def test_global_admins_create_an_organization(site: Site) -> None:
    admin = site.browser("admin@example.com")
    form = admin.get("/org/new")
    assert form.status == 200 and "New organization" in form and "Europe/London" in form
    reply = admin.post("/org/new", {"name": "Globex Corp", "permalink": "", "time_zone": "Europe/London"})
    assert reply.status == 303 and reply.location == "/org/globex-corp"
    page = admin.follow(reply)
    assert page.status == 200 and "Globex Corp has been created." in page and "no mail servers yet" in page
    settings = admin.get("/org/globex-corp/settings")
    assert 'value="Europe/London" selected' in settings.text
    assert "Globex Corp" in admin.get("/")


def test_organization_form_errors_keep_the_values(site: Site) -> None:
    admin = site.browser("admin@example.com")
    reply = admin.post("/org/new", {"name": "Second ACME", "permalink": "acme", "time_zone": "UTC"})
    assert reply.status == 422 and "has already been taken" in reply and 'value="Second ACME"' in reply.text
    reply = admin.post("/org/new", {"name": "Bad", "permalink": "Not Valid", "time_zone": "UTC"})
    assert reply.status == 422 and "permalink" in reply
    reply = admin.post("/org/new", {"name": "Zoned", "time_zone": "Mars/Olympus"})
    assert reply.status == 422 and "not a known time zone" in reply


def test_only_global_admins_create_organizations(site: Site) -> None:
    member = site.browser(site.member("dev@example.com", "acme", admin=True))
    assert member.get("/org/new").status == 403
    assert member.post("/org/new", {"name": "Mine", "time_zone": "UTC"}).status == 403
    assert "New organization" not in member.get("/")


def test_the_servers_list_and_creating_a_server(site: Site) -> None:
    admin = site.browser("admin@example.com")
    page = admin.get("/org/acme")
    assert page.status == 200 and "Main" in page and 'href="/org/acme/servers/main"' in page.text
    assert "badge-live" in page.text and "New mail server" in page
    assert admin.get("/org/acme/servers/new").status == 200
    reply = admin.post("/org/acme/servers/new", {"name": "Bulk mail", "permalink": "bulk", "mode": "Development"})
    assert reply.status == 303 and reply.location == "/org/acme/servers/bulk"
    page = admin.get("/org/acme")
    assert "Bulk mail" in page and "badge-development" in page.text
    again = admin.post("/org/acme/servers/new", {"name": "Bulk mail", "permalink": "", "mode": "Live"})
    assert again.status == 422 and "has already been taken" in again and 'value="Bulk mail"' in again.text
    reserved = admin.post("/org/acme/servers/new", {"name": "Other", "permalink": "new", "mode": "Live"})
    assert reserved.status == 422 and "reserved" in reserved


def test_an_organization_admin_who_is_not_a_global_admin_creates_servers(site: Site) -> None:
    boss = site.browser(site.member("boss@example.com", "acme", admin=True))
    assert "New mail server" in boss.get("/org/acme")
    reply = boss.post("/org/acme/servers/new", {"name": "Boss's", "mode": "Live"})
    assert reply.status == 303 and reply.location == "/org/acme/servers/boss-s"


# -- settings -----------------------------------------------------------------------------------


def test_organization_admins_change_the_settings(site: Site) -> None:
    admin = site.browser("admin@example.com")
    page = admin.get("/org/acme/settings")
    assert page.status == 200 and 'value="ACME Inc"' in page.text
    reply = admin.post("/org/acme/settings", {"name": "ACME Corporation", "time_zone": "America/New_York"})
    assert reply.status == 303 and reply.location == "/org/acme/settings"
    page = admin.follow(reply)
    assert "have been saved" in page and 'value="ACME Corporation"' in page.text
    assert 'value="America/New_York" selected' in page.text
    blank = admin.post("/org/acme/settings", {"name": "  ", "time_zone": "UTC"})
    assert blank.status == 422 and "can't be blank" in blank


# -- who may see and change what ----------------------------------------------------------------


def test_a_member_of_another_organization_sees_nothing_of_acme(site: Site) -> None:
    admin = site.browser("admin@example.com")
    admin.post("/org/new", {"name": "Other", "permalink": "other", "time_zone": "UTC"})
    outsider = site.browser(site.member("out@example.com", "other", admin=True))
    paths = ["/org/acme", "/org/acme/settings", "/org/acme/users", "/org/acme/ip_rules", "/org/acme/ip_pools",
             "/org/acme/delete", "/org/acme/servers/new", "/org/acme/servers/main/ip_rules"]  # fmt: skip
    for path in paths:
        assert outsider.get(path).status == 404, path
    assert outsider.post("/org/acme/settings", {"name": "Mine", "time_zone": "UTC"}).status == 404
    assert outsider.post("/org/acme/delete", {"password": PASSWORD}).status == 404
    assert outsider.post("/org/acme/users", {"email": "out@example.com"}).status == 404
    assert outsider.post("/org/acme/servers/new", {"name": "Sneaky"}).status == 404
    assert "ACME Inc" in admin.get("/org/acme")


def test_a_plain_member_sees_the_servers_but_may_not_change_the_organization(site: Site) -> None:
    member = site.browser(site.member("dev@example.com", "acme"))
    page = member.get("/org/acme")
    assert page.status == 200 and "Main" in page and "New mail server" not in page
    assert 'href="/org/acme/ip_pools"' not in page.text
    settings = member.get("/org/acme/settings")
    assert settings.status == 200 and "Only administrators" in settings and "Save settings" not in settings
    assert member.post("/org/acme/settings", {"name": "Taken over", "time_zone": "UTC"}).status == 403
    assert member.get("/org/acme/delete").status == 403
    assert member.post("/org/acme/delete", {"password": PASSWORD}).status == 403
    assert member.get("/org/acme/servers/new").status == 403
    assert member.post("/org/acme/servers/new", {"name": "Mine", "mode": "Live"}).status == 403
    assert member.get("/org/acme/users").status == 403
    assert member.get("/org/acme/ip_pools").status == 403
    assert "ACME Inc" in member.get("/org/acme")


def test_a_member_given_some_servers_sees_only_those(site: Site) -> None:
    admin = site.browser("admin@example.com")
    admin.post("/org/acme/servers/new", {"name": "Bulk", "permalink": "bulk", "mode": "Live"})
    member = site.browser(site.member("dev@example.com", "acme", servers="bulk"))
    page = member.get("/org/acme")
    assert "Bulk" in page and 'href="/org/acme/servers/main"' not in page.text


# -- members ------------------------------------------------------------------------------------


def test_admins_add_change_and_remove_members(site: Site) -> None:
    admin = site.browser("admin@example.com")
    admin.post("/org/acme/servers/new", {"name": "Bulk", "permalink": "bulk", "mode": "Live"})
    site.user("dev@example.com", first_name="Dev")
    page = admin.get("/org/acme/users")
    assert page.status == 200 and "Add a member" in page and 'value="bulk"' in page.text

    reply = admin.post(
        "/org/acme/users", {"email": "DEV@example.com", "admin": "0", "access": "chosen", "servers": "bulk"}
    )
    assert reply.status == 303 and reply.location == "/org/acme/users"
    page = admin.follow(reply)
    assert "dev@example.com is now a member." in page and "bulk" in page
    dev = site.browser("dev@example.com")
    assert 'href="/org/acme/servers/main"' not in dev.get("/org/acme").text

    uuid = member_uuid(page.text, "dev@example.com")
    form = admin.get(f"/org/acme/users/{uuid}")
    assert form.status == 200 and 'value="bulk" checked' in form.text and 'value="chosen" checked' in form.text
    reply = admin.post(f"/org/acme/users/{uuid}", {"admin": "1", "access": "all"})
    assert reply.status == 303
    page = admin.follow(reply)
    assert "access has been changed" in page and "Administrator" in page
    assert 'href="/org/acme/servers/main"' in dev.get("/org/acme").text
    assert dev.get("/org/acme/users").status == 200  # an organization admin now

    reply = admin.post(f"/org/acme/users/{uuid}/delete")
    assert reply.status == 303
    assert "no longer a member" in admin.follow(reply)
    assert dev.get("/org/acme").status == 404
    assert admin.get(f"/org/acme/users/{uuid}").status == 404


def test_adding_someone_without_an_account_says_so(site: Site) -> None:
    admin = site.browser("admin@example.com")
    reply = admin.post("/org/acme/users", {"email": "ghost@example.com", "admin": "1", "access": "all"})
    assert reply.status == 422 and "no user with the e-mail address ghost@example.com" in reply
    assert 'value="ghost@example.com"' in reply.text and 'value="1" selected' in reply.text


def test_an_organization_admin_cannot_demote_themselves(site: Site) -> None:
    boss = site.browser(site.member("boss@example.com", "acme", admin=True))
    page = boss.get("/org/acme/users")
    uuid = member_uuid(page.text, "boss@example.com")
    reply = boss.post(f"/org/acme/users/{uuid}", {"admin": "0", "access": "all"})
    assert reply.status == 403 and "your own admin role" in reply and "Save access" in reply


# -- IP pools and rules -------------------------------------------------------------------------


def test_global_admins_give_and_take_ip_pools(site: Site) -> None:
    pool(site, "Transactional", "transactional")
    admin = site.browser("admin@example.com")
    page = admin.get("/org/acme/ip_pools")
    assert page.status == 200 and "No IP pools have been given" in page and "Transactional" in page
    option = re.search(r'<option value="([^"]+)">Transactional', page.text)
    assert option is not None
    uuid = option.group(1)
    reply = admin.post("/org/acme/ip_pools", {"ip_pool": uuid})
    assert reply.status == 303
    page = admin.follow(reply)
    assert "Transactional can now be used" in page and "Every IP pool is already given" in page
    reply = admin.post(f"/org/acme/ip_pools/{uuid}/delete")
    assert "no longer given" in admin.follow(reply)
    boss = site.browser(site.member("boss@example.com", "acme", admin=True))
    assert 'href="/org/acme/ip_pools"' not in boss.get("/org/acme").text
    assert boss.get("/org/acme/ip_pools").status == 403
    assert boss.post("/org/acme/ip_pools", {"ip_pool": uuid}).status == 403
    assert boss.post(f"/org/acme/ip_pools/{uuid}/delete").status == 403


def rule_uuid(page: str, base: str) -> str:
    found = re.search(re.escape(base) + r'/([0-9a-f-]{36})"', page)
    assert found, "no rule on the page"
    return found.group(1)


def test_organization_ip_rules_are_added_edited_and_deleted(site: Site) -> None:
    first = pool(site, "First", "first")
    second = pool(site, "Second", "second")
    admin = site.browser("admin@example.com")
    page = admin.get("/org/acme/ip_rules")
    assert page.status == 200 and "There are no IP rules" in page
    reply = admin.post("/org/acme/ip_rules", {"ip_pool": first, "from": "billing@acme.test\n\nexample.org", "to": ""})
    assert reply.status == 303 and reply.location == "/org/acme/ip_rules"
    page = admin.follow(reply)
    assert "has been added" in page and "billing@acme.test" in page and "First" in page
    uuid = rule_uuid(page.text, "/org/acme/ip_rules")

    form = admin.get(f"/org/acme/ip_rules/{uuid}")
    assert form.status == 200 and "billing@acme.test\nexample.org" in form.text
    assert f'value="{first}" selected' in form.text
    reply = admin.post(f"/org/acme/ip_rules/{uuid}", {"ip_pool": second, "from": "", "to": "gmail.com"})
    assert reply.status == 303
    page = admin.follow(reply)
    assert "has been saved" in page and "gmail.com" in page and "billing@acme.test" not in page
    assert "Second" in page

    empty = admin.post(f"/org/acme/ip_rules/{uuid}", {"ip_pool": second, "from": "", "to": ""})
    assert empty.status == 422 and "at least one condition" in empty
    none = admin.post("/org/acme/ip_rules", {"ip_pool": first, "from": " ", "to": ""})
    assert none.status == 422 and "at least one condition" in none

    reply = admin.post(f"/org/acme/ip_rules/{uuid}/delete")
    assert "has been deleted" in admin.follow(reply)
    assert admin.get(f"/org/acme/ip_rules/{uuid}").status == 404


def test_members_see_organization_rules_but_only_admins_change_them(site: Site) -> None:
    first = pool(site, "First", "first")
    admin = site.browser("admin@example.com")
    admin.post("/org/acme/ip_rules", {"ip_pool": first, "from": "example.com", "to": ""})
    uuid = rule_uuid(admin.get("/org/acme/ip_rules").text, "/org/acme/ip_rules")
    member = site.browser(site.member("dev@example.com", "acme"))
    page = member.get("/org/acme/ip_rules")
    assert page.status == 200 and "example.com" in page and "First" in page and "Add an IP rule" not in page
    assert member.post("/org/acme/ip_rules", {"ip_pool": first, "from": "x.com"}).status == 403
    assert member.post(f"/org/acme/ip_rules/{uuid}", {"ip_pool": first, "from": "x.com"}).status == 403
    assert member.post(f"/org/acme/ip_rules/{uuid}/delete").status == 403
    # An organization admin picks among the organization's pools (the rule gave it "First").
    boss = site.browser(site.member("boss@example.com", "acme", admin=True))
    page = boss.get("/org/acme/ip_rules")
    assert "Add an IP rule" in page and f'value="{first}"' in page.text


def test_server_ip_rules(site: Site) -> None:
    first = pool(site, "First", "first")
    admin = site.browser("admin@example.com")
    base = "/org/acme/servers/main/ip_rules"
    page = admin.get(base)
    assert page.status == 200 and "There are no IP rules for this server" in page
    assert 'href="/org/acme/servers/main/settings" class="active"' in page.text
    reply = admin.post(base, {"ip_pool": first, "from": "", "to": "yahoo.com"})
    assert reply.status == 303 and reply.location == base
    page = admin.follow(reply)
    assert "yahoo.com" in page
    uuid = rule_uuid(page.text, base)
    assert "yahoo.com" not in admin.get("/org/acme/ip_rules")
    assert admin.post(f"{base}/{uuid}", {"ip_pool": first, "from": "a@example.com", "to": ""}).status == 303
    assert "a@example.com" in admin.get(base)
    # Members with access to the server change its rules, from the organization's pools.
    member = site.browser(site.member("dev@example.com", "acme"))
    reply = member.post(base, {"ip_pool": first, "from": "b@example.com", "to": ""})
    assert reply.status == 303 and "b@example.com" in member.follow(reply)
    assert member.post(f"{base}/{uuid}/delete").status == 303
    assert "a@example.com" not in member.get(base)
    stranger = site.browser(site.member("other@example.com", "acme", servers=""))
    assert stranger.get(base).status == 404


# -- deleting -----------------------------------------------------------------------------------


def test_deleting_an_organization_needs_the_password(site: Site) -> None:
    admin = site.browser("admin@example.com")
    page = admin.get("/org/acme/delete")
    assert page.status == 200 and "Main" in page and "enter your own password" in page
    wrong = admin.post("/org/acme/delete", {"password": "not it"})
    assert wrong.status == 422 and "not correct" in wrong
    assert admin.post("/org/acme/delete", {"password": ""}).status == 422
    assert admin.get("/org/acme").status == 200
    reply = admin.post("/org/acme/delete", {"password": PASSWORD})
    assert reply.status == 303 and reply.location == "/"
    home = admin.follow(reply)
    assert "ACME Inc has been deleted." in home
    assert admin.get("/org/acme").status == 404


def test_an_organization_admin_deletes_their_organization(site: Site) -> None:
    boss: Browser = site.browser(site.member("boss@example.com", "acme", admin=True))
    assert boss.post("/org/acme/delete", {"password": PASSWORD}).status == 303
    assert boss.get("/org/acme").status == 404
