"""Web UI sessions: idle and absolute expiry, logout everywhere, hourly cleanup, login throttling."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from core.config.sections import WebUISection
from core.jobs.maintenance import run_task
from core.runtime import Runtime
from core.tenancy import ui_sessions
from core.tenancy.users import create_user
from models.ui_session import LoginFailure, UISession

SETTINGS = WebUISection(session_idle_hours=2, session_max_days=1, login_failures_per_account=3)
T0 = datetime(2026, 12, 1, 9, 0, 0)


def test_sessions_slide_while_used_and_end_when_idle_or_too_old(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        user = create_user(session, "a@example.com", "long enough")
        opened = ui_sessions.open_session(session, user, SETTINGS, T0, ip_address="127.0.0.1")
        assert len(opened.token) >= 40 and opened.session.token_hash != opened.token
    with runtime.db.transaction() as session:
        # Used every 90 minutes, it stays alive past the 2-hour idle limit…
        for step in range(1, 10):
            assert ui_sessions.find_session(session, opened.token, SETTINGS, T0 + timedelta(minutes=90 * step))
        # …but never past the 1-day absolute limit,
        assert ui_sessions.find_session(session, opened.token, SETTINGS, T0 + timedelta(hours=24, seconds=1)) is None
        # and an unknown token finds nothing.
        assert ui_sessions.find_session(session, "not-a-token", SETTINGS, T0) is None
    with runtime.db.transaction() as session:
        idle = ui_sessions.open_session(session, user, SETTINGS, T0)
        assert ui_sessions.find_session(session, idle.token, SETTINGS, T0 + timedelta(hours=2, seconds=1)) is None


def test_logout_everywhere_keeps_only_the_current_session(runtime: Runtime) -> None:
    with runtime.db.transaction() as session:
        user = create_user(session, "b@example.com", "long enough")
        first = ui_sessions.open_session(session, user, SETTINGS, T0)
        second = ui_sessions.open_session(session, user, SETTINGS, T0)
        ui_sessions.close_user_sessions(session, user.id, keep=second.session.id)
        assert ui_sessions.find_session(session, first.token, SETTINGS, T0) is None
        assert ui_sessions.find_session(session, second.token, SETTINGS, T0) is not None


def test_the_hourly_task_deletes_ended_sessions_and_old_failures(runtime: Runtime) -> None:
    now = runtime.clock()
    with runtime.db.transaction() as session:
        user = create_user(session, "c@example.com", "long enough")
        ui_sessions.open_session(session, user, SETTINGS, now - timedelta(days=3))
        ui_sessions.open_session(session, user, runtime.config.web_ui, now)
        ui_sessions.record_login_failure(session, "10.0.0.1", "c@example.com", now - timedelta(hours=1))
        ui_sessions.record_login_failure(session, "10.0.0.1", "c@example.com", now)
    assert run_task(runtime, "cleanup_ui_sessions") == 2
    with runtime.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(UISession)) == 1
        assert session.scalar(select(func.count()).select_from(LoginFailure)) == 1


def test_logins_are_throttled_per_account_and_per_address(runtime: Runtime) -> None:
    settings = WebUISection(login_failures_per_account=3, login_failures_per_address=5, login_failure_window_minutes=10)
    with runtime.db.transaction() as session:
        for i in range(3):
            ui_sessions.record_login_failure(session, f"10.0.0.{i}", "victim@example.com", T0 + timedelta(minutes=i))
        now = T0 + timedelta(minutes=3)
        wait = ui_sessions.login_refused_for(session, settings, "10.9.9.9", "Victim@example.com", now)
        # The oldest failure leaves the window at T0 + 10 min: 7 minutes from now.
        assert wait == 7 * 60
        later = T0 + timedelta(minutes=11)
        assert ui_sessions.login_refused_for(session, settings, "10.9.9.9", "victim@example.com", later) is None
        assert ui_sessions.login_refused_for(session, settings, "10.9.9.9", "other@example.com", T0) is None
        for i in range(5):
            ui_sessions.record_login_failure(session, "192.0.2.1", f"guess{i}@example.com", T0)
        assert ui_sessions.login_refused_for(session, settings, "192.0.2.1", "anyone@example.com", T0) is not None
        ui_sessions.clear_login_failures(session, "VICTIM@example.com")
        assert ui_sessions.login_refused_for(session, settings, "10.9.9.9", "victim@example.com", T0) is None
