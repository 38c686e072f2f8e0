"""CPU time of process trees and of the whole machine, read from /proc (Linux; empty elsewhere)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# Services the platform talks to, found by command name, so their share of the CPU shows too.
SERVICES = {"mariadbd": "mariadb", "mysqld": "mariadb", "beam.smp": "rabbitmq"}


def _stat(pid: int) -> tuple[str, int, float, float] | None:
    """(command name, parent pid, CPU seconds, CPU seconds of its children that exited and were
    waited for) of one process, or None when it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The name is in parentheses and may contain spaces: split after the last ')'.
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16, cstime 17.
    return (
        name,
        int(fields[1]),
        (int(fields[11]) + int(fields[12])) / TICKS,
        (int(fields[13]) + int(fields[14])) / TICKS,
    )


def _processes() -> dict[int, tuple[str, int, float, float]]:
    found: dict[int, tuple[str, int, float, float]] = {}
    if not PROC.is_dir():
        return found
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                found[int(entry.name)] = stat
    return found


def _tree(processes: dict[int, tuple[str, int, float, float]], root: int) -> set[int]:
    members = {root}
    added = True
    while added:
        added = False
        for pid, (_, ppid, _, _) in processes.items():
            if ppid in members and pid not in members:
                members.add(pid)
                added = True
    return members


def tree(root: int) -> set[int]:
    """The pids of `root` and its live descendants."""
    processes = _processes()
    return {pid for pid in _tree(processes, root) if pid in processes}


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of every core since boot, from the first line of /proc/stat."""
    try:
        first = (PROC / "stat").read_text().splitlines()[0].split()
    except OSError:
        return 0.0, 0.0
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / TICKS, total / TICKS


@dataclass
class Sample:
    """CPU seconds used so far by each named process tree and by the machine."""

    groups: dict[str, float]
    busy: float
    total: float


def sample(trees: dict[str, int]) -> Sample:
    """CPU seconds of each process in `trees` with its live descendants, of this process alone
    (`bench`), and of the known services. A tree also counts the descendants that exited and were
    waited for (as Postfix's short-lived children are), through their parents' children times."""
    processes = _processes()
    groups: dict[str, float] = {}
    for label, root in trees.items():
        members = [processes[p] for p in _tree(processes, root) if p in processes]
        groups[label] = sum(own + reaped for _, _, own, reaped in members)
    own = processes.get(os.getpid())
    if own is not None:
        groups["bench"] = own[2]
    for name, _, seconds, _ in processes.values():
        service = SERVICES.get(name)
        if service is not None:
            groups[service] = groups.get(service, 0.0) + seconds
    busy, total = machine_busy_seconds()
    return Sample(groups, busy, total)


def usage(before: Sample, after: Sample) -> tuple[dict[str, float], float, float]:
    """CPU seconds each group used between two samples, the machine's busy seconds, and the
    seconds of every core together (wall time × cores)."""
    used = {label: after.groups[label] - before.groups.get(label, 0.0) for label in after.groups}
    return used, after.busy - before.busy, after.total - before.total


def busy_percent(seconds: float) -> float | None:
    """How busy the machine is over the next `seconds` (other users' work shows up here)."""
    busy_before, total_before = machine_busy_seconds()
    time.sleep(seconds)
    busy_after, total_after = machine_busy_seconds()
    if total_after <= total_before:
        return None
    return 100 * (busy_after - busy_before) / (total_after - total_before)
