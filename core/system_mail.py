"""E-mails the platform sends about itself (password resets, domain verification codes, suspension
notices), through the `smtp` section's server as Postal's own mail is."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from core.config import Config
from core.errors import PostalError

log = logging.getLogger(__name__)
TIMEOUT = 10.0


class SystemMailFailed(PostalError):
    pass


def compose(config: Config, to: str, subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((config.smtp.from_name, config.smtp.from_address))
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=config.smtp.from_address.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    return message


def send_system_mail(config: Config, to: str, subject: str, text: str) -> None:
    """Send one plain-text message now; `SystemMailFailed` says why it could not be sent."""
    settings = config.smtp
    message = compose(config, to, subject, text)
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT) as client:
            client.ehlo()
            if settings.enable_starttls or (settings.enable_starttls_auto and client.has_extn("starttls")):
                context = ssl.create_default_context()
                if settings.openssl_verify_mode == "none":
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                client.starttls(context=context)
                client.ehlo()
            if settings.username:
                client.login(settings.username, settings.password)
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("could not send %r to %s through %s:%s: %s", subject, to, settings.host, settings.port, exc)
        raise SystemMailFailed(f"the e-mail could not be sent ({exc})") from exc
