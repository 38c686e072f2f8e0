"""Tables of a mail server's own message database (reference §2.2)."""

from models.message.complaint import Complaint
from models.message.delivery import Delivery
from models.message.link import Click, Link, Load
from models.message.live_stat import LiveStat
from models.message.message import Message
from models.message.raw import RawMessageSize, raw_table
from models.message.spam_check import SpamCheck
from models.message.stat import STAT_TABLES, StatDaily, StatHourly, StatMonthly, StatYearly
from models.message.suppression import Suppression
from models.message.webhook_request import WebhookRequestHistory

__all__ = [
    "STAT_TABLES",
    "Click",
    "Complaint",
    "Delivery",
    "Link",
    "LiveStat",
    "Load",
    "Message",
    "RawMessageSize",
    "SpamCheck",
    "StatDaily",
    "StatHourly",
    "StatMonthly",
    "StatYearly",
    "Suppression",
    "WebhookRequestHistory",
    "raw_table",
]
