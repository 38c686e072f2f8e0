"""What a run measured, and the report it prints."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field

from bench import cpu
from bench.driver import Driver
from bench.options import Options
from bench.sink import TimingHandler


@dataclass(frozen=True)
class Result:
    sent: int
    accepted: int
    refused: int
    failed: int
    delivered: int
    duplicates: int
    accept_seconds: float
    deliver_seconds: float | None
    delivered_during_submission: int
    latencies_ms: list[float]
    errors: dict[str, int]
    # Each delivered message's latency in the order the messages were accepted.
    latencies_in_order_ms: list[float] = field(default_factory=list)

    @property
    def accepted_per_second(self) -> float:
        return self.accepted / self.accept_seconds if self.accept_seconds > 0 else 0.0

    @property
    def delivered_per_second(self) -> float:
        if not self.deliver_seconds:
            return 0.0
        return self.delivered / self.deliver_seconds

    def percentile(self, q: int) -> float | None:
        if not self.latencies_ms:
            return None
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]


def measure(driver: Driver, received_at: dict[int, float], duplicates: int) -> Result:
    sent = driver.sent
    accepted = [s for s in sent if s.accepted is not None and s.error is None]
    first_mail = min(s.started for s in sent)
    last_accept = max((s.accepted for s in accepted if s.accepted is not None), default=first_mail)
    arrivals = [received_at[s.number] for s in accepted if s.number in received_at]
    latencies = sorted(
        (received_at[s.number] - s.accepted) * 1000
        for s in accepted
        if s.number in received_at and s.accepted is not None
    )
    in_order = [
        (received_at[s.number] - s.accepted) * 1000
        for s in sorted(accepted, key=lambda s: s.accepted or 0.0)
        if s.number in received_at and s.accepted is not None
    ]
    errors: dict[str, int] = {}
    for s in sent:
        if s.error is not None:
            errors[s.error] = errors.get(s.error, 0) + 1
    return Result(
        sent=len(sent),
        accepted=len(accepted),
        refused=sum(1 for s in sent if s.error is not None and s.refused),
        failed=sum(1 for s in sent if s.error is not None and not s.refused),
        delivered=len(arrivals),
        duplicates=duplicates,
        accept_seconds=last_accept - first_mail,
        deliver_seconds=(max(arrivals) - first_mail) if arrivals else None,
        delivered_during_submission=sum(1 for t in arrivals if t <= last_accept),
        latencies_ms=latencies,
        errors=errors,
        latencies_in_order_ms=in_order,
    )


def tenths_p99(result: Result) -> list[str]:
    """The p99 latency of each tenth of the accepted messages (warm-up shows in the first)."""
    values = result.latencies_in_order_ms
    if len(values) < 10:
        return []
    size = len(values) / 10
    parts = [sorted(values[int(i * size) : int((i + 1) * size)]) for i in range(10)]
    return [f"{part[min(len(part) - 1, int(len(part) * 0.99))]:.0f}" for part in parts if part]


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def report(options: Options, result: Result, label: str | None = None) -> str:
    """Print the figures; returns the one-line summary. It names the platform's backend and
    settings, or starts with `label` for another system (Postfix)."""
    p50, p99 = result.percentile(50), result.percentile(99)
    print()
    print(f"sent:       {result.sent} messages by {options.clients} clients")
    print(f"accepted:   {result.accepted} in {result.accept_seconds:.2f} s ({result.accepted_per_second:.1f}/s)")
    print(f"refused:    {result.refused} (an SMTP error reply)")
    print(f"failed:     {result.failed} (connection errors)")
    for error, count in sorted(result.errors.items(), key=lambda e: -e[1])[:10]:
        print(f"            {count} × {error}")
    if result.deliver_seconds is not None:
        print(
            f"delivered:  {result.delivered} of {result.accepted} in {result.deliver_seconds:.2f} s "
            f"({result.delivered_per_second:.1f}/s); {result.delivered_during_submission} while submitting"
        )
    else:
        print(f"delivered:  0 of {result.accepted}")
    if result.duplicates:
        print(f"duplicates: {result.duplicates} messages reached the sink more than once")
    if result.latencies_ms:
        print(
            f"latency:    p50 {_ms(p50)} ms, p99 {_ms(p99)} ms, max {result.latencies_ms[-1]:.0f} ms "
            "(accepted → at the sink)"
        )
        print(f"            p99 by tenth of the run, in the order accepted: {' '.join(tenths_p99(result))} ms")
    summary = f"{label} " if label else f"backend={options.backend} "
    summary += (
        f"direction={options.direction} via={options.via} "
        f"messages={options.messages} clients={options.clients} "
        f"per-connection={options.per_connection} size={options.size} "
    )
    if options.rate > 0:
        summary += f"rate={options.rate:g} "
    if label is None and options.backend == "mariadb":
        summary += f"worker-processes={options.worker_processes} "
    if label is None:
        summary += f"worker-threads={options.worker_threads} "
    summary += (
        f"accepted/s={result.accepted_per_second:.1f} delivered/s={result.delivered_per_second:.1f} "
        f"p50={_ms(p50)}ms p99={_ms(p99)}ms"
    )
    if result.refused:
        summary += f" refused={result.refused}"
    if result.failed:
        summary += f" failed={result.failed}"
    if result.delivered < result.accepted:
        summary += f" delivered={result.delivered}/{result.accepted}"
    if result.duplicates:
        summary += f" duplicates={result.duplicates}"
    return summary


def report_cpu(before: cpu.Sample, after: cpu.Sample, messages: int) -> float | None:
    """Print the CPU time each process used per delivered message; the machine's busy percentage."""
    used, busy, total = cpu.usage(before, after)
    if total <= 0:
        return None
    known = sum(used.values())
    parts = [
        f"{label} {seconds * 1000 / messages:.1f}"
        for label, seconds in used.items()
        if label not in cpu.SERVICES.values() or seconds * 1000 / messages >= 0.05
    ]
    parts.append(f"everything else {max(0.0, busy - known) * 1000 / messages:.1f}")
    print(f"cpu:        ms per message: {', '.join(parts)}")
    percent = 100 * busy / total
    cores = os.cpu_count() or 1
    print(f"            the machine was {percent:.0f}% busy ({cores} cores) from first MAIL to last arrival")
    return percent


