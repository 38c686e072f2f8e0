"""Suspending a server tells every user of its organization by e-mail, and so does unsuspending."""

from __future__ import annotations

from dataclasses import replace

from core.tenancy.memberships import set_membership
from core.tenancy.organizations import find_organization
from core.tenancy.servers import find_server
from core.tenancy.suspensions import send_notice, suspend_server, unsuspend_server
from core.tenancy.users import create_user
from tests.conftest import Installation
from tests.support.smtp_sink import SMTPSink


def test_the_organizations_people_hear_of_a_suspension(installation: Installation, smtp_sink: SMTPSink) -> None:
    runtime = installation.runtime
    config = replace(runtime.config, smtp=replace(runtime.config.smtp, host="127.0.0.1", port=smtp_sink.port))
    with runtime.db.transaction() as session:
        org = find_organization(session, "acme")
        for email in ("boss@example.com", "dev@example.com"):
            set_membership(session, org, create_user(session, email, "long enough"), False, None)
        create_user(session, "outsider@example.com", "long enough")
        server = find_server(session, "acme/main")
        notice = suspend_server(session, config, server, "  sending spam ")
        assert server.suspended_at is not None and server.suspension_reason == "sending spam"
    assert notice.to == ["boss@example.com", "dev@example.com"]

    send_notice(config, notice).join(timeout=30)
    received = smtp_sink.wait_for(2, timeout=30)
    assert sorted(r.rcpt_tos[0] for r in received) == notice.to
    assert b"Subject: [ACME Inc] Main has been suspended" in received[0].data
    assert b"Reason: sending spam" in received[0].data
    assert b"/org/acme/servers/main" in received[0].data

    with runtime.db.transaction() as session:
        server = find_server(session, "acme/main")
        back = unsuspend_server(session, config, server)
        assert server.suspended_at is None and server.suspension_reason is None
    assert "no longer suspended" in back.subject and back.to == notice.to


def test_a_mail_server_that_is_down_does_not_stop_the_suspension(installation: Installation) -> None:
    runtime = installation.runtime
    config = replace(runtime.config, smtp=replace(runtime.config.smtp, host="127.0.0.1", port=1))
    with runtime.db.transaction() as session:
        org = find_organization(session, "acme")
        set_membership(session, org, create_user(session, "boss@example.com", "long enough"), True, None)
        notice = suspend_server(session, config, find_server(session, "acme/main"), "abuse")
    thread = send_notice(config, notice)
    thread.join(timeout=30)
    assert not thread.is_alive()
