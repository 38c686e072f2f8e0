"""Hourly and daily message counts over the management API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.enums import ServerMode
from tests.conftest import Installation
from tests.support.api_v2 import LiveAPI, live_api
from tests.support.incoming import receive, route
from tests.support.outgoing import change_server, run_queue, send
from tests.support.smtp_sink import SMTPSink

STATISTICS = "/organizations/acme/servers/main/statistics"
COUNTERS = ("incoming", "outgoing", "bounces", "held")


@pytest.fixture
def api(installation: Installation) -> Iterator[LiveAPI]:
    with live_api(installation.runtime) as live:
        yield live


@pytest.fixture
def some_mail(installation: Installation, smtp_sink: SMTPSink) -> None:
    """Four outgoing messages (one sent, one hard-failed, two held) and one incoming."""
    smtp_sink.handler.rcpt_replies["b@example.net"] = "550 5.1.1 unknown user"
    send(installation, "a@example.net", "b@example.net")
    run_queue(installation)
    change_server(installation, mode=ServerMode.DEVELOPMENT)
    send(installation, "c@example.net", "d@example.net")
    run_queue(installation)
    change_server(installation, mode=ServerMode.LIVE)
    route(installation, "support@example.com", mode="Accept")
    receive(installation, "support@example.com")


def totals(body: dict[str, Any]) -> dict[str, int]:
    return {name: sum(point[name] for point in body["data"]) for name in COUNTERS}


def hour(moment: datetime) -> str:
    return moment.replace(minute=0, second=0, microsecond=0).isoformat()


def test_hourly_and_daily_counts(api: LiveAPI, some_mail: None) -> None:
    now = datetime.now(UTC)
    hourly = api.admin.get(f"{STATISTICS}/hourly").body
    assert hourly["period"] == "hourly" and len(hourly["data"]) == 24
    assert totals(hourly) == {"incoming": 1, "outgoing": 4, "bounces": 1, "held": 2}
    times = [p["time"] for p in hourly["data"]]
    assert times == sorted(times) and times[-1] == hourly["to"] and hourly["from"] == times[0]
    assert hourly["to"] in (hour(now), hour(now - timedelta(hours=1)))  # an hour may have begun since

    daily = api.admin.get(f"{STATISTICS}/daily").body
    assert daily["period"] == "daily" and len(daily["data"]) == 30
    assert totals(daily) == {"incoming": 1, "outgoing": 4, "bounces": 1, "held": 2}
    assert daily["data"][-1]["time"].endswith("T00:00:00+00:00")

    # An explicit range: these hours of last year saw no mail, every hour is there.
    last_year = now - timedelta(days=365)
    ranged = api.admin.get(f"{STATISTICS}/hourly?from={last_year:%Y-%m-%d}&to={last_year:%Y-%m-%d}T05:30Z").body
    assert [p["time"][11:16] for p in ranged["data"]] == ["00:00", "01:00", "02:00", "03:00", "04:00", "05:00"]
    assert totals(ranged) == dict.fromkeys(COUNTERS, 0)
    today = api.admin.get(f"{STATISTICS}/daily?from={now:%Y-%m-%d}&to={now + timedelta(days=1):%Y-%m-%d}").body
    assert len(today["data"]) == 2 and totals(today)["outgoing"] == 4


def test_bad_ranges_are_refused(api: LiveAPI) -> None:
    for query, field in [
        ("from=yesterday", "from"),
        ("to=2024-02-30", "to"),
        ("from=2024-03-01&to=2024-02-01", "from"),
        ("from=2020-01-01&to=2024-01-01", "from"),
    ]:
        reply = api.admin.get(f"{STATISTICS}/daily?{query}")
        assert (reply.status, reply.code) == (422, "validation_failed"), query
        assert reply.body["error"]["details"][0]["field"] == field
    assert api.admin.get(f"{STATISTICS}/hourly?from=2024-01-01&to=2024-03-01").status == 422
    assert api.admin.get(f"{STATISTICS}/daily?from=2024-01-01&to=2024-12-31").status == 200
    # The ends of the calendar are answered, not crashed on.
    for day in ("0001-01-01", "9999-12-31T23:00Z"):
        assert api.admin.get(f"{STATISTICS}/hourly?from={day}&to={day}").status == 200, day


def test_another_tenants_statistics_do_not_exist(api: LiveAPI) -> None:
    api.admin.post("/organizations", {"name": "Globex", "permalink": "globex"})
    outsider = api.member("eve@example.com", "globex", admin=True)
    member = api.member("ann@example.com", "acme", servers="main")
    for period in ("hourly", "daily"):
        assert outsider.get(f"{STATISTICS}/{period}").status == 404
        assert member.get(f"{STATISTICS}/{period}").status == 200


def test_usage_of_a_server(api: LiveAPI, some_mail: None) -> None:
    usage = api.admin.get("/organizations/acme/servers/main/usage")
    assert usage.status == 200
    body = usage.body
    assert (body["outgoing_30_days"], body["bounces_30_days"], body["bounce_rate"]) == (4, 1, 25.0)
    assert body["held_messages"] == 2 and body["storage_used"] > 0
    assert body["messages_per_minute"] > 0
    stranger = api.member("stranger@example.com", "acme", servers="")
    assert stranger.get("/organizations/acme/servers/main/usage").status == 404


def test_usage_of_an_idle_server(api: LiveAPI) -> None:
    body = api.admin.get("/organizations/acme/servers/main/usage").body
    assert (body["held_messages"], body["bounce_rate"], body["messages_per_minute"]) == (0, 0.0, 0.0)
