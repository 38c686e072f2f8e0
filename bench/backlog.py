"""Memory with a large backlog: N outgoing messages queued straight into MariaDB (not delivered),
then the roles started and the RSS of each sampled while the workers drain part of it."""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import ColumnElement, Engine, func, select

from bench.backlog_fill import fill
from bench.backlog_report import Limits, Point, Timeline
from bench.memory import Scrape, rss_bytes, sample_rss, scrape
from bench.options import Options
from bench.platform import (
    BenchFailed,
    Environment,
    config_data,
    create_vhost,
    log_errors,
    provision,
    start_roles,
    stop_roles,
)
from bench.sink import TimingSink
from bench.smtp_throughput import cleanup, fakes
from core.config import load_config
from core.db import create_main_engine
from core.queue.enqueue import QUEUED
from tests.support.processes import RoleProcess, free_port, wait_for_port

LOG_WARNING = re.compile(r" WARNING \[[^]]*\] (.*)$")


@dataclass(frozen=True)
class BacklogOptions:
    messages: int
    duration: float
    warmup: float
    sample_every: float
    report_every: float
    size: int
    batch: int
    fill_threads: int
    worker_processes: int
    worker_threads: int
    max_growth_mib: float
    max_growth_percent: float
    keep: bool

    def platform(self) -> Options:
        """The options `bench.platform` builds the configuration and the roles from."""
        return Options(
            backend="mariadb",
            direction="outgoing",
            via="smtp",
            messages=self.messages,
            clients=1,
            per_connection=1,
            size=self.size,
            worker_processes=self.worker_processes,
            worker_threads=self.worker_threads,
            timeout=self.duration,
            keep=self.keep,
        )