@dataclass(frozen=True)
class Measured:
    """One system's run: its figures, its summary line, and whether every message got through."""

    result: Result
    summary: str
    ok: bool


def send_and_measure(
    options: Options, driver: Driver, handler: TimingHandler, trees: dict[str, int], label: str | None = None
) -> Measured:
    """Send every message, wait for the sink, print the figures and the CPU per message of `trees`."""
    cpu_before = cpu.sample(trees)
    driver.run()
    accepted_ids = {s.number for s in driver.sent if s.accepted is not None and s.error is None}
    print(f"submission done: {len(accepted_ids)} accepted; waiting for the sink", flush=True)
    arrived = handler.wait_for_ids(accepted_ids, options.timeout)
    cpu_after = cpu.sample(trees)
    if arrived < len(accepted_ids):
        print(f"timed out after {options.timeout:.0f} s: {arrived} of {len(accepted_ids)} arrived")
    # Give late duplicates a moment to show up before counting them.
    time.sleep(1.0)
    result = measure(driver, handler.snapshot(), handler.duplicates)
    summary = report(options, result, label)
    busy = report_cpu(cpu_before, cpu_after, max(1, result.delivered))
    if busy is not None:
        summary += f" machine-cpu={busy:.0f}%"
    ok = result.refused == 0 and result.failed == 0 and arrived == len(accepted_ids) and result.accepted > 0
    return Measured(result, summary, ok)


def compare(options: Options, platform: Result, postfix: Result) -> str:
    """The last line of `--compare-postfix`: both systems' rates and the platform's share of Postfix's."""

    def ratio(ours: float, theirs: float) -> str:
        return f"{ours / theirs:.2f}" if theirs > 0 else "n/a"

    return (
        f"compare backend={options.backend} messages={options.messages} clients={options.clients} "
        f"per-connection={options.per_connection} size={options.size} "
        f"platform accepted/s={platform.accepted_per_second:.1f} delivered/s={platform.delivered_per_second:.1f} "
        f"postfix accepted/s={postfix.accepted_per_second:.1f} delivered/s={postfix.delivered_per_second:.1f} "
        f"ratio accepted={ratio(platform.accepted_per_second, postfix.accepted_per_second)} "
        f"delivered={ratio(platform.delivered_per_second, postfix.delivered_per_second)}"
    )
