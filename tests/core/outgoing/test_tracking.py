"""The tracking rewrite (reference §3.5) on real-world message shapes, and in the outgoing
pipeline: only through a track domain with DNS OK, stored so that a retry never rewrites twice."""

from __future__ import annotations

import base64
import email
import itertools
from email import policy
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select, update

from core.mail import dkim
from core.mail.headers import join_raw, split_raw
from core.outgoing.tracking import ActiveTrackDomain, rewrite
from core.signing import signing_key
from models.base import table
from models.message.link import Link
from tests.conftest import Installation
from tests.core.mail.test_dkim import dkimpy_verify
from tests.support.dns_server import Zone
from tests.support.outgoing import QM, message, run_queue, send, stored_raw
from tests.support.smtp_sink import SMTPSink
from tests.support.tracking import track_domain, tracking_urls

TRACK = ActiveTrackDomain("https://track.example.com", True, True, frozenset({"unsub.example.com"}))
LINKS = table(Link)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.4\x00\xff\xfe binary data" * 40


def tracked(raw: bytes, track: ActiveTrackDomain = TRACK) -> tuple[bytes, Any]:
    tokens = (f"tok{n}" for n in itertools.count())
    header_block, body = split_raw(raw)
    result = rewrite(header_block, body, track, "srv", "msgtoken", new_token=lambda: next(tokens))
    return join_raw(result.header_block, result.body), result


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(part: Any) -> str:
    return str(part.get_content()).replace("\r\n", "\n")


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("latin-1")


def test_multipart_alternative_with_encoded_bodies_gets_tracked_links_and_the_pixel() -> None:
    # Given a plain part in quoted-printable and an HTML part in base64
    html = '<html><body><p>Grüße</p><a href="https://shop.example/p?a=1&amp;b=2">Shop</a></body></html>'
    raw = crlf(
        'From: orders@example.com\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="b1"\n\n'
        "This is a multi-part message.\n--b1\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable\n\nGr=C3=BC=C3=9Fe, see https://shop.example/order/1.\n"
        "--b1\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(html.encode()).decode()
        + "--b1--\nthe epilogue\n"
    )

    # When it is rewritten
    new, result = tracked(raw)

    # Then each URL is a stored link, replaced by <base>/<server token>/<link token>
    assert result.links == [("tok0", "https://shop.example/order/1"), ("tok1", "https://shop.example/p?a=1&b=2")]
    plain, rich = [p for p in parsed(new).walk() if p.get_content_maintype() == "text"]
    # (the CRLF before a boundary belongs to the boundary, RFC 2046 §5.1.1)
    assert text_of(plain) == "Grüße, see https://track.example.com/srv/tok0."
    assert "<a href=\"https://track.example.com/srv/tok1\">Shop</a><p class='ampimg'" in text_of(rich)
    # And the hidden image comes before </body>, counted once
    assert "<img src='https://track.example.com/img/srv/msgtoken' alt=''></p></body></html>" in text_of(rich)
    assert result.tracked_images == 1
    # And the rewritten parts are UTF-8, with the preamble, epilogue and top headers untouched
    assert plain.get_content_charset() == rich.get_content_charset() == "utf-8"
    assert new.startswith(raw.split(b"--b1")[0]) and new.endswith(b"--b1--\r\nthe epilogue\r\n")