def parse_args(argv: list[str] | None = None) -> BacklogOptions:
    parser = argparse.ArgumentParser(
        prog="python -m bench.backlog",
        description="Queue a backlog in MariaDB without delivering it, start the roles and sample the RSS "
        "of each while the workers drain part of it.",
    )
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages queued (default 1000000)")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of sampling (default 180)")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before the start RSS (default 30)")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between samples (default 5)")
    parser.add_argument("--report-every", type=float, default=30.0, help="seconds between table rows (default 30)")
    parser.add_argument("--size", type=int, default=1024, help="message size in bytes (default 1024)")
    parser.add_argument("--batch", type=int, default=5000, help="messages per insert batch (default 5000)")
    parser.add_argument("--fill-threads", type=int, default=3, help="batches written at once (default 3)")
    parser.add_argument("--worker-processes", type=int, default=2, help="`postal worker --processes` (default 2)")
    parser.add_argument("--worker-threads", type=int, default=8, help="threads per worker process (default 8)")
    parser.add_argument(
        "--max-growth-mib", type=float, default=32.0, help="RSS growth allowed after the warm-up, MiB (default 32)"
    )
    parser.add_argument(
        "--max-growth-percent",
        type=float,
        default=20.0,
        help="RSS growth allowed after the warm-up, %% of the RSS then, when larger (default 20)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the directory, the databases and the vhost")
    args = parser.parse_args(argv)
    for name in ("messages", "size", "batch", "fill_threads", "worker_processes", "worker_threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.sample_every <= 0 or args.report_every <= 0:
        parser.error("--sample-every and --report-every must be positive")
    if args.duration <= args.warmup:
        parser.error("--duration must be longer than --warmup")
    return BacklogOptions(
        messages=args.messages,
        duration=args.duration,
        warmup=args.warmup,
        sample_every=args.sample_every,
        report_every=args.report_every,
        size=args.size,
        batch=args.batch,
        fill_threads=args.fill_threads,
        worker_processes=args.worker_processes,
        worker_threads=args.worker_threads,
        max_growth_mib=args.max_growth_mib,
        max_growth_percent=args.max_growth_percent,
        keep=args.keep,
    )


@dataclass(frozen=True)
class Ports:
    smtp: int
    web: int
    worker_health: int
    smtp_health: int


def write_config(options: BacklogOptions, env: Environment, dns_port: int, sink_port: int) -> Ports:
    ports = Ports(free_port(), free_port(), free_port(), free_port())
    data = config_data(options.platform(), env, dns_port, sink_port, ports.smtp, ports.web)
    # Free ports for the health servers: the defaults (9090, 9091) may be another run's.
    data["worker"]["default_health_server_port"] = ports.worker_health
    data["smtp_server"]["default_health_server_port"] = ports.smtp_health
    env.config_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return ports


def queue_backlog(options: BacklogOptions, env: Environment) -> None:
    config = load_config(env.config_file)
    step = max(options.batch, options.messages // 10)
    reported = [0]

    def progress(done: int, seconds: float) -> None:
        if done - reported[0] >= step or done == options.messages:
            reported[0] = done
            print(f"  … {done} queued in {seconds:.0f} s ({done / max(seconds, 1e-9):.0f}/s)", flush=True)

    print(f"queueing {options.messages} messages of {options.size} bytes (batches of {options.batch})", flush=True)
    result = fill(config, options.messages, options.size, options.batch, options.fill_threads, progress)
    print(
        f"queued {result.messages} messages in {result.seconds:.1f} s = {result.per_second:.0f}/s "
        f"(messages {result.first_message_id}–{result.last_message_id}, raw table {result.raw_table})",
        flush=True,
    )


def count_queued(engine: Engine, unpublished: bool) -> tuple[int | None, int | None, float]:
    """The rows in `queued_messages` and, when asked, those not published yet (a scan of the whole
    table, as `published_at` has no index); and how long the query took."""
    began = time.perf_counter()
    columns: list[ColumnElement[int]] = [func.count()]
    if unpublished:
        columns.append(func.count() - func.count(QUEUED.c.published_at))
    try:
        with engine.connect() as conn:
            row = conn.execute(select(*columns).select_from(QUEUED)).one()
    except Exception as exc:
        print(f"could not count the queued messages: {exc}", file=sys.stderr)
        return None, None, time.perf_counter() - began
    return int(row[0]), int(row[1]) if unpublished else None, time.perf_counter() - began


def unpublished(engine: Engine) -> str:
    """How far the requeuer got: the rows it has not published yet."""
    began = time.perf_counter()
    try:
        with engine.connect() as conn:
            found = conn.scalar(select(func.count()).select_from(QUEUED).where(QUEUED.c.published_at.is_(None)))
    except Exception as exc:
        return f"could not count the unpublished rows: {exc}"
    return f"{found} queued rows never published by the requeuer (counted in {time.perf_counter() - began:.2f} s)"


class Scraper:
    """Scrapes each health server once at each given moment, in a thread of its own so that a
    slow answer does not hold up the RSS samples."""

    def __init__(self, targets: dict[str, int], moments: list[float], started: float) -> None:
        self.targets, self.moments, self.started = targets, moments, started
        self.results: list[Scrape] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="scraper", daemon=True)

    def _run(self) -> None:
        for moment in self.moments:
            if self.stop.wait(max(0.0, self.started + moment - time.monotonic())):
                return
            for role, port in self.targets.items():
                result = scrape(role, port, self.started)
                self.results.append(result)
                print(f"  scrape at {result.at:.0f} s: {result.describe()}", flush=True)


def watch(
    options: BacklogOptions, roles: list[RoleProcess], engine: Engine, sink: TimingSink, ports: Ports
) -> tuple[Timeline, list[Scrape], str | None]:
    """Sample for `duration` seconds from the moment the roles are up; the samples, the scrapes
    and why the run failed (None when the roles stayed up)."""
    names = [role.log_path.stem for role in roles]
    try:
        wait_for_port(ports.smtp, roles[0].process, timeout=60)
        wait_for_port(ports.smtp_health, roles[0].process, timeout=30)
        wait_for_port(ports.worker_health, roles[1].process, timeout=60)
    except (RuntimeError, TimeoutError) as exc:
        raise BenchFailed(f"the platform did not start: {exc}") from exc
    started = time.monotonic()
    print(f"platform up ({', '.join(names)}); sampling every {options.sample_every:.0f} s", flush=True)
    timeline = Timeline(names, Limits(options.warmup, options.max_growth_mib, options.max_growth_percent))
    print(timeline.header(), flush=True)
    targets = {"worker": ports.worker_health, "smtp-server": ports.smtp_health}
    scraper = Scraper(targets, [options.warmup, options.duration - 2 * options.sample_every], started)
    scraper.thread.start()
    trees = {role.log_path.stem: role.process.pid for role in roles}
    failure = None
    next_row, tick = 0.0, 0
    try:
        while True:
            row_due = time.monotonic() - started >= next_row
            queued, unpublished, count_seconds = count_queued(engine, row_due)
            memory = sample_rss(trees)
            memory.rss["bench"] = rss_bytes(os.getpid())
            at = time.monotonic() - started
            delivered = len(sink.handler.received_at) + sink.handler.unknown
            point = Point(at, delivered, queued, count_seconds, memory.rss, unpublished)
            timeline.points.append(point)
            if row_due:
                print(timeline.row(point), flush=True)
                next_row = (at // options.report_every + 1) * options.report_every
            if tick == 0:
                print("  processes: " + ", ".join(f"{k} {v}" for k, v in memory.processes.items()), flush=True)
            exited = [role for role in roles if role.process.poll() is not None]
            if exited:
                failure = ", ".join(f"{r.log_path.stem} exited with {r.process.returncode}" for r in exited)
                break
            if at >= options.duration:
                break
            tick += 1
            time.sleep(max(0.0, started + tick * options.sample_every - time.monotonic()))
    finally:
        scraper.stop.set()
        scraper.thread.join(timeout=70)
    return timeline, scraper.results, failure


def warnings_of(roles: list[RoleProcess]) -> Counter[str]:
    found: Counter[str] = Counter()
    for role in roles:
        for line in role.output().splitlines():
            match = LOG_WARNING.search(line)
            if match:
                # Numbers vary from line to line; without them the same warning counts once.
                found[f"{role.log_path.stem}: {re.sub(r'[0-9]+', 'N', match.group(1))[:160]}"] += 1
    return found


def report(options: BacklogOptions, timeline: Timeline, scrapes: list[Scrape], sink: TimingSink) -> list[str]:
    """Print the table, the summary and the scrapes; what failed among memory, scrapes, draining."""
    print()
    print("\n".join(timeline.table(options.report_every)))
    print()
    print("\n".join(timeline.summary_lines()))
    rate = timeline.drain_rate()
    if rate is not None:
        print(f"drained {rate:.1f} messages/s after the warm-up; duplicates at the sink: {sink.handler.duplicates}")
    counts = [p.count_seconds for p in timeline.points]
    if counts:
        longest, last = max(counts) * 1000, counts[-1] * 1000
        print(f"the bench's own count of queued_messages: {longest:.0f} ms at most, {last:.0f} ms last")
    print("/metrics scrapes:")
    for item in scrapes:
        print(f"  at {item.at:.0f} s: {item.describe()}")
    failed = []
    grown = [s.label for s in timeline.summaries() if s.label in timeline.roles and not s.ok]
    if grown or not timeline.summaries():
        failed.append(f"RSS grew beyond the limit: {', '.join(grown)}" if grown else "no sample after the warm-up")
    if not scrapes or any(item.status != 200 for item in scrapes):
        failed.append("a /metrics scrape failed or none was made")
    if not timeline.points or timeline.points[-1].delivered == 0:
        failed.append("nothing was delivered")
    return failed


def run(options: BacklogOptions) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="postal-bench-"))
    env = Environment(workdir)
    failed: list[str] = ["the run did not finish"]
    summary = ""
    try:
        with fakes() as (dns_server, sink):
            create_vhost(env)
            ports = write_config(options, env, dns_server.port, sink.port)
            print(f"backlog of {options.messages}: working in {workdir}", flush=True)
            began = time.monotonic()
            provision(env.config_file)
            print(f"provisioned in {time.monotonic() - began:.1f} s", flush=True)
            queue_backlog(options, env)
            engine = create_main_engine(load_config(env.config_file))
            roles = start_roles(options.platform(), env.config_file)
            try:
                timeline, scrapes, failure = watch(options, roles, engine, sink, ports)
                print(unpublished(engine), flush=True)
            finally:
                # The platform stops while the sink still answers, so in-flight deliveries finish.
                codes = stop_roles(roles)
                engine.dispose()
                logged = check_logs(roles, codes)
            failed = report(options, timeline, scrapes, sink) + ([failure] if failure else []) + logged
            memory = "flat" if timeline.roles_ok() else "GREW"
            print(f"verdict: memory {memory}; " + ("; ".join(failed) if failed else "nothing else failed"))
            if failed:
                print("logs:", *(str(role.log_path) for role in roles), sep="\n  ", file=sys.stderr)
            summary = summary_line(options, timeline)
    except BenchFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
    finally:
        cleanup(options.platform(), env, keep_files=options.keep or bool(failed))
    if summary:
        print()
        print(summary + f" ok={'no' if failed else 'yes'}")
    return 1 if failed else 0


