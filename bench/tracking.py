"""Tracking requests per second: opens (the image) and clicks (the redirect) served by the web
process of `postal run` over SQLite, for a message tracked and delivered the ordinary way."""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench.options import Options
from bench.platform import (
    RECIPIENT_DOMAIN,
    SENDER_DOMAIN,
    BenchFailed,
    Environment,
    config_data,
    log_errors,
    provision,
    start_roles,
    stop_roles,
)
from core.config import load_config
from core.dns import make_resolver
from core.runtime import Runtime
from core.tenancy.dns_checks import domain_lookup
from core.tenancy.track_domains import add_track_domain, check_track_domain, domain_of, full_name
from models.server import Server
from tests.support.dns_server import DNSServer
from tests.support.processes import RoleProcess, free_port, wait_for_port
from tests.support.smtp_sink import SMTPSink

TRACK_HOST = f"track.{SENDER_DOMAIN}"
TRACKED_URL = re.compile(rb"https?://" + re.escape(TRACK_HOST.encode()) + rb"(/[A-Za-z0-9/]+)")


@dataclass(frozen=True)
class TrackingOptions:
    requests: int
    concurrency: int
    timeout: float
    keep: bool


@dataclass
class Run:
    """The answers of one kind of request: how many had the expected status, and the wall time."""

    expected: int = 0
    unexpected: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.expected / self.seconds if self.seconds else 0.0


def parse_args(argv: list[str] | None = None) -> TrackingOptions:
    parser = argparse.ArgumentParser(
        prog="python -m bench.tracking", description="Tracking requests per second against `postal run` over SQLite."
    )
    parser.add_argument("--requests", type=int, default=2000, help="requests of each kind (default 2000)")
    parser.add_argument("--concurrency", type=int, default=10, help="concurrent HTTP clients (default 10)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the tracked message")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory afterwards")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be at least 1")
    return TrackingOptions(args.requests, args.concurrency, args.timeout, args.keep)


def create_track_domain(config_file: Path) -> None:
    """The track domain of the sender domain, checked against the bench's DNS server (the CLI has
    no track-domain command; the management API would need a user and a token)."""
    runtime = Runtime.create(load_config(config_file, environ={}))
    try:
        with runtime.db.transaction() as session:
            server = session.query(Server).one()
            track = add_track_domain(session, server, TRACK_HOST)
            domain = domain_of(session, track)
            lookup = domain_lookup(runtime.config, make_resolver(runtime.config), full_name(track, domain))
            if not check_track_domain(runtime.config, lookup, track, domain):
                raise BenchFailed(f"the track domain's DNS check failed: {track.dns_error}")
    finally:
        runtime.close()


def send_tracked_message(web_port: int, api_key: str, sink: SMTPSink, timeout: float) -> tuple[str, str]:
    """Send one HTML message through HTTP API v1 and read its (link path, image path) at the sink."""
    body = {
        "to": [f"reader@{RECIPIENT_DOMAIN}"],
        "from": f"Shop <news@{SENDER_DOMAIN}>",
        "subject": "Tracked",
        "html_body": '<html><body><a href="https://shop.example/offer">Offer</a></body></html>',
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{web_port}/api/v1/send/message",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Server-API-Key": api_key},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    if answer.get("status") != "success":
        raise BenchFailed(f"send/message failed: {answer}")
    try:
        [received] = sink.wait_for(1, timeout=timeout)
    except TimeoutError as exc:
        raise BenchFailed(str(exc)) from exc
    import email
    from email import policy

    message = email.message_from_bytes(received.data, policy=policy.default)
    html = b"".join(str(p.get_content()).encode() for p in message.walk() if p.get_content_type() == "text/html")
    paths = [m.decode() for m in TRACKED_URL.findall(html)]
    images = [p for p in paths if p.startswith("/img/")]
    links = [p for p in paths if not p.startswith("/img/")]
    if len(images) != 1 or len(links) != 1:
        raise BenchFailed(f"the delivered message is not tracked as expected: {paths}")
    return links[0], images[0]


def hammer(port: int, path: str, status: int, options: TrackingOptions) -> Run:
    """`options.requests` GETs of `path` with the tracking header over keep-alive connections."""
    run = Run()
    lock = threading.Lock()
    shares = [options.requests // options.concurrency + (i < options.requests % options.concurrency)
              for i in range(options.concurrency)]  # fmt: skip
    headers = {"X-Postal-Track-Host": "1", "User-Agent": "bench/1.0"}

    def client(count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start.wait()
        good, bad = 0, []
        for _ in range(count):
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status == status:
                    good += 1
                else:
                    bad.append(f"HTTP {response.status}")
            except (OSError, http.client.HTTPException) as exc:
                bad.append(type(exc).__name__)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()
        with lock:
            run.expected += good
            run.unexpected += bad

    threads = [threading.Thread(target=client, args=(n,)) for n in shares if n]
    # Every client connects first; the clock starts when all are ready.
    start = threading.Barrier(len(threads) + 1)
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    run.seconds = time.monotonic() - began
    return run


def run(options: TrackingOptions) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="postal-bench-tracking-"))
    env = Environment(workdir)
    ok = False
    dns_server, sink = DNSServer().start(), SMTPSink().start()
    roles: list[RoleProcess] = []
    try:
        dns_server.zone.mail_domain(RECIPIENT_DOMAIN)
        smtp_port, web_port = free_port(), free_port()
        platform = Options("sqlite", "outgoing", "api", 1, 1, 1, 2048, 1, 4, options.timeout, options.keep)
        data = config_data(platform, env, dns_server.port, sink.port, smtp_port, web_port)
        env.config_file.write_text(yaml.safe_dump(data, sort_keys=False))
        account = provision(env.config_file, via="api")
        dns_server.zone.set(TRACK_HOST, "CNAME", "track.postal.example.com.")
        create_track_domain(env.config_file)
        roles = start_roles(platform, env.config_file)
        wait_for_port(web_port, roles[0].process, timeout=60)
        link, image = send_tracked_message(web_port, str(account.api_key), sink, options.timeout)
        print(f"tracked message delivered; {options.requests} requests of each kind, "
              f"{options.concurrency} clients", flush=True)  # fmt: skip
        opens = hammer(web_port, image, 200, options)
        clicks = hammer(web_port, link, 307, options)
        for name, result in (("opens", opens), ("clicks", clicks)):
            failures = f", {len(result.unexpected)} unexpected ({result.unexpected[0]})" if result.unexpected else ""
            print(f"{name}: {result.expected} in {result.seconds:.2f} s = {result.per_second:.0f}/s{failures}")
        ok = not opens.unexpected and not clicks.unexpected
        print(f"\nrequests={options.requests} concurrency={options.concurrency} "
              f"opens/s={opens.per_second:.0f} clicks/s={clicks.per_second:.0f}")  # fmt: skip
    except (BenchFailed, RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    finally:
        for role, code in stop_roles(roles):
            if code != 0:
                ok = False
                print(f"{role.log_path.name} exited with {code}", file=sys.stderr)
        errors = log_errors(roles)
        if errors.records or errors.exceptions:
            ok = False
            print(f"the platform logged {errors.records} errors", file=sys.stderr)
        sink.stop()
        dns_server.stop()
        if options.keep or not ok:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
