"""What `bench.backlog` sampled over time, the table it prints and its verdict on memory."""

from __future__ import annotations

from dataclasses import dataclass, field

MIB = 1024 * 1024
SERVICE_LABELS = ("mariadb", "rabbitmq")


@dataclass(frozen=True)
class Point:
    """One sample: seconds since the roles were up, messages at the sink, rows still queued (None
    when the count failed) and how long counting them took, RSS bytes per label, and on the rows
    of the table also the queued rows the requeuer has not published yet."""

    at: float
    delivered: int
    queued: int | None
    count_seconds: float
    rss: dict[str, int]
    unpublished: int | None = None


@dataclass(frozen=True)
class Limits:
    """A role fails when its RSS after warm-up rises above its RSS at the end of the warm-up by
    more than `percent` % of it or `mib` MiB, whichever is larger."""

    warmup: float
    mib: float
    percent: float

    def allowed(self, start: int) -> float:
        return max(self.mib * MIB, start * self.percent / 100)


@dataclass(frozen=True)
class Summary:
    label: str
    first: int
    start: int
    peak: int
    end: int
    delivered: int  # delivered between the start and the end sample
    allowed: float

    @property
    def growth(self) -> int:
        return self.end - self.start

    @property
    def peak_growth(self) -> int:
        return self.peak - self.start

    @property
    def per_10k(self) -> float | None:
        return self.growth / self.delivered * 10_000 if self.delivered > 0 else None

    @property
    def ok(self) -> bool:
        return self.peak_growth <= self.allowed


@dataclass
class Timeline:
    roles: list[str]
    limits: Limits
    points: list[Point] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        """The roles, the services (0 when not found on this machine) and the benchmark itself."""
        return [*self.roles, *SERVICE_LABELS, "bench"]

    def header(self) -> str:
        columns = "".join(f"{label:>13}" for label in self.labels)
        return f"{'t s':>6} {'delivered':>10} {'queued':>9} {'unpublished':>11} {'count ms':>9}{columns}   (RSS MiB)"

    def row(self, point: Point) -> str:
        queued = "?" if point.queued is None else str(point.queued)
        unpublished = "-" if point.unpublished is None else str(point.unpublished)
        columns = "".join(f"{point.rss.get(label, 0) / MIB:>13.1f}" for label in self.labels)
        counted = f"{point.count_seconds * 1000:>9.0f}"
        return f"{point.at:>6.0f} {point.delivered:>10} {queued:>9} {unpublished:>11} {counted}{columns}"

    def table(self, every: float) -> list[str]:
        """The header and a row about every `every` seconds, with the first and the last."""
        rows, next_at = [], 0.0
        for index, point in enumerate(self.points):
            if point.at >= next_at or index == len(self.points) - 1:
                rows.append(self.row(point))
                next_at = (point.at // every + 1) * every
        return [self.header(), *rows]

    def summaries(self) -> list[Summary]:
        after = [p for p in self.points if p.at >= self.limits.warmup]
        if not after:
            return []
        first, start, end = self.points[0], after[0], after[-1]
        return [
            Summary(
                label=label,
                first=first.rss.get(label, 0),
                start=start.rss.get(label, 0),
                peak=max(p.rss.get(label, 0) for p in after),
                end=end.rss.get(label, 0),
                delivered=end.delivered - start.delivered,
                allowed=self.limits.allowed(start.rss.get(label, 0)),
            )
            for label in self.labels
        ]

    def summary_lines(self) -> list[str]:
        found = self.summaries()
        if not found:
            return ["no sample after the warm-up"]
        after = [p for p in self.points if p.at >= self.limits.warmup]
        lines = [
            f"RSS MiB per role (start = at {after[0].at:.0f} s, after the warm-up; end = at {after[-1].at:.0f} s; "
            f"{found[0].delivered} delivered in between):",
            f"  {'':<12}{'first':>8}{'start':>8}{'max':>8}{'end':>8}{'growth':>8}{'per 10k':>9}{'limit':>8}",
        ]
        for item in found:
            per_10k = "-" if item.per_10k is None else f"{item.per_10k / MIB:+.1f}"
            judged = item.label in self.roles
            verdict = ("ok" if item.ok else "GREW") if judged else "(not judged)"
            limit = f"{item.allowed / MIB:.0f}" if judged else "-"
            lines.append(
                f"  {item.label:<12}{item.first / MIB:>8.1f}{item.start / MIB:>8.1f}{item.peak / MIB:>8.1f}"
                f"{item.end / MIB:>8.1f}{item.growth / MIB:>+8.1f}{per_10k:>9}{limit:>8}  {verdict}"
            )
        return lines

    def roles_ok(self) -> bool:
        found = [s for s in self.summaries() if s.label in self.roles]
        return bool(found) and all(s.ok for s in found)

    def drain_rate(self) -> float | None:
        """Messages delivered per second after the warm-up."""
        after = [p for p in self.points if p.at >= self.limits.warmup]
        if len(after) < 2 or after[-1].at <= after[0].at:
            return None
        return (after[-1].delivered - after[0].delivered) / (after[-1].at - after[0].at)
