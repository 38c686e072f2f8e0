"""The suppression list page over HTTP: listing, adding and removing entries, importing a CSV
file upload and exporting one; and nothing of another tenant's."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.ui import Site

LIST = "/org/acme/servers/main/suppressions"


@pytest.fixture
def admin(site: Site) -> Any:
    return site.browser("admin@example.com")


def test_entries_are_added_listed_and_removed(admin: Any) -> None:
    empty = admin.get(LIST)
    assert empty.status == 200 and "No recipients are suppressed." in empty and 'class="subtabs"' in empty.text

    added = admin.post(LIST, {"address": "bob@example.net", "reason": "complained", "days": "10"})
    assert added.status == 303 and added.location == LIST
    page = admin.follow(added)
    assert "bob@example.net is on the suppression list now." in page and "complained" in page
    default = admin.follow(admin.post(LIST, {"address": "carol@example.net", "reason": "", "days": ""}))
    assert "carol@example.net" in default and "added manually" in default

    bad = admin.post(LIST, {"address": "not an address", "reason": "x"})
    assert bad.status == 422 and 'value="not an address"' in bad.text and "form-errors" in bad.text
    days = admin.post(LIST, {"address": "dan@example.net", "days": "soon"})
    assert days.status == 422 and "Days must be a number." in days

    entry_id = re.findall(rf"{LIST}/(\d+)/remove", page.text)[0]
    removed = admin.post(f"{LIST}/{entry_id}/remove")
    assert removed.status == 303
    after = admin.follow(removed)
    assert "bob@example.net was removed from the suppression list." in after
    assert after.text.count("bob@example.net") == 1  # only in the notice
    assert admin.post(f"{LIST}/{entry_id}/remove").status == 404
    assert admin.post(f"{LIST}/abc/remove").status == 404


def test_a_csv_file_is_imported_and_the_list_exported(admin: Any) -> None:
    admin.post(LIST, {"address": "bob@example.net", "reason": "complained, twice"})
    exported = admin.get(f"{LIST}/export")
    assert exported.status == 200 and exported.headers["Content-Type"].startswith("text/csv")
    assert "suppressions-main.csv" in exported.headers["Content-Disposition"]
    assert exported.text.splitlines()[0] == "address,type,reason,timestamp,keep_until"

    csv = "\ufeffaddress,reason\ndave@example.net,unsubscribed\nerin@example.net,\n".encode()
    imported = admin.post(f"{LIST}/import", {"reason": "from the old system"},
                          files={"file": ("list.csv", csv, "text/csv")})  # fmt: skip
    assert imported.status == 303 and imported.location == LIST
    page = admin.follow(imported)
    assert "Imported 2 entries." in page and "dave@example.net" in page and "unsubscribed" in page
    assert "from the old system" in page  # erin's, who had no reason of her own

    old = b"address,keep_until\nold@example.net,2001-01-01T00:00:00Z\n"
    skipped = admin.post(f"{LIST}/import", {}, files={"file": ("old.csv", old, "text/csv")})
    assert "Imported 0 entries; 1 already expired and skipped." in admin.follow(skipped)

    bad = admin.post(f"{LIST}/import", {}, files={"file": ("bad.csv", b"address\nnot-an-address\n", "text/csv")})
    assert bad.status == 422 and "line 2" in bad
    binary = admin.post(f"{LIST}/import", {}, files={"file": ("x.csv", b"\xff\xfe\x00bad", "text/csv")})
    assert binary.status == 422 and "not UTF-8 text" in binary
    missing = admin.post(f"{LIST}/import", {}, files={"file": ("empty.csv", b"", "text/csv")})
    assert missing.status == 422 and "Choose a CSV file" in missing
    assert (
        admin.post(f"{LIST}/import", {}, csrf=False, files={"file": ("a.csv", b"address\n", "text/csv")}).status == 403
    )


def test_the_list_pages(admin: Any, site: Site) -> None:
    for n in range(32):
        admin.post(LIST, {"address": f"r{n:02d}@example.net"})
    first = admin.get(LIST)
    assert "r00@example.net" in first and "r29@example.net" in first and "r30@example.net" not in first
    cursor = first.text.split("cursor=", 1)[1].split('"', 1)[0]
    assert "r31@example.net" in admin.get(f"{LIST}?cursor={cursor}")


def test_another_tenant_sees_nothing(site: Site, admin: Any) -> None:
    from core.tenancy.organizations import create_organization

    admin.post(LIST, {"address": "bob@example.net"})
    with site.runtime.db.transaction() as session:
        create_organization(session, "Globex", "globex")
    outsider = site.browser(site.member("eve@example.com", "globex", admin=True))
    member = site.browser(site.member("ann@example.com", "acme", servers="main"))
    for path in (LIST, f"{LIST}/export"):
        assert outsider.get(path).status == 404, path
        assert member.get(path).status == 200, path
    assert outsider.post(LIST, {"address": "x@example.net"}).status == 404
    assert (
        outsider.post(f"{LIST}/import", {}, files={"file": ("a.csv", b"address\nx@example.net\n", "text/csv")}).status
        == 404
    )
    assert outsider.post(f"{LIST}/1/remove").status == 404
    assert "bob@example.net" in member.get(LIST) and "x@example.net" not in member.get(LIST)
