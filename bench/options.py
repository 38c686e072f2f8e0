"""The benchmark's command line."""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    backend: str
    direction: str
    via: str
    messages: int
    clients: int
    per_connection: int
    size: int
    worker_processes: int
    worker_threads: int
    timeout: float
    keep: bool
    compare_postfix: bool = False
    rate: float = 0.0  # messages per second across all clients; 0: as fast as they can


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.smtp_throughput",
        description="Drive messages through SMTP submission into a sink and report the throughput.",
    )
    parser.add_argument("--backend", choices=["sqlite", "mariadb"], required=True)
    parser.add_argument(
        "--direction",
        choices=["outgoing", "incoming"],
        default="outgoing",
        help="outgoing: authenticated submission delivered to the MX (default); incoming: "
        "unauthenticated mail to a route whose SMTP endpoint is the sink",
    )
    parser.add_argument(
        "--via",
        choices=["smtp", "api"],
        default="smtp",
        help="outgoing only: submit by SMTP (default) or by HTTP API v1 /api/v1/send/message",
    )
    parser.add_argument("--messages", type=int, default=2000, help="messages to send (default 2000)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent SMTP clients (default 20)")
    parser.add_argument("--per-connection", type=int, default=10, help="messages per SMTP connection (default 10)")
    parser.add_argument("--size", type=int, default=2048, help="message size in bytes (default 2048)")
    parser.add_argument("--worker-processes", type=int, default=2, help="`postal worker --processes` (mariadb only)")
    parser.add_argument("--worker-threads", type=int, default=8, help="worker threads per process")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="messages per second across all clients, e.g. half of an earlier run's rate for latency "
        "under a steady load (default 0: as fast as the clients can)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for every message at the sink")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary directory, the databases and the vhost afterwards",
    )
    parser.add_argument(
        "--compare-postfix",
        action="store_true",
        help="outgoing by SMTP only: then drive a private local Postfix relaying to a fresh sink with the "
        "same clients and messages, and print both figures and their ratios",
    )
    args = parser.parse_args(argv)
    for name in ("messages", "clients", "per_connection", "size", "worker_processes", "worker_threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.rate < 0:
        parser.error("--rate must be 0 (no limit) or more")
    if args.via == "api" and args.direction != "outgoing":
        parser.error("--via api submits outgoing mail; it cannot be combined with --direction incoming")
    if args.compare_postfix and (args.direction != "outgoing" or args.via != "smtp"):
        other = f"--direction {args.direction}" if args.direction != "outgoing" else f"--via {args.via}"
        parser.error(f"--compare-postfix compares outgoing submission by SMTP only; it cannot be combined with {other}")
    return Options(
        backend=args.backend,
        direction=args.direction,
        via=args.via,
        messages=args.messages,
        clients=args.clients,
        per_connection=args.per_connection,
        size=args.size,
        worker_processes=args.worker_processes,
        worker_threads=args.worker_threads,
        timeout=args.timeout,
        keep=args.keep,
        compare_postfix=args.compare_postfix,
        rate=args.rate,
    )
