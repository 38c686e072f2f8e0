"""Server statistics count opens and clicks in the period they happened."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert

from core.messages.stats import series
from models.base import table
from models.message.link import Click, Load
from tests.conftest import Installation

T0 = int(datetime(2026, 12, 1, 10, 0, tzinfo=UTC).timestamp())


def test_opens_and_clicks_are_counted_by_when_they_happened(installation: Installation) -> None:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    with mdb.engine.begin() as conn:
        opens = [(1, T0 + 5), (2, T0 + 3599), (1, T0 + 3600)]
        conn.execute(insert(table(Load)), [{"message_id": m, "timestamp": t} for m, t in opens])
        conn.execute(insert(table(Click)), [{"message_id": 1, "link_id": 1, "timestamp": T0 + 7200 + 30}])
    with mdb.engine.connect() as conn:
        rows = series(conn, "hourly", T0, T0 + 3 * 3600)
    assert [(r["loads"], r["clicks"]) for r in rows] == [(2, 0), (1, 0), (0, 1), (0, 0)]
    with mdb.engine.connect() as conn:
        [day] = series(conn, "daily", T0 - 10 * 3600, T0 - 10 * 3600)
    assert (day["loads"], day["clicks"]) == (3, 1)
