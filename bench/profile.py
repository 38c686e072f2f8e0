"""Profiling one role during a benchmark run: py-spy attached to it, and the samples by area.

```
.venv/bin/python -m bench.profile [--role smtp-server] [--output FILE] [--rate 100] [--gil] \\
    -- <bench.smtp_throughput options>
.venv/bin/python -m bench.profile --summarise FILE
```

Runs `bench.smtp_throughput` with the options after `--`; when it reports the platform up (its
`platform up` line: the role's start-up is left out), finds the role's process (`postal <role>`,
a child of the benchmark) and records it with `py-spy record --subprocesses --nonblocking
--format raw` until the role exits. Then it prints the share of the samples by area (`AREAS`)
and the busiest functions.

Use `--gil`: it samples the thread holding the GIL, which on a CPU-bound role is its CPU time
(the samples added up to within a few per cent of the role's CPU seconds). Without it py-spy
samples every thread it does not find idle, which on a busy machine includes threads waiting
for a core or for the database: the samples came to twice the role's CPU time, mostly in
`Connection.query` and socket writes. What `--gil` leaves out is system time in calls that
release the GIL (socket writes, the database driver's round trips), about a tenth of the SMTP
server's CPU.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.cpu import PROC

# (area, markers): a sample belongs to the first area any of whose markers is in one of its
# frames ("function (file:line)"), so the specific areas come first: SQL inside the submission
# code counts as SQL, a reply written from a command as a reply.
AREAS: list[tuple[str, tuple[str, ...]]] = [
    ("SQL: the driver (MySQLdb)", ("/MySQLdb/",)),
    ("SQL: SQLAlchemy", ("/sqlalchemy/",)),
    ("logging", ("/logging/",)),
    ("metrics (prometheus_client)", ("/prometheus_client/",)),
    ("publishing (pika)", ("/pika/",)),
    ("DNS (dnspython)", ("/dns/",)),
    ("MAIL/RCPT address parsing (aiosmtpd)", ("_getaddr (", "_getparams (")),
    ("header parsing (email, core.mail.headers)", ("/email/", "/core/mail/headers.py")),
    ("submission (core.outgoing, core.queue, core.messages)", ("/core/outgoing/", "/core/queue/", "/core/messages/")),
    ("reading DATA (smtp.data)", ("/smtp/data.py",)),
    ("sending replies (transport write)", ("push (",)),
    (
        "thread hand-offs (to_thread, futures, wake-ups)",
        ("/concurrent/futures/", "/threading.py", "to_thread (", "_write_to_self (", "_read_from_self ("),
    ),
    (
        "SMTP commands and handler (smtp, aiosmtpd)",
        ("/smtp/connection.py", "/smtp/protocol.py", "/smtp/handler.py", "/smtp/auth.py", "/aiosmtpd/"),
    ),
    ("event loop (asyncio, selectors)", ("/asyncio/", "/selectors.py")),
]
OTHER = "other"


def area_of(frames: list[str]) -> str:
    for area, markers in AREAS:
        if any(marker in frame for frame in frames for marker in markers):
            return area
    return OTHER


def summarise(raw: Path, top: int = 25) -> str:
    """The share of the samples in a py-spy raw file by area, and the busiest leaf functions."""
    areas: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        n = int(count)
        total += n
        areas[area_of(frames)] += n
        leaves[frames[-1] if frames else "?"] += n
    if not total:
        return "no samples"
    lines = [f"{total} samples"]
    lines += [f"{100 * n / total:5.1f} %  {area}" for area, n in areas.most_common()]
    lines.append("busiest functions (the leaf frame):")
    lines += [f"{100 * n / total:5.1f} %  {leaf}" for leaf, n in leaves.most_common(top)]
    return "\n".join(lines)


def _cmdline(pid: int) -> list[str]:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def find_role(role: str, bench: subprocess.Popen[bytes], timeout: float = 300.0) -> int | None:
    """The pid of `postal <role>` started by this run (its parent is the bench process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and bench.poll() is None:
        for entry in PROC.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == bench.pid and role in _cmdline(int(entry.name))[1:]:
                return int(entry.name)
        time.sleep(0.1)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--role", default="smtp-server", help="the `postal` role to record (default smtp-server)")
    parser.add_argument("--output", type=Path, default=Path("profile.txt"), help="py-spy's raw output file")
    parser.add_argument("--rate", type=int, default=100, help="samples per second (default 100)")
    parser.add_argument("--gil", action="store_true", help="only samples of the thread holding the GIL")
    parser.add_argument("--summarise", type=Path, help="only summarise an existing raw file")
    parser.add_argument("bench", nargs=argparse.REMAINDER, help="-- then the options of bench.smtp_throughput")
    args = parser.parse_args(argv)
    if args.summarise is not None:
        print(summarise(args.summarise))
        return 0
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        print("py-spy is not installed: pip install -e '.[dev]'", file=sys.stderr)
        return 2
    bench_args = args.bench[1:] if args.bench[:1] == ["--"] else args.bench
    bench = subprocess.Popen(
        [sys.executable, "-u", "-m", "bench.smtp_throughput", *bench_args], stdout=subprocess.PIPE, text=True
    )
    assert bench.stdout is not None
    # Recording starts when the clients do, so the role's start-up is not in the profile.
    for line in bench.stdout:
        print(line, end="", flush=True)
        if line.startswith("platform up"):
            break
    pid = find_role(args.role, bench)
    if pid is None:
        print(f"no `postal {args.role}` process appeared", file=sys.stderr)
        return max(1, bench.wait())
    record = [str(spy), "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--full-filenames"]
    record += ["--format", "raw"]
    record += ["--rate", str(args.rate), "--output", str(args.output)] + (["--gil"] if args.gil else [])
    spying = subprocess.Popen(record, stdout=subprocess.DEVNULL)
    for line in bench.stdout:
        print(line, end="", flush=True)
    code = bench.wait()
    spying.wait(timeout=60)
    if args.output.exists():
        print(f"\nprofile of {args.role} in {args.output}:")
        print(summarise(args.output))
    return code


if __name__ == "__main__":
    sys.exit(main())
