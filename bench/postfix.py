"""A private Postfix instance for `--compare-postfix`: installed from Debian when missing, its own
configuration, queue and log in the benchmark's temporary directory, relaying everything from
127.0.0.1 to the sink."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import cpu
from bench.driver import Driver
from bench.options import Options
from bench.platform import BenchFailed
from bench.results import Result, send_and_measure
from bench.sink import TimingSink
from tests.support.processes import free_port, wait_for_port

POSTFIX = Path("/usr/sbin/postfix")
POSTCONF = Path("/usr/sbin/postconf")
MAIL_OWNER = "postfix"
SETGID_GROUP = "postdrop"
PRESEED = "postfix postfix/main_mailer_type select No configuration\n"
# Lines of the maillog that make the run fail (warnings are only shown).
LOG_PROBLEM = re.compile(r"\b(fatal|panic|error):", re.IGNORECASE)
LOG_WARNING = re.compile(r"\bwarning:", re.IGNORECASE)

# master.cf: the services a relay needs, none chrooted (the queue directory is not a chroot jail
# with copies of /etc), no local, virtual or lmtp delivery, no TLS manager (TLS is off).
# service type private unpriv chroot wakeup maxproc command
MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup     unix  n - n 60   1 pickup
cleanup    unix  n - n -    0 cleanup
qmgr       unix  n - n 300  1 qmgr
rewrite    unix  - - n -    - trivial-rewrite
bounce     unix  - - n -    0 bounce
defer      unix  - - n -    0 bounce
trace      unix  - - n -    0 bounce
verify     unix  - - n -    1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -    - proxymap
proxywrite unix  - - n -    1 proxymap
smtp       unix  - - n -    - smtp
relay      unix  - - n -    - smtp
showq      unix  n - n -    - showq
error      unix  - - n -    - error
retry      unix  - - n -    - error
discard    unix  - - n -    - discard
anvil      unix  - - n -    1 anvil
scache     unix  - - n -    1 scache
"""
# The logging service behind maillog_file (Postfix 3.4 and later).
POSTLOG_CF = "postlog    unix-dgram n - n - 1 postlogd\n"


def _run(
    command: list[str], input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, input=input, env=env, check=False, capture_output=True, text=True, timeout=600)


