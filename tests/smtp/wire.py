"""A raw SMTP client for tests: sends bytes exactly as given and returns replies line by line,
where smtplib would tidy both up."""

from __future__ import annotations

import socket
import ssl


class Wire:
    def __init__(self, port: int, *, tls: ssl.SSLContext | None = None, timeout: float = 15.0) -> None:
        self.sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self._file = self.sock.makefile("rb")

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()
        self.sock.close()

    def send(self, data: bytes | str) -> None:
        """A str is one command line (CRLF added); bytes go out as they are."""
        self.sock.sendall(data if isinstance(data, bytes) else f"{data}\r\n".encode())

    def reply(self) -> list[str]:
        """The lines of the next reply, CRLF removed; EOFError when the server closed instead."""
        lines: list[str] = []
        while True:
            raw = self._file.readline()
            if not raw:
                raise EOFError(f"connection closed after {lines!r}")
            line = raw.decode().rstrip("\r\n")
            lines.append(line)
            if line[3:4] != "-":
                return lines

    def command(self, line: bytes | str) -> list[str]:
        self.send(line)
        return self.reply()

    def one(self, line: bytes | str) -> str:
        """A command whose reply is a single line."""
        (reply,) = self.command(line)
        return reply

    def closed_by_server(self) -> bool:
        """Waits until the server closes the connection (True) or sends more (False)."""
        try:
            return self._file.read(1) == b""
        except ConnectionResetError:
            return True

    def starttls(self, context: ssl.SSLContext) -> None:
        self._file.close()
        self.sock = context.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self._file = self.sock.makefile("rb")
