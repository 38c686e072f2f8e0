"""Resident memory of process trees and of the services, read from /proc (Linux; zeros elsewhere),
and one timed scrape of a health server's `/metrics`."""

from __future__ import annotations

import http.client
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.cpu import SERVICES

PROC = Path("/proc")
GAUGE = re.compile(r'^postal_queued_messages\{[^}]*queue="([^"]*)"[^}]*state="([^"]*)"[^}]*\} (\S+)$', re.M)


def _parents() -> dict[int, tuple[str, int]]:
    """(command name, parent pid) of every process."""
    found: dict[int, tuple[str, int]] = {}
    if not PROC.is_dir():
        return found
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        # The name is in parentheses and may contain spaces: split after the last ')'.
        name = text[text.index("(") + 1 : text.rindex(")")]
        found[int(entry.name)] = (name, int(text[text.rindex(")") + 2 :].split()[1]))
    return found


def _descendants(processes: dict[int, tuple[str, int]], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (_, ppid) in processes.items():
        children.setdefault(ppid, []).append(pid)
    members, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in processes and pid not in members:
            members.add(pid)
            todo.extend(children.get(pid, []))
    return members


def rss_bytes(pid: int) -> int:
    """VmRSS of one process (0 when it is gone or has none, as a zombie)."""
    try:
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class RSSSample:
    """Bytes of resident memory per named tree (each role with its children) and per service,
    with the number of processes counted."""

    rss: dict[str, int] = field(default_factory=dict)
    processes: dict[str, int] = field(default_factory=dict)


def sample_rss(trees: dict[str, int]) -> RSSSample:
    """RSS of each tree of `trees` (label → root pid), summed over its live processes, and of the
    services of `bench.cpu.SERVICES` (MariaDB, RabbitMQ with its helper processes)."""
    processes = _parents()
    result = RSSSample()
    for label, root in trees.items():
        members = _descendants(processes, root)
        result.rss[label] = sum(rss_bytes(pid) for pid in members)
        result.processes[label] = len(members)
    for pid, (name, ppid) in processes.items():
        service = SERVICES.get(name)
        # Count a service once, from its topmost process of that name.
        if service is None or SERVICES.get(processes.get(ppid, ("", 0))[0]) == service:
            continue
        members = _descendants(processes, pid)
        result.rss[service] = result.rss.get(service, 0) + sum(rss_bytes(p) for p in members)
        result.processes[service] = result.processes.get(service, 0) + len(members)
    return result


@dataclass(frozen=True)
class Scrape:
    """One GET of `/metrics`: how long it took, its status, its size and the queue gauges."""

    role: str
    at: float
    seconds: float
    status: int | None
    size: int
    error: str | None = None
    gauges: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        if self.status is None:
            return f"{self.role}: no answer after {self.seconds * 1000:.0f} ms ({self.error})"
        found = ", ".join(f"{k}={v:.0f}" for k, v in sorted(self.gauges.items())) or "no queue gauges"
        return f"{self.role}: HTTP {self.status} in {self.seconds * 1000:.0f} ms, {self.size} bytes; {found}"


def scrape(role: str, port: int, started: float, timeout: float = 60.0) -> Scrape:
    """GET http://127.0.0.1:<port>/metrics, timed; `started` is the run's clock origin."""
    at = time.monotonic() - started
    begin = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        body = response.read()
    except OSError as exc:
        return Scrape(role, at, time.perf_counter() - begin, None, 0, f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
    seconds = time.perf_counter() - begin
    text = body.decode(errors="replace")
    gauges = {f"{queue}/{state}": float(value) for queue, state, value in GAUGE.findall(text)}
    return Scrape(role, at, seconds, response.status, len(body), gauges=gauges)
