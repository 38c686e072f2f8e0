"""Track domains: Postal's rules for adding one, its settings, and the CNAME check against a real DNS server."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from core.dns import make_resolver
from core.errors import NotFound, ValidationError
from core.tenancy.dns_checks import domain_lookup
from core.tenancy.domains import add_domain
from core.tenancy.organizations import create_organization, find_organization
from core.tenancy.servers import create_server
from core.tenancy.track_domains import (
    add_track_domain,
    check_track_domain,
    delete_track_domain,
    domain_of,
    excluded_click_domains,
    find_track_domain,
    full_name,
    track_domains_of,
    update_track_domain,
)
from models.enums import DNSStatus
from models.server import Server
from tests.conftest import Installation


def main_server(session: Session, installation: Installation) -> Server:
    server = session.get(Server, installation.server_id)
    assert server is not None
    return server


def test_a_track_domain_is_a_subdomain_of_a_verified_domain(installation: Installation) -> None:
    runtime = installation.runtime
    with runtime.db.transaction() as session:
        server = main_server(session, installation)

        # When a track domain is added under the server's verified domain
        track = add_track_domain(session, server, " Track.Example.COM. ", excluded_click_domains=["Unsub.Example.com"])

        # Then Postal's layout is stored: the first label and the domain, with tracking on
        domain = domain_of(session, track)
        assert (track.name, domain.name, full_name(track, domain)) == ("track", "example.com", "track.example.com")
        assert (track.ssl_enabled, track.track_clicks, track.track_loads, track.dns_status) == (True, True, True, None)
        assert excluded_click_domains(track) == ["unsub.example.com"]
        assert find_track_domain(session, server, track.uuid) is track
        assert list(session.scalars(track_domains_of(server))) == [track]


def test_an_organization_domain_serves_too(installation: Installation) -> None:
    runtime = installation.runtime
    with runtime.db.transaction() as session:
        server = main_server(session, installation)
        org = find_organization(session, "acme")
        add_domain(session, runtime.config, org, "acme.example", verified=True)
        track = add_track_domain(session, server, "click.acme.example", ssl_enabled=False)
        assert (domain_of(session, track).owner_type.value, track.ssl_enabled) == ("Organization", False)


@pytest.mark.parametrize(
    "name",
    [
        "example.com",  # the domain itself: `example` under `com`
        "track.unknown.example",  # no such domain
        "track.pending.example",  # not verified
        "track.other.example",  # another organization's
        "deep.track.example.com",  # two labels above the domain
        "not a name",
        "-bad.example.com",
    ],
)
def test_other_names_are_refused(installation: Installation, name: str) -> None:
    runtime = installation.runtime
    with runtime.db.transaction() as session:
        server = main_server(session, installation)
        add_domain(session, runtime.config, server, "pending.example")
        other = create_organization(session, "Other", "other")
        add_domain(session, runtime.config, other, "other.example", verified=True)
        with pytest.raises(ValidationError) as refused:
            add_track_domain(session, server, name)
        assert refused.value.field == "name"


def test_one_track_domain_per_domain_of_a_server(installation: Installation) -> None:
    runtime = installation.runtime
    with runtime.db.transaction() as session:
        server = main_server(session, installation)
        add_track_domain(session, server, "track.example.com")
        with pytest.raises(ValidationError, match="already has a track domain"):
            add_track_domain(session, server, "links.example.com")
        # Another server of the organization may have its own.
        org = find_organization(session, "acme")
        bulk = create_server(session, runtime.config, runtime.message_dbs, org, "Bulk", "bulk")
        add_domain(session, runtime.config, bulk, "example.com", verified=True)
        assert add_track_domain(session, bulk, "links.example.com").name == "links"


def test_settings_change_and_deletion(installation: Installation) -> None:
    runtime = installation.runtime
    with runtime.db.transaction() as session:
        server = main_server(session, installation)
        track = add_track_domain(session, server, "track.example.com", excluded_click_domains=["a.example"])

        update_track_domain(track, track_clicks=False)
        assert (track.track_clicks, track.track_loads, excluded_click_domains(track)) == (False, True, ["a.example"])
        update_track_domain(track, excluded_click_domains=["B.example", "b.example", "c.example"], ssl_enabled=False)
        assert (excluded_click_domains(track), track.ssl_enabled) == (["b.example", "c.example"], False)
        update_track_domain(track, excluded_click_domains=[])
        assert track.excluded_click_domains is None
        with pytest.raises(ValidationError) as refused:
            update_track_domain(track, excluded_click_domains=["not a host"])
        assert refused.value.field == "excluded_click_domains"

        delete_track_domain(session, track)
        with pytest.raises(NotFound):
            find_track_domain(session, server, track.uuid)


def test_the_dns_check_wants_a_cname_to_the_configured_track_domain(installation: Installation, zone: Any) -> None:
    runtime = installation.runtime
    config = runtime.config
    expected = config.dns.track_domain

    def check(session: Session, track: Any) -> tuple[bool, DNSStatus | None, str | None]:
        domain = domain_of(session, track)
        lookup = domain_lookup(config, make_resolver(config), full_name(track, domain))
        ok = check_track_domain(config, lookup, track, domain)
        return ok, track.dns_status, track.dns_error

    with runtime.db.transaction() as session:
        track = add_track_domain(session, main_server(session, installation), "track.example.com")

        assert check(session, track) == (False, DNSStatus.MISSING, "There is no CNAME record at track.example.com")
        assert track.dns_checked_at is not None

        zone.set("track.example.com", "CNAME", "track.elsewhere.example.")
        assert check(session, track) == (
            False,
            DNSStatus.INVALID,
            "There is a CNAME record at track.example.com but it points to track.elsewhere.example which is "
            f"incorrect. It should point to {expected}.",
        )

        zone.set("track.example.com", "CNAME", f"{expected.upper()}.")
        assert check(session, track) == (True, DNSStatus.OK, None)