def ensure_installed() -> None:
    """Install Debian's postfix package (debconf: "No configuration") when /usr/sbin/postfix is
    missing. It refuses when apt would remove other packages (another MTA) to make room."""
    if POSTFIX.exists() and POSTCONF.exists():
        return
    if os.geteuid() != 0:
        raise BenchFailed(f"{POSTFIX} is missing; install Debian's postfix package (as root) first")
    print(f"{POSTFIX} is missing: installing Debian's postfix package", flush=True)
    print(f"$ debconf-set-selections <<< '{PRESEED.strip()}'", flush=True)
    preseed = _run(["debconf-set-selections"], input=PRESEED)
    if preseed.returncode != 0:
        raise BenchFailed(f"debconf-set-selections failed:\n{preseed.stdout}{preseed.stderr}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    simulated = _run(["apt-get", "install", "-s", "postfix"], env=env)
    if simulated.returncode != 0:
        print("apt-get does not find postfix; $ apt-get update", flush=True)
        update = _run(["apt-get", "update"], env=env)
        if update.returncode != 0:
            raise BenchFailed(f"apt-get update failed:\n{update.stdout}{update.stderr}")
        simulated = _run(["apt-get", "install", "-s", "postfix"], env=env)
    removed = [line.split()[1] for line in simulated.stdout.splitlines() if line.startswith("Remv ")]
    if removed:
        raise BenchFailed(f"installing postfix would remove {', '.join(removed)}; install it by hand if that is wanted")
    print("$ DEBIAN_FRONTEND=noninteractive apt-get install -y postfix", flush=True)
    install = _run(["apt-get", "install", "-y", "postfix"], env=env)
    if install.returncode != 0 or not POSTFIX.exists():
        raise BenchFailed(
            f"apt-get install -y postfix failed ({install.returncode}):\n{install.stdout}{install.stderr}"
        )
    print(f"installed {defaults().get('mail_version', '?')}", flush=True)


def defaults() -> dict[str, str]:
    """`postconf -d`: every parameter the installed Postfix knows, with its default value."""
    result = _run([str(POSTCONF), "-d"])
    if result.returncode != 0:
        raise BenchFailed(f"postconf -d failed:\n{result.stderr}")
    found: dict[str, str] = {}
    for line in result.stdout.splitlines():
        name, sep, value = line.partition(" = ")
        if sep:
            found[name.strip()] = value.strip()
        elif line.endswith(" ="):
            found[line[:-2].strip()] = ""
    return found


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


@dataclass
class Stopped:
    """How `postfix stop` went: its exit code, and the processes that had to be killed."""

    code: int
    killed: int


class PostfixInstance:
    """Postfix under `directory`: etc/ (main.cf, master.cf), queue/, data/ and postfix.log."""

    def __init__(self, directory: Path, sink_port: int, clients: int) -> None:
        self.directory = directory
        self.config_dir = directory / "etc"
        self.queue_dir = directory / "queue"
        self.data_dir = directory / "data"
        self.log_file = directory / "postfix.log"
        self.sink_port = sink_port
        self.clients = clients
        self.port = free_port()
        self.known = defaults()
        self.version = self.known.get("mail_version", "")
        self.uses_log_file = "maillog_file" in self.known and _version(self.version) >= (3, 4)

    # -- configuration ---------------------------------------------------------------------------

    def main_cf(self) -> dict[str, str]:
        """The parameters of main.cf, each checked against `postconf -d` of the installed version."""
        version = _version(self.version)
        # Since 3.6 the level may name the version itself; before, "2" is the newest level.
        level = f"{version[0]}.{version[1]}" if version >= (3, 6) else "2"
        params: dict[str, str] = {
            "compatibility_level": level,
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.data_dir),
            "mail_owner": MAIL_OWNER,
            "setgid_group": SETGID_GROUP,
            "myhostname": "postfix.bench.test",
            "myorigin": "$myhostname",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relayhost": f"[127.0.0.1]:{self.sink_port}",
            # No local delivery: nothing is local, and the local transport is an error.
            "mydestination": "",
            "local_recipient_maps": "",
            "local_transport": "error:5.1.1 local delivery is disabled",
            "alias_maps": "",
            "alias_database": "",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_recipient_restrictions": "",
            # Several processes per client: smtpd, cleanup, smtp and trivial-rewrite each.
            "default_process_limit": str(max(100, 4 * self.clients)),
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "smtp_host_lookup": "native",
            "biff": "no",
            "append_dot_mydomain": "no",
            "smtpd_banner": "$myhostname ESMTP",
        }
        # No DNS at all: the relay host is an address; its name lookups go through /etc/hosts.
        if "smtp_dns_support_level" in self.known:
            params["smtp_dns_support_level"] = "disabled"
        else:
            params["disable_dns_lookups"] = "yes"
        if "smtpd_peername_lookup" in self.known:
            params["smtpd_peername_lookup"] = "no"
        if self.uses_log_file:
            params["maillog_file"] = str(self.log_file)
            # A safety list of where the log may go; the temporary directory is not on it by default.
            params["maillog_file_prefixes"] = f"{self.directory}, /var, /dev/stdout"
        unknown = [name for name in params if name not in self.known]
        if unknown:
            raise BenchFailed(f"Postfix {self.version} does not know {', '.join(unknown)}")
        return params

    def write_config(self) -> None:
        self.config_dir.mkdir(parents=True)
        self.queue_dir.mkdir(mode=0o755)
        # Postfix's daemons run as its mail owner: they must be able to pass through every parent
        # of the queue and data directories. The benchmark's temporary directory is 0700: it and
        # this one become 0711 (others may enter, not list); any other parent must allow it already.
        for level, parent in enumerate(self.directory.parents):
            mode = parent.stat().st_mode & 0o7777
            if mode & 0o001:
                continue
            if level > 0:
                raise BenchFailed(f"Postfix's {MAIL_OWNER} user cannot enter {parent}: use another TMPDIR")
            parent.chmod(mode | 0o711)
        self.directory.chmod(0o711)
        main = "".join(f"{name} = {value}\n" for name, value in self.main_cf().items())
        (self.config_dir / "main.cf").write_text(main)
        master = MASTER_CF.format(listen=f"127.0.0.1:{self.port}")
        if self.uses_log_file:
            master += POSTLOG_CF
        (self.config_dir / "master.cf").write_text(master)

    # -- the instance ----------------------------------------------------------------------------

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run([str(POSTFIX), "-c", str(self.config_dir), *args])

    def start(self) -> None:
        for name, lookup in ((MAIL_OWNER, pwd.getpwnam), (SETGID_GROUP, grp.getgrnam)):
            try:
                lookup(name)
            except KeyError:
                raise BenchFailed(
                    f"Postfix needs the {name!r} user and group, which Debian's package creates"
                ) from None
        self.write_config()
        warnings = _run([str(POSTCONF), "-c", str(self.config_dir), "-n"]).stderr.strip()
        if warnings:
            print(f"postconf: {warnings}", flush=True)
        # `check` creates the missing queue directories with their owners and checks the rest.
        check = self._postfix("check")
        if check.returncode != 0:
            raise BenchFailed(f"postfix check failed ({check.returncode}):\n{check.stdout}{check.stderr}")
        start = self._postfix("start")
        if start.returncode != 0:
            raise BenchFailed(f"postfix start failed ({start.returncode}):\n{start.stdout}{start.stderr}")
        try:
            wait_for_port(self.port, timeout=30)
        except TimeoutError as exc:
            raise BenchFailed(f"Postfix does not listen: {exc}; see {self.log_file}") from exc

    def master_pid(self) -> int | None:
        """The master's pid, from `<queue_directory>/pid/master.pid`, while it runs."""
        try:
            pid = int((self.queue_dir / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if Path(f"/proc/{pid}").exists() else None

    def stop(self, timeout: float = 20.0) -> Stopped:
        """`postfix stop`, then wait for the master and its children to be gone; kill (by pid)
        whichever are left after `timeout`."""
        master = self.master_pid()
        if master is None:
            return Stopped(0, 0)  # it never started, or is gone already
        members = cpu.tree(master)
        result = self._postfix("stop")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_alive(pid) for pid in members):
            time.sleep(0.1)
        left = [pid for pid in members if _alive(pid)]
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if result.returncode != 0:
            print(f"postfix stop failed ({result.returncode}): {result.stdout}{result.stderr}", flush=True)
        return Stopped(result.returncode, len(left))

    def log_lines(self) -> tuple[list[str], list[str]]:
        """(problems, warnings) in the maillog: fatal, panic and error lines; warning lines."""
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return [], []
        problems = [line for line in lines if LOG_PROBLEM.search(line)]
        warnings = [line for line in lines if LOG_WARNING.search(line)]
        return problems, warnings


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, exited but not yet waited for, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass
class PostfixRun:
    """What the Postfix run measured, and whether it went right (every message through, a clean
    stop, no fatal, panic or error line in its log)."""

    result: Result
    summary: str
    ok: bool


def run_postfix(options: Options, directory: Path) -> PostfixRun:
    """Drive the same clients and messages into a private Postfix, relaying to a fresh sink."""
    sink = TimingSink().start()
    assert isinstance(sink, TimingSink)
    try:
        instance = PostfixInstance(directory, sink.port, options.clients)
        print(f"\npostfix {instance.version}: working in {directory}", flush=True)
        background = cpu.busy_percent(2.0)
        if background is not None:
            print(f"the machine is {background:.0f}% busy before Postfix starts", flush=True)
        try:
            instance.start()
            master = instance.master_pid()
            if master is None:
                raise BenchFailed(f"Postfix's master is not running; see {instance.log_file}")
            print(
                f"postfix up (master {master}, smtpd on 127.0.0.1:{instance.port}, no AUTH, no DKIM); "
                f"sending {options.messages} messages of {options.size} bytes with {options.clients} clients, "
                f"{options.per_connection} per connection",
                flush=True,
            )
            driver = Driver(options, instance.port, None)
            measured = send_and_measure(
                options, driver, sink.handler, {"postfix": master}, f"postfix={instance.version}"
            )
            summary, ok = measured.summary, measured.ok
            if background is not None:
                summary += f" background-cpu={background:.0f}%"
        finally:
            # Postfix stops while the sink still answers, as the platform does.
            stopped = instance.stop()
        if stopped.code != 0 or stopped.killed:
            ok = False
            summary += f" stop={stopped.code} killed={stopped.killed}"
        problems, warnings = instance.log_lines()
        for label, lines in (("problems", problems), ("warnings", warnings)):
            if lines:
                print(f"postfix logged {len(lines)} {label}:", *lines[:10], sep="\n  ", file=sys.stderr)
        if problems:
            ok = False
            summary += f" logged-errors={len(problems)}"
        if not ok:
            print(f"postfix log: {instance.log_file}", file=sys.stderr)
        return PostfixRun(measured.result, summary, ok)
    finally:
        sink.stop()