def check_logs(roles: list[RoleProcess], codes: list[tuple[RoleProcess, int]]) -> list[str]:
    """Print the errors and the commonest warnings the roles logged; what failed: a role that did
    not exit with 0 (-9: killed after not stopping within 20 s of SIGTERM), logged errors."""
    failed = [f"{role.log_path.stem} exited with {code}" for role, code in codes if code != 0]
    errors = log_errors(roles)
    if errors.records or errors.exceptions:
        failed.append(f"the roles logged {errors.records} errors")
        print(f"the platform logged {errors.records} errors; exceptions:", file=sys.stderr)
        for line, count in errors.exceptions.most_common(10):
            print(f"  {count} × {line}", file=sys.stderr)
    for line, count in warnings_of(roles).most_common(5):
        print(f"warning logged {count} ×: {line}")
    return failed


def summary_line(options: BacklogOptions, timeline: Timeline) -> str:
    parts = [f"messages={options.messages}", f"duration={options.duration:.0f}"]
    if timeline.points:
        parts.append(f"delivered={timeline.points[-1].delivered}")
    for item in timeline.summaries():
        parts.append(f"{item.label}={item.start / (1 << 20):.0f}->{item.end / (1 << 20):.0f}MiB")
    return "backlog " + " ".join(parts)


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