def test_multipart_related_inline_image_and_attachments_survive_byte_for_byte() -> None:
    # Given a message with an HTML part and its inline image, a PDF and an attached text file
    image = "Content-Type: image/png\nContent-Transfer-Encoding: base64\nContent-ID: <logo@shop>\n\n"
    image_part = crlf(image) + base64.encodebytes(PNG).replace(b"\n", b"\r\n")
    pdf_part = (
        crlf('Content-Type: application/pdf; name="a.pdf"\nContent-Transfer-Encoding: base64\n'
             'Content-Disposition: attachment; filename="a.pdf"\n\n')
        + base64.encodebytes(PDF).replace(b"\n", b"\r\n")
    )  # fmt: skip
    text_file = crlf(
        'Content-Type: text/plain; name="links.txt"\nContent-Disposition: attachment; filename="links.txt"\n\n'
        "https://shop.example/raw-data\n"
    )
    raw = (
        crlf('From: orders@example.com\nContent-Type: multipart/mixed; boundary="mix"\n\n--mix\n'
             'Content-Type: multipart/related; boundary="rel"\n\n--rel\nContent-Type: text/html; charset=utf-8\n\n'
             '<body><a href="https://shop.example/">x</a><img src="cid:logo@shop"></body>\n--rel\n')
        + image_part + b"\r\n--rel--\r\n\r\n--mix\r\n" + pdf_part + b"\r\n--mix\r\n" + text_file + b"--mix--\r\n"
    )  # fmt: skip

    # When it is rewritten
    new, result = tracked(raw)

    # Then only the HTML changed: the image, the PDF and the attached text file are the same bytes
    assert result.links == [("tok0", "https://shop.example/")]
    assert image_part in new and pdf_part in new and text_file in new
    parts = {p.get_content_type(): p for p in parsed(new).walk()}
    assert parts["image/png"].get_content() == PNG
    assert parts["application/pdf"].get_content() == PDF
    assert '<img src="cid:logo@shop">' in text_of(parts["text/html"])


def test_other_charsets_are_decoded_and_re_encoded_as_utf8() -> None:
    # Given ISO-8859-1 plain text and Shift_JIS HTML, in 8bit
    latin = "Café crème: https://shop.example/menu\n"
    japanese = '<html><body><p>ご注文ありがとうございます</p><a href="https://shop.example/jp">注文</a></body></html>'
    raw = (
        crlf('From: orders@example.com\nContent-Type: multipart/alternative; boundary="b"\n\n--b\n'
             "Content-Type: text/plain; charset=ISO-8859-1; format=flowed\nContent-Transfer-Encoding: 8bit\n\n")
        + latin.encode("iso-8859-1").replace(b"\n", b"\r\n")
        + crlf('--b\nContent-Type: text/html; charset="Shift_JIS"\nContent-Transfer-Encoding: 8bit\n\n')
        + japanese.encode("shift_jis") + b"\r\n--b--\r\n"
    )  # fmt: skip

    new, result = tracked(raw)

    # Then the text reads the same, now in UTF-8 with its other parameters kept
    plain, rich = [p for p in parsed(new).walk() if p.get_content_maintype() == "text"]
    assert text_of(plain) == "Café crème: https://track.example.com/srv/tok0"
    assert plain.get_content_charset() == "utf-8" and plain.get_param("format") == "flowed"
    assert "<p>ご注文ありがとうございます</p>" in text_of(rich) and rich.get_content_charset() == "utf-8"
    assert [url for _, url in result.links] == ["https://shop.example/menu", "https://shop.example/jp"]
    assert all(len(line) <= 998 for line in new.split(b"\r\n"))


def test_excluded_hosts_and_notrack_links_are_left_alone() -> None:
    raw = crlf(
        "From: orders@example.com\nContent-Type: text/html\n\n"
        "<a href='http://unsub.example.com/u?x=1'>unsubscribe</a> <a href=\"https+notrack://shop.example/raw\">raw</a>"
        ' <a href="mailto:help@shop.example">mail</a> <a HREF="HTTPS://Shop.Example:8443/a">port</a>'
    )

    new, result = tracked(raw)

    # Then the excluded host stays, the notrack scheme becomes plain, and only the last link is tracked
    text = text_of(parsed(new))
    assert "<a href='http://unsub.example.com/u?x=1'>" in text
    assert '<a href="https://shop.example/raw">' in text and "mailto:help@shop.example" in text
    assert result.links == [("tok0", "HTTPS://Shop.Example:8443/a")]
    # And a part without </body> gets the image at the end
    assert text.endswith("<img src='https://track.example.com/img/srv/msgtoken' alt=''></p>")


