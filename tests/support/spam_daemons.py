"""Private spamd and clamd daemons on free 127.0.0.1 ports, and the standard spam and virus test strings.

Independent of pytest: `running_spamd()` and `running_clamd()` are context managers that start the
daemon with its own configuration in a temporary directory, wait until it answers a PING, yield
where it listens and stop it afterwards. Neither needs the network: spamd runs its local tests
only with the rules its package ships, and clamd loads one local signature that detects EICAR
(the official databases are downloaded by freshclam, which tests cannot do).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SIGNATURE = "Test.EICAR-Local"
# clamd reports a signature that is not from the official databases with this suffix.
EICAR_DETECTION = f"{EICAR_SIGNATURE}.UNOFFICIAL"

# Debian packages providing the daemons (Debian 12 ships spamd apart from the spamassassin rules).
SPAMD_PACKAGE = "spamd"
CLAMD_PACKAGE = "clamav-daemon"

# The rules Debian's spamassassin package ships. spamd would prefer rules that sa-update
# downloaded into /var/lib/spamassassin; pinning these keeps the tests offline and repeatable.
SPAMASSASSIN_RULES = Path("/usr/share/spamassassin")

# Daemons are installed in sbin, which is often missing from an unprivileged user's PATH.
_SBIN = os.pathsep.join(["/usr/local/sbin", "/usr/sbin", "/sbin"])

# spamd's plugins that work without the network; the Check plugin is what runs the rules at all.
_SPAMD_PLUGINS = [
    "Check",
    "HTTPSMismatch",
    "URIDetail",
    "BodyEval",
    "HTMLEval",
    "HeaderEval",
    "MIMEEval",
    "MIMEHeader",
    "RelayEval",
    "ReplaceTags",
    "URIEval",
    "WLBLEval",
    "VBounce",
    "ImageInfo",
    "FreeMail",
]
_SPAMD_LOCAL_CF = """\
use_bayes 0
bayes_auto_learn 0
skip_rbl_checks 1
dns_available no
"""


class DaemonFailed(Exception):
    """The daemon exited or did not answer in time; the message ends with its log."""


@dataclass
class Daemon:
    """A running daemon: where it listens, its process and directory, and how long it took to answer."""

    name: str
    host: str
    port: int
    process: subprocess.Popen[bytes]
    directory: Path
    log_paths: list[Path]
    startup_seconds: float

    def log(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.log_paths if path.exists())


def find_binary(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=_SBIN)


def _ask(port: int, request: bytes, timeout: float = 2.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks: list[bytes] = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
            if b"PONG" in b"".join(chunks):
                break
        return b"".join(chunks)


def _spamd_pong(port: int) -> bool:
    return b" 0 PONG" in _ask(port, b"PING SPAMC/1.5\r\n\r\n")


def _clamd_pong(port: int) -> bool:
    return _ask(port, b"zPING\0").startswith(b"PONG")


def _stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM (spamd passes it to its children), then SIGKILL to the daemon's whole process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def _running(
    name: str,
    command: list[str],
    directory: Path,
    port: int,
    answers: Callable[[int], bool],
    log_paths: list[Path],
    timeout: float,
) -> Iterator[Daemon]:
    output = directory / f"{name}.out"
    started = time.monotonic()
    with output.open("wb") as sink:
        # A session of its own, so that stopping it can reach spamd's children too.
        process = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=directory,
            start_new_session=True,
        )
    daemon = Daemon(name, "127.0.0.1", port, process, directory, [output, *log_paths], 0.0)
    try:
        while True:
            if process.poll() is not None:
                raise DaemonFailed(f"{name} exited with {process.returncode} before answering:\n{daemon.log()}")
            try:
                if answers(port):
                    break
            except OSError:
                pass
            if time.monotonic() - started > timeout:
                raise DaemonFailed(f"{name} did not answer on port {port} within {timeout:g}s:\n{daemon.log()}")
            time.sleep(0.1)
        daemon.startup_seconds = time.monotonic() - started
        yield daemon
    finally:
        _stop(process)


def _readable_by_all(path: Path) -> None:
    """spamd started by root drops to an unprivileged user, who must still read its configuration."""
    for item in [path, *path.rglob("*")]:
        item.chmod(0o755 if item.is_dir() else 0o644)


@contextlib.contextmanager
def running_spamd(binary: str | None = None, timeout: float = 120.0) -> Iterator[Daemon]:
    """spamd on 127.0.0.1 and a free port: one child, local tests only, no user or Bayes data."""
    binary = binary or find_binary("spamd")
    if binary is None:
        raise DaemonFailed(f"spamd is not installed (Debian package {SPAMD_PACKAGE})")
    with tempfile.TemporaryDirectory(prefix="spamd-") as name:
        directory = Path(name)
        site = directory / "site"
        site.mkdir()
        (site / "init.pre").write_text(
            "".join(f"loadplugin Mail::SpamAssassin::Plugin::{plugin}\n" for plugin in _SPAMD_PLUGINS)
        )
        (site / "local.cf").write_text(_SPAMD_LOCAL_CF)
        home = directory / "home"
        home.mkdir()
        _readable_by_all(directory)
        port = free_port()
        command = [
            binary,
            f"--listen=127.0.0.1:{port}",
            "--allowed-ips=127.0.0.1",
            "--local",
            "--max-children=1",
            "--min-children=1",
            "--min-spare=1",
            "--max-spare=1",
            "--nouser-config",
            *([f"--configpath={SPAMASSASSIN_RULES}"] if (SPAMASSASSIN_RULES / "50_scores.cf").exists() else []),
            f"--siteconfigpath={site}",
            f"--helper-home-dir={home}",
            f"--pidfile={directory / 'spamd.pid'}",
            "--syslog=stderr",
        ]
        if os.geteuid() == 0:
            # spamd refuses to scan as root; it switches to this user after binding the port.
            command.append("--username=nobody")
        with _running("spamd", command, directory, port, _spamd_pong, [], timeout) as daemon:
            yield daemon


@contextlib.contextmanager
def running_clamd(binary: str | None = None, timeout: float = 120.0, extra_config: str = "") -> Iterator[Daemon]:
    """clamd on 127.0.0.1 and a free port, with only a local signature that detects EICAR.

    `extra_config` holds more clamd.conf lines, e.g. "StreamMaxLength 1M\\n".
    """
    binary = binary or find_binary("clamd")
    if binary is None:
        raise DaemonFailed(f"clamd is not installed (Debian package {CLAMD_PACKAGE})")
    with tempfile.TemporaryDirectory(prefix="clamd-") as name:
        directory = Path(name)
        database = directory / "database"
        database.mkdir()
        # An extended (.ndb) signature: any file type, anywhere, the EICAR string as hex bytes.
        (database / "local-test.ndb").write_text(f"{EICAR_SIGNATURE}:0:*:{EICAR.encode().hex()}\n")
        log_path = directory / "clamd.log"
        port = free_port()
        config = directory / "clamd.conf"
        config.write_text(
            f"TCPSocket {port}\n"
            "TCPAddr 127.0.0.1\n"
            f"DatabaseDirectory {database}\n"
            f"TemporaryDirectory {directory}\n"
            f"LogFile {log_path}\n"
            f"PidFile {directory / 'clamd.pid'}\n"
            "Foreground yes\n"
            "MaxThreads 4\n"
            "SelfCheck 3600\n"
            f"{extra_config}"
        )
        command = [binary, f"--config-file={config}"]
        with _running("clamd", command, directory, port, _clamd_pong, [log_path], timeout) as daemon:
            yield daemon
