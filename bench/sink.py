"""The remote MX of the benchmark: an SMTP sink that notes when each message arrives."""

from __future__ import annotations

import re
import time

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.smtp_sink import SinkHandler, SMTPSink

BENCH_ID = re.compile(rb"^X-Bench-Id:[ \t]*(\d+)[ \t]*\r?$", re.MULTILINE | re.IGNORECASE)


class TimingHandler(SinkHandler):
    """The sink's handler, keeping only the monotonic receive time of each `X-Bench-Id`."""

    def __init__(self) -> None:
        super().__init__()
        self.received_at: dict[int, float] = {}
        self.duplicates = 0
        self.unknown = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        reply = await super().handle_DATA(server, session, envelope)
        with self._cond:
            if not reply.startswith("250") or not self.messages:
                return reply
            # The parent appended this message without awaiting: it is the last one. Only its time
            # and id are kept, so long runs do not hold every message in memory.
            item = self.messages.pop()
            headers = item.data.partition(b"\r\n\r\n")[0]
            match = BENCH_ID.search(headers)
            if match is None:
                self.unknown += 1
            else:
                bench_id = int(match.group(1))
                if bench_id in self.received_at:
                    self.duplicates += 1
                else:
                    self.received_at[bench_id] = item.at
            self._cond.notify_all()
        return reply

    def wait_for_ids(self, ids: set[int], timeout: float, progress_every: float = 30.0) -> int:
        """Wait until every id in `ids` has arrived or `timeout` passes; how many arrived."""
        deadline = time.monotonic() + timeout
        next_report = time.monotonic() + progress_every
        with self._cond:
            while True:
                # Cheap test first: the set comparison only once enough messages are in.
                if len(self.received_at) >= len(ids) and ids <= self.received_at.keys():
                    return len(ids)
                now = time.monotonic()
                if now >= deadline:
                    return len(ids & self.received_at.keys())
                if now >= next_report:
                    arrived = len(ids & self.received_at.keys())
                    print(f"  … {arrived}/{len(ids)} delivered to the sink", flush=True)
                    next_report = now + progress_every
                self._cond.wait(min(deadline, next_report) - now)

    def snapshot(self) -> dict[int, float]:
        with self._cond:
            return dict(self.received_at)


class TimingSink(SMTPSink):
    def __init__(self) -> None:
        super().__init__()
        self.handler: TimingHandler = TimingHandler()
