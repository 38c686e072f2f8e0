"""Checks that MariaDB and RabbitMQ are reachable, and a throw-away RabbitMQ vhost for a test run."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def mariadb_reachable(host: str, port: int) -> bool:
    if not _port_open(host, port):
        return False
    import MySQLdb

    try:
        MySQLdb.connect(host=host, port=port, user="root", connect_timeout=3).close()
    except MySQLdb.Error:
        return False
    return True


def rabbitmq_reachable(host: str, port: int) -> bool:
    if not _port_open(host, port):
        return False
    import pika

    try:
        pika.BlockingConnection(
            pika.ConnectionParameters(host=host, port=port, connection_attempts=1, socket_timeout=3)
        ).close()
    except pika.exceptions.AMQPError:
        return False
    return True


@contextlib.contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A fresh vhost for this test run (so leftovers of other runs never reach our workers),
    made with rabbitmqctl when it is on this machine; else the default vhost `/`."""
    override = os.environ.get("POSTAL_TEST_RABBITMQ_VHOST")
    ctl = shutil.which("rabbitmqctl")
    if override or ctl is None:
        yield override or "/"
        return
    name = f"postal-test-{uuid.uuid4().hex[:8]}"
    subprocess.run([ctl, "add_vhost", name], check=True, capture_output=True, timeout=60)
    subprocess.run(
        [ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    try:
        yield name
    finally:
        subprocess.run([ctl, "delete_vhost", name], check=False, capture_output=True, timeout=60)
