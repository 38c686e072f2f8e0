"""`/organizations/{org}/servers/{server}/statistics`: a server's message counts per hour and per
day; `…/usage`: its storage, message rate, held messages and bounce rate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core import presenters
from core.errors import ValidationError
from core.messages.stats import PERIOD_SECONDS, period_start, series
from core.messages.usage import server_usage
from web.api_v2.call import Call
from web.api_v2.messages import message_db
from web.api_v2.operations import Operations, Param
from web.api_v2.schema import array, enum, integer, number, obj, ref, string

ops = Operations("statistics")
BASE = "/organizations/{org}/servers/{server}/statistics"
# Points answered when no range is given, as Postal's graphs (the last 24 hours, 30 days)…
DEFAULT_POINTS = {"hourly": 24, "daily": 30}
# …and at most (a month of hours, a year of days).
MAX_POINTS = {"hourly": 31 * 24, "daily": 366}
COUNT = integer(minimum=0)
SCHEMAS = {
    "Statistics": obj(
        {
            "period": enum(*PERIOD_SECONDS),
            "from": string(),
            "to": string(),
            "data": array(
                obj(
                    {
                        "time": string(),
                        "incoming": COUNT,
                        "outgoing": COUNT,
                        "bounces": COUNT,
                        "held": COUNT,
                        "loads": COUNT,
                        "clicks": COUNT,
                        "complaints": {**COUNT, "description": "Feedback reports received (beyond Postal)."},
                    },
                    required=("time", "incoming", "outgoing", "bounces", "held", "loads", "clicks", "complaints"),
                )
            ),
        },
        required=("period", "from", "to", "data"),
    ),
    "Usage": obj(
        {
            "storage_used": COUNT,
            "messages_per_minute": number(minimum=0),
            "held_messages": COUNT,
            "outgoing_30_days": COUNT,
            "bounces_30_days": COUNT,
            "bounce_rate": number(minimum=0),
        },
        required=(
            "storage_used",
            "messages_per_minute",
            "held_messages",
            "outgoing_30_days",
            "bounces_30_days",
            "bounce_rate",
        ),
    ),
}
RANGE = (
    Param("from", string(max_length=40), "The first period: a date or an ISO 8601 date-time (UTC unless it says)."),
    Param("to", string(max_length=40), "The last period (default: the current one)."),
)


def _moment(call: Call, name: str) -> float | None:
    text = call.query.get(name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            name, f"must be a date or an ISO 8601 date-time, e.g. 2024-01-31T13:00Z, not {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, ValueError):
        raise ValidationError(name, "is out of range") from None


def _series(call: Call, period: str) -> dict[str, Any]:
    server = call.server()
    size = PERIOD_SECONDS[period]
    now = call.runtime.clock().replace(tzinfo=UTC).timestamp()
    to = _moment(call, "to")
    from_ = _moment(call, "from")
    last = period_start(to if to is not None else now, period)
    first = period_start(from_, period) if from_ is not None else last - (DEFAULT_POINTS[period] - 1) * size
    if first > last:
        raise ValidationError("from", "must not be after to")
    if (last - first) // size + 1 > MAX_POINTS[period]:
        raise ValidationError("from", f"is too far from to: at most {MAX_POINTS[period]} {period} periods at a time")
    with message_db(call, server) as conn:
        points = series(conn, period, first, last)
    return {
        "period": period,
        "from": presenters.epoch_iso(first),
        "to": presenters.epoch_iso(last),
        "data": [{**p, "time": presenters.epoch_iso(p["time"])} for p in points],
    }


@ops.get(BASE + "/hourly", "Message counts per hour", response=ref("Statistics"), query=RANGE)
def hourly(call: Call) -> dict[str, Any]:
    """Incoming, outgoing, bounced and held messages of each UTC hour, oldest first: the last
    24 hours, or `from`…`to` (at most 744 hours)."""
    return _series(call, "hourly")


@ops.get(BASE + "/daily", "Message counts per day", response=ref("Statistics"), query=RANGE)
def daily(call: Call) -> dict[str, Any]:
    """Incoming, outgoing, bounced and held messages of each UTC day, oldest first: the last
    30 days, or `from`…`to` (at most 366 days)."""
    return _series(call, "daily")


@ops.get("/organizations/{org}/servers/{server}/usage", "A server's storage, message rate and bounce rate",
         response=ref("Usage"), operation_id="server_usage")  # fmt: skip
def usage(call: Call) -> dict[str, Any]:
    """`storage_used`: bytes of the server's message database; `messages_per_minute`: incoming and
    outgoing messages of the last hour, per minute; `held_messages`: messages held now;
    `bounce_rate`: bounced and hard-failed messages as a percentage of outgoing ones over the last
    30 days (UTC days, today included)."""
    server = call.server()
    now = call.runtime.clock().replace(tzinfo=UTC).timestamp()
    database = call.runtime.message_dbs.get(server.id).name
    with message_db(call, server) as conn:
        figures = server_usage(conn, database, now)
    return {
        "storage_used": figures.storage_used,
        "messages_per_minute": figures.messages_per_minute,
        "held_messages": figures.held_messages,
        "outgoing_30_days": figures.outgoing_30_days,
        "bounces_30_days": figures.bounces_30_days,
        "bounce_rate": figures.bounce_rate,
    }