def test_text_urls_lose_trailing_punctuation_to_the_text_and_settings_are_obeyed() -> None:
    raw = crlf("From: o@example.com\nContent-Type: text/plain\n\n(see https://shop.example/a/b), http://x.example!\n")
    new, result = tracked(raw)
    assert text_of(parsed(new)) == "(see https://track.example.com/srv/tok0), https://track.example.com/srv/tok1!\n"
    assert [url for _, url in result.links] == ["https://shop.example/a/b", "http://x.example"]
    assert result.tracked_images == 0  # no image in plain text

    html = crlf("From: o@example.com\nContent-Type: text/html\n\n<body><a href='https://a.example/'>a</a></body>")
    _, loads_only = tracked(html, ActiveTrackDomain("http://t.example.com", False, True, frozenset()))
    assert (loads_only.links, loads_only.tracked_images) == ([], 1)
    clicks_only_raw, clicks_only = tracked(html, ActiveTrackDomain("http://t.example.com", True, False, frozenset()))
    assert (len(clicks_only.links), clicks_only.tracked_images) == (1, 0)
    assert b"http://t.example.com/srv/tok0" in clicks_only_raw


def test_messages_it_must_not_touch_are_kept_as_they_are() -> None:
    signed = crlf(
        'From: o@example.com\nContent-Type: multipart/signed; protocol="application/pgp-signature"; boundary="s"\n\n'
        "--s\nContent-Type: text/plain\n\nhttps://shop.example/\n--s\nContent-Type: application/pgp-signature\n\nsig\n"
        "--s--\n"
    )
    undecodable = (
        crlf("From: o@example.com\nContent-Type: text/plain; charset=utf-8\n\n") + b"\xff\xfe https://a.example/\r\n"
    )
    nothing = crlf("From: o@example.com\nContent-Type: text/plain\n\nNo links here.\n")
    for raw in (signed, undecodable, nothing):
        new, result = tracked(raw)
        assert (new, result.changed, result.links, result.tracked_images) == (raw, False, [], 0)


# -- in the pipeline ------------------------------------------------------------------------------

HTML_MAIL = crlf(
    'From: Shop <orders@example.com>\nTo: c@example.net\nSubject: Order\nMIME-Version: 1.0\n'
    'Content-Type: multipart/alternative; boundary="alt"\n\n--alt\nContent-Type: text/plain; charset=utf-8\n\n'
    "Track it at https://shop.example/track/1\n--alt\nContent-Type: text/html; charset=utf-8\n\n"
    '<html><body><a href="https://shop.example/track/1">Track</a></body></html>\n--alt--\n'
)  # fmt: skip


def links_of(installation: Installation, message_id: int) -> list[Any]:
    with installation.runtime.message_dbs.get(installation.server_id).engine.connect() as conn:
        return list(conn.execute(select(LINKS).where(LINKS.c.message_id == message_id).order_by(LINKS.c.id)))


def publish_signing_key(installation: Installation, zone: Zone) -> None:
    pem = signing_key(installation.runtime.config.signing_key_path).pem
    zone.set("postal._domainkey.rp.postal.test", "TXT", dkim.dns_record(pem))


def test_mail_through_a_checked_track_domain_is_rewritten_signed_and_stored(
    installation: Installation, smtp_sink: SMTPSink, zone: Zone
) -> None:
    # Given a track domain whose CNAME checks out
    assert track_domain(installation, zone) == "OK"
    publish_signing_key(installation, zone)

    # When a message is processed to the MX
    send(installation, "c@example.net", raw=HTML_MAIL)
    run_queue(installation)

    # Then the MX receives tracked links and the image, and the DKIM signature covers them
    wire = smtp_sink.wait_for(1)[0].data
    links, pixels = tracking_urls(wire)
    row = message(installation)
    stored = links_of(installation, row["id"])
    server = installation.server_token
    assert links == [f"https://track.example.com/{server}/{link.token}" for link in stored]
    assert [link.url for link in stored] == ["https://shop.example/track/1"] * 2
    assert pixels == [f"https://track.example.com/img/{server}/{row['token']}"]
    assert dkimpy_verify(zone, wire)
    # And the message is marked parsed with its counts, its stored raw being what was sent
    assert (row["status"], row["parsed"], row["tracked_links"], row["tracked_images"]) == ("Sent", True, 2, 1)
    assert wire.endswith(stored_raw(installation))


