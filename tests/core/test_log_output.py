"""Where log lines go: written by a thread of their own when stdout is a pipe or a file, with the
context of the code that logged them, and all of them out by the time the process has exited."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.logs import BackgroundOutput, JSONFormatter, log_context, output_handler

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, stdout: int | io.BufferedWriter = subprocess.PIPE) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=stdout,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_a_pipe_or_a_file_is_written_in_the_background(tmp_path: Path) -> None:
    # Given stdout as a file, and as something without a descriptor
    with (tmp_path / "out.log").open("w") as file:
        background = output_handler(file, JSONFormatter())  # type: ignore[arg-type]
        at_once = output_handler(io.StringIO(), JSONFormatter())
        try:
            # Then the file gets the background writer and the other is written at once
            assert isinstance(background, BackgroundOutput)
            assert not isinstance(at_once, BackgroundOutput)
        finally:
            background.close()


def test_lines_carry_the_context_of_the_code_that_logged_them(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    with path.open("w") as file:
        handler = output_handler(file, JSONFormatter())  # type: ignore[arg-type]
        logger = logging.getLogger("core.test.background")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        try:
            # When lines are logged inside and outside a context, then the handler is closed
            with log_context(request_id="ABC123", message_id=42):
                logger.info("inside %s", "the context")
            logger.info("outside")
        finally:
            logger.removeHandler(handler)
            handler.close()
    # Then each line has the context it was logged in, though another thread wrote it
    inside, outside = (json.loads(line) for line in path.read_text().splitlines())
    assert inside["message"] == "inside the context" and inside["message_id"] == 42
    assert inside["request_id"] == "ABC123" and "request_id" not in outside


def test_every_line_is_out_when_the_process_exits() -> None:
    # When a process logs many lines to a pipe and exits at once, with an error last
    result = run_python(
        """
        import logging
        from core.logs import setup_logging
        setup_logging()
        log = logging.getLogger("core.test")
        for n in range(2000):
            log.info("line %d", n)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("failed")
        log.info("after the error")
        """
    )
    # Then every line is there, in order, the traceback with its line
    lines = result.stdout.decode().splitlines()
    assert result.returncode == 0, result.stderr
    numbered = [line for line in lines if "core.test] line " in line]
    assert [int(line.rsplit(" ", 1)[1]) for line in numbered] == list(range(2000))
    assert any("RuntimeError: boom" in line for line in lines)
    assert lines[-1].endswith("after the error")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_writes_its_own_lines() -> None:
    # When a process that logs to a pipe forks, and parent and child both log
    result = run_python(
        """
        import logging, os
        from core.logs import setup_logging
        setup_logging()
        log = logging.getLogger("core.test")
        log.info("before the fork")
        pid = os.fork()
        if pid == 0:
            log.info("in the child")
            logging.shutdown()
            os._exit(0)
        os.waitpid(pid, 0)
        log.info("in the parent")
        """
    )
    # Then each line appears once
    text = result.stdout.decode()
    assert result.returncode == 0, result.stderr
    for line in ("before the fork", "in the child", "in the parent"):
        assert text.count(line) == 1, text
