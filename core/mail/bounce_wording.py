"""What reporting MTAs write in their own words: the phrases that say a failure is permanent,
temporary or only a delay, the status codes they put in prose, and the signs of an automatic reply.

The bounce parser (`core.mail.dsn`) falls back on these where a delivery status notification
does not say it in its fields (no `Status`, no `Action`), or where there is no notification at all
(a plain-text bounce). They are kept as data, each rule with the MTA it comes from, so that a new
MTA's wording is a new line here, not another branch in the parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

HARD = "hard"
SOFT = "soft"
DELAY = "delay"


@dataclass(frozen=True)
class Wording:
    """A phrase of one MTA (or of many, `generic`) and what it says. `strong` phrases are specific
    to failure reports; the generic ones ("temporarily", "does not exist") may also be found in an
    out-of-office reply, so they never turn an automatic reply into a bounce."""

    mta: str
    kind: str  # HARD, SOFT or DELAY
    pattern: re.Pattern[str]
    strong: bool = True


def _rule(mta: str, kind: str, pattern: str, strong: bool = True) -> Wording:
    return Wording(mta, kind, re.compile(pattern, re.IGNORECASE), strong)


QMAIL_STATUS = re.compile(r"\(#(?P<code>[245]\.\d{1,3}\.\d{1,3})\)")
# Status codes written in prose, most specific first: the first match gives the recipient's status.
STATUS_IN_PROSE: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("qmail", QMAIL_STATUS),
    # Exchange / Office 365: "550 5.1.10 RESOLVER.ADR.RecipientNotFound", "Remote Server returned '550 5.1.1 …'"
    ("Exchange", re.compile(r"\b[245]\d\d[ -](?P<code>[245]\.\d{1,3}\.\d{1,3})\s+[A-Z]+\.[A-Z]+")),
    ("Exchange", re.compile(r"Remote Server returned '(?:[245]\d\d )?#?(?P<code>[245]\.\d{1,3}\.\d{1,3})")),
    # Yahoo: "550: 5.1.1 <user>… ", Gmail: "550 5.1.1 The email account …", Postfix: "said: 550 5.1.1 …"
    ("generic", re.compile(r"\b[245]\d\d[ :-]+(?P<code>[245]\.\d{1,3}\.\d{1,3})(?![\d.])")),
    ("generic", re.compile(r"(?<![\d.])(?P<code>[245]\.\d{1,3}\.\d{1,3})(?![\d.])")),
)

# In the order they are tried: a delay warning says so before anything else; then the phrases of
# permanent failures, then those of temporary ones.
WORDING: tuple[Wording, ...] = (
    _rule("Postfix", DELAY, r"this is a warning only|delayed mail \(still being retried\)"),
    _rule("Exim", DELAY, r"has not yet been delivered|warning: message \S+ delayed"),
    _rule("Sendmail", DELAY, r"warning: could not send message for past"),
    _rule("Gmail", DELAY, r"delivery to the following recipients? (?:has been|is) delayed|delivery incomplete"),
    _rule("Exchange", DELAY, r"delivery has been delayed|couldn't be delivered yet|hasn't been delivered yet"),
    _rule("OpenSMTPD", DELAY, r"temporarily failed to deliver|will be retried|still trying"),
    _rule("generic", DELAY, r"will (?:continue|keep) (?:trying|to try)|will retry", strong=False),
    _rule("Exim", HARD, r"this is a permanent error"),
    _rule("Haraka", HARD, r"this is a permanent error"),
    _rule("qmail", HARD, r"i'm not going to try again|this is a permanent error"),
    _rule("Gmail", HARD, r"failed permanently|the email account that you tried to reach does not exist"),
    _rule("Exchange", HARD, r"delivery has failed to these recipients|couldn't be delivered to .{0,200}?wasn't found"),
    _rule("Exchange", HARD, r"the email address you entered couldn't be found|recipientnotfound"),
    _rule("Yahoo", HARD, r"permanent failure|this user doesn't have a \S+ account"),
    _rule("Postfix", HARD, r"user unknown in (?:local|virtual|relay) recipient table"),
    _rule("generic", HARD, r"user unknown|unknown user|no such (?:user|mailbox|recipient)"),
    # "I have permanently left the company" is an out-of-office classic: weak.
    _rule("generic", HARD, r"\bpermanent(?:ly)?\b", strong=False),
    _rule("generic", HARD, r"mailbox (?:unavailable|not found|does not exist)|address rejected", strong=False),
    _rule("Exim", SOFT, r"retry timeout exceeded"),
    _rule("Postfix", SOFT, r"delivery temporarily suspended"),
    _rule("generic", SOFT, r"mailbox (?:is )?full|over quota|quota exceeded|insufficient (?:system )?storage"),
    _rule("generic", SOFT, r"temporar(?:y|ily)|try again later", strong=False),
)


# Words that say the MTA gave up because the recipient's time in its queue ran out: the report is
# final even where its fields call it a delay (OpenSMTPD's "Envelope expired" under
# `Action: delayed`).
EXPIRY: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("OpenSMTPD", re.compile(r"\benvelope expired\b", re.IGNORECASE)),
    ("Exim", re.compile(r"retry timeout exceeded", re.IGNORECASE)),
    ("Postfix", re.compile(r"\bstatus=expired\b|message was queued for too long", re.IGNORECASE)),
)


def says_expired(text: str) -> bool:
    return any(pattern.search(text) for _, pattern in EXPIRY)


def status_in_prose(text: str) -> str | None:
    """The first RFC 3463 status code the text gives, e.g. qmail's `(#5.1.1)`; None if none."""
    for _, pattern in STATUS_IN_PROSE:
        match = pattern.search(text)
        if match:
            return match.group("code")
    return None


def wording_kind(text: str, strong_only: bool = False) -> str | None:
    """HARD, SOFT or DELAY by the first rule the text matches; None when no rule does."""
    for rule in WORDING:
        if (rule.strong or not strong_only) and rule.pattern.search(text):
            return rule.kind
    return None


# Automatic replies (RFC 3834 and the conventions before it), as (header, pattern of its value).
AUTO_REPLY_HEADERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("auto-submitted", re.compile(r"^(?!no\b)\S", re.IGNORECASE)),  # any value but "no"
    ("x-autoreply", re.compile(r".", re.IGNORECASE)),
    ("x-autorespond", re.compile(r".", re.IGNORECASE)),
    ("x-autoresponder", re.compile(r".", re.IGNORECASE)),
    ("precedence", re.compile(r"^auto[_-]reply\b", re.IGNORECASE)),
)
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:out of (?:the )?office|automatic reply|auto(?:matic)?[ -]?(?:reply|response)|autoreply|"
    r"abwesenheitsnotiz|r[ée]ponse automatique|respuesta autom[áa]tica|on vacation|away from (?:the )?office)",
    re.IGNORECASE,
)


def auto_reply_signs(message: Message, subject: str) -> list[str]:
    """What marks `message` as an automatic reply (header names, or `subject`); empty if nothing."""
    signs = [
        name
        for name, pattern in AUTO_REPLY_HEADERS
        if (value := message.get(name)) is not None and pattern.search(" ".join(str(value).split()))
    ]
    if AUTO_REPLY_SUBJECT.search(subject):
        signs.append("subject")
    return signs
