"""Transactions are retried when MariaDB reports a deadlock, and only then."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from core.db import retryable, run_transaction
from core.runtime import Runtime
from tests.conftest import Backend


def test_a_real_deadlock_is_run_again(backend: Backend, runtime: Runtime) -> None:
    if not backend.external:
        pytest.skip("SQLite serialises writers instead of deadlocking (BEGIN IMMEDIATE)")
    engine = runtime.db.engine
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE deadlock_demo (id INT PRIMARY KEY, v INT) ENGINE=InnoDB"))
        conn.execute(text("INSERT INTO deadlock_demo VALUES (1, 0), (2, 0), (3, 0), (4, 0)"))
    both_hold_a_row = threading.Barrier(2)
    attempts = []

    def holder() -> None:
        with engine.begin() as conn:
            # More changes than the other side: InnoDB rolls back the smaller transaction.
            conn.execute(text("UPDATE deadlock_demo SET v = v + 1 WHERE id IN (1, 3, 4)"))
            both_hold_a_row.wait()
            conn.execute(text("UPDATE deadlock_demo SET v = v + 1 WHERE id = 2"))

    def victim(conn: Connection) -> None:
        attempts.append(1)
        conn.execute(text("UPDATE deadlock_demo SET v = v + 10 WHERE id = 2"))
        if len(attempts) == 1:
            both_hold_a_row.wait()
            threading.Event().wait(0.3)  # let the holder block on row 2 first
        conn.execute(text("UPDATE deadlock_demo SET v = v + 10 WHERE id = 1"))

    thread = threading.Thread(target=holder)
    thread.start()
    run_transaction(engine, victim)
    thread.join()
    assert len(attempts) == 2
    with engine.connect() as conn:
        assert dict(conn.execute(text("SELECT id, v FROM deadlock_demo")).all()) == {1: 11, 2: 11, 3: 1, 4: 1}


def test_other_errors_are_not_retried(runtime: Runtime) -> None:
    attempts = []

    def broken(conn: Connection) -> None:
        attempts.append(1)
        conn.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(DBAPIError) as error:
        run_transaction(runtime.db.engine, broken)
    assert len(attempts) == 1 and not retryable(error.value)
