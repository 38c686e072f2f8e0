"""A small authoritative DNS server on 127.0.0.1 for tests: records are set from Python.

Serves A, AAAA, MX, TXT, CNAME and PTR over UDP and TCP. Unknown names get NXDOMAIN, known
names without the asked type an empty NOERROR answer, as a real server would.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections import defaultdict

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class Zone:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))

    @staticmethod
    def _key(name: str) -> str:
        return name.lower().rstrip(".")

    def add(self, name: str, rdtype: str, value: str) -> None:
        with self._lock:
            self._records[self._key(name)][rdtype.upper()].append(value)

    def set(self, name: str, rdtype: str, *values: str) -> None:
        with self._lock:
            self._records[self._key(name)][rdtype.upper()] = list(values)

    def remove(self, name: str, rdtype: str | None = None) -> None:
        with self._lock:
            if rdtype is None:
                self._records.pop(self._key(name), None)
            else:
                self._records.get(self._key(name), {}).pop(rdtype.upper(), None)

    def mail_domain(self, domain: str, mx_host: str | None = None, address: str = "127.0.0.1") -> None:
        """`domain` receives mail at `mx_host` (default `mx.<domain>`), which resolves to `address`."""
        mx_host = mx_host or f"mx.{domain}"
        self.set(domain, "MX", f"10 {mx_host}.")
        self.set(mx_host, "A", address)

    def lookup(self, name: str, rdtype: str) -> tuple[bool, list[str]]:
        with self._lock:
            entry = self._records.get(self._key(name))
            if entry is None:
                return False, []
            return True, list(entry.get(rdtype, []))

    def cname(self, name: str) -> list[str]:
        return self.lookup(name, "CNAME")[1]


def _answer(zone: Zone, wire: bytes) -> bytes:
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    for question in query.question:
        name = question.name.to_text(omit_final_dot=True)
        rdtype = dns.rdatatype.to_text(question.rdtype)
        exists, values = zone.lookup(name, rdtype)
        if not values and rdtype != "CNAME":
            targets = zone.cname(name)
            if targets:
                exists, values, rdtype = True, targets, "CNAME"
        if not exists:
            response.set_rcode(dns.rcode.NXDOMAIN)
            continue
        if values:
            rrset = dns.rrset.RRset(question.name, dns.rdataclass.IN, dns.rdatatype.from_text(rdtype))
            for value in values:
                text = value
                if rdtype == "TXT":
                    # Long TXT values are split into 255-byte strings like real zone files do.
                    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
                    text = " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)
                rrset.add(dns.rdata.from_text(dns.rdataclass.IN, rrset.rdtype, text), ttl=60)
            response.answer.append(rrset)
    return response.to_wire()


class DNSServer:
    """Start with `start()`; `port` is the UDP and TCP port on 127.0.0.1."""

    def __init__(self, zone: Zone | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.zone = zone or Zone()
        self.host = host
        self.queries = 0
        zone_ref, server_ref = self.zone, self

        class UDPHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                server_ref.queries += 1
                try:
                    sock.sendto(_answer(zone_ref, data), self.client_address)
                except Exception:  # a malformed query is dropped, like a real server
                    return

        class TCPHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn: socket.socket = self.request
                header = conn.recv(2)
                if len(header) < 2:
                    return
                (length,) = struct.unpack("!H", header)
                data = b""
                while len(data) < length:
                    chunk = conn.recv(length - len(data))
                    if not chunk:
                        return
                    data += chunk
                server_ref.queries += 1
                reply = _answer(zone_ref, data)
                conn.sendall(struct.pack("!H", len(reply)) + reply)

        socketserver.ThreadingUDPServer.allow_reuse_address = True
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        # UDP and TCP on one port: a port free for UDP may be taken for TCP (by a connection of a
        # test running beside this one), so a random port is tried again until both are free.
        for attempt in range(100):
            self._udp = socketserver.ThreadingUDPServer((host, port), UDPHandler)
            self.port = self._udp.server_address[1]
            try:
                self._tcp = socketserver.ThreadingTCPServer((host, self.port), TCPHandler)
                break
            except OSError:
                self._udp.server_close()
                if port or attempt == 99:
                    raise
        self._udp.daemon_threads = True
        self._tcp.daemon_threads = True

    def start(self) -> DNSServer:
        for server in (self._udp, self._tcp):
            threading.Thread(target=server.serve_forever, daemon=True, name="test-dns").start()
        return self

    def stop(self) -> None:
        for server in (self._udp, self._tcp):
            server.shutdown()
            server.server_close()