def test_a_retry_sends_the_stored_rewrite_without_rewriting_again(
    installation: Installation, smtp_sink: SMTPSink, zone: Zone
) -> None:
    track_domain(installation, zone)
    smtp_sink.handler.rcpt_replies["c@example.net"] = "451 4.3.0 try later"
    [qid] = send(installation, "c@example.net", raw=HTML_MAIL)
    run_queue(installation)
    first = stored_raw(installation)
    assert message(installation)["status"] == "SoftFail" and len(links_of(installation, 1)) == 2

    # When the retry goes through
    del smtp_sink.handler.rcpt_replies["c@example.net"]
    with installation.runtime.db.engine.begin() as conn:
        conn.execute(update(QM).where(QM.c.id == qid).values(retry_after=None))
    run_queue(installation)

    # Then it sends the stored message as it was: no new links, one image, one signature
    wire = smtp_sink.wait_for(1)[0].data
    assert stored_raw(installation) == first and wire.endswith(first)
    assert len(links_of(installation, 1)) == 2
    assert wire.count(b"ampimg") == 1 and wire.count(b"DKIM-Signature:") == 1


def test_recipients_sharing_one_raw_message_each_get_their_own_rewrite(
    installation: Installation, smtp_sink: SMTPSink, zone: Zone
) -> None:
    track_domain(installation, zone)
    publish_signing_key(installation, zone)
    raw = HTML_MAIL.replace(b"To: c@example.net", b"To: a@example.net, b@example.net")
    send(installation, "a@example.net", "b@example.net", raw=raw)
    run_queue(installation)

    received = {m.rcpt_tos[0]: m.data for m in smtp_sink.wait_for(2)}
    for message_id, rcpt in ((1, "a@example.net"), (2, "b@example.net")):
        row = message(installation, message_id)
        links, pixels = tracking_urls(received[rcpt])
        assert pixels == [f"https://track.example.com/img/{installation.server_token}/{row['token']}"]
        assert [url.rsplit("/", 1)[1] for url in links] == [link.token for link in links_of(installation, message_id)]
        assert f"X-Postal-MsgID: {row['token']}".encode() in received[rcpt]
        assert dkimpy_verify(zone, received[rcpt])


def test_messages_are_left_alone_without_a_checked_track_domain_or_with_x_amp_skip(
    installation: Installation, smtp_sink: SMTPSink, zone: Zone
) -> None:
    # Given a track domain whose CNAME is missing
    assert track_domain(installation, zone, cname=False) == "Missing"
    send(installation, "c@example.net", raw=HTML_MAIL)
    run_queue(installation)
    assert b"track.example.com" not in smtp_sink.wait_for(1)[0].data
    assert not message(installation, 1)["parsed"]

    # And once it checks out, a message asking `X-AMP: skip` is still not tracked
    track_domain_ok(installation, zone)
    send(installation, "c@example.net", raw=b"X-AMP: skip\r\n" + HTML_MAIL)
    run_queue(installation)
    skipped = smtp_sink.wait_for(2)[1].data
    assert b"track.example.com" not in skipped and b"https://shop.example/track/1" in skipped
    assert not message(installation, 2)["parsed"] and links_of(installation, 2) == []


def track_domain_ok(installation: Installation, zone: Zone) -> None:
    from core.dns import make_resolver
    from core.tenancy.dns_checks import domain_lookup
    from core.tenancy.track_domains import check_track_domain, domain_of, full_name
    from models.track_domain import TrackDomain

    runtime = installation.runtime
    zone.set("track.example.com", "CNAME", runtime.config.dns.track_domain + ".")
    with runtime.db.transaction() as session:
        for track in session.scalars(select(TrackDomain)):
            domain = domain_of(session, track)
            lookup = domain_lookup(runtime.config, make_resolver(runtime.config), full_name(track, domain))
            assert check_track_domain(runtime.config, lookup, track, domain)
    runtime.track_domains.forget()


def test_a_message_without_any_track_domain_is_not_touched(installation: Installation, smtp_sink: SMTPSink) -> None:
    send(installation, "c@example.net", raw=HTML_MAIL)
    run_queue(installation)
    wire = smtp_sink.wait_for(1)[0].data
    assert wire.endswith(split_raw(HTML_MAIL)[1]) and not message(installation)["parsed"]
