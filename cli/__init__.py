"""The `postal` command: set-up, provisioning and the process roles.

This is the one module that knows every role (STYLE, layout): the role commands import `web`,
`smtp`, `actors` and `scheduler` only when they are run.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from core.errors import PostalError


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="postal.yml to use (default: $POSTAL_CONFIG_FILE_PATH, else config/postal/postal.yml)",
    )
    parser = argparse.ArgumentParser(
        prog="postal", description="A Postal-compatible mail delivery platform.", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(
        name: str,
        handler: str,
        help_text: str,
        parent: argparse._SubParsersAction | None = None,
    ) -> argparse.ArgumentParser:
        p = (parent or sub).add_parser(name, help=help_text, parents=[common], description=help_text)
        p.set_defaults(handler=handler)
        return p

    # -- set-up ---------------------------------------------------------------------------
    p = command("bootstrap", "setup:bootstrap", "write postal.yml and a 2048-bit signing.key")
    p.add_argument("hostname")
    p.add_argument("--config-dir", default="config/postal", metavar="DIR")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    command("initialize", "setup:initialize", "create the main database and its schema (safe to run twice)")
    command("upgrade", "setup:upgrade", "migrate the main database and every server's message database")
    p = command("make-user", "setup:make_user", "create a user (asks for missing values on a terminal)")
    p.add_argument("--email")
    p.add_argument("--password")
    p.add_argument("--first-name", default="")
    p.add_argument("--last-name", default="")
    p.add_argument("--admin", action="store_true", help="make the user a global administrator")
    _json_flag(p)
    command("default-dkim-record", "setup:default_dkim_record", "print the DNS record of signing.key")
    command("version", "about:version", "print the version")

    # -- roles ----------------------------------------------------------------------------
    p = command("web-server", "roles:web_server", "run the web server (gunicorn)")
    p.add_argument("--port", type=int)
    p.add_argument("--bind", metavar="ADDRESS")
    p = command("smtp-server", "roles:smtp_server", "run the SMTP server")
    p.add_argument("--port", type=int)
    p.add_argument("--bind", metavar="ADDRESS")
    p = command("worker", "roles:worker", "run job workers")
    p.add_argument("--queues", nargs="+", metavar="Q", help="queues to consume (default: all)")
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--threads", type=int)
    sched = command("scheduler", "roles:scheduler", "run the scheduler (cron jobs and requeuer)")
    sched_sub = sched.add_subparsers(dest="scheduler_command", metavar="COMMAND")
    p = command("status", "scheduler_status:status", "each scheduled task: schedule, last run, next run", sched_sub)
    _json_flag(p)
    command("run", "roles:run_all", "run every role in one process (the embedded default)")

    # -- provisioning ---------------------------------------------------------------------
    org = command("org", "", "organizations")
    org_sub = org.add_subparsers(dest="org_command", metavar="COMMAND")
    p = command("create", "provision:org_create", "create an organization", org_sub)
    p.add_argument("name")
    p.add_argument("--permalink")
    _json_flag(p)

    srv = command("server", "", "mail servers")
    srv_sub = srv.add_subparsers(dest="server_command", metavar="COMMAND")
    p = command("create", "provision:server_create", "create a mail server", srv_sub)
    p.add_argument("org", metavar="ORG")
    p.add_argument("name")
    p.add_argument("--permalink")
    p.add_argument("--mode", choices=["Live", "Development"], default="Live")
    p.add_argument("--ip-pool", metavar="POOL", help="the IP pool its mail leaves from (made available to ORG)")
    _json_flag(p)

    dom = command("domain", "", "domains")
    dom_sub = dom.add_subparsers(dest="domain_command", metavar="COMMAND")
    p = command("add", "provision:domain_add", "add a domain to an organization or server", dom_sub)
    p.add_argument("owner", metavar="ORG[/SERVER]")
    p.add_argument("domain")
    p.add_argument("--verified", action="store_true", help="mark it verified without a DNS check")
    _json_flag(p)
    for name, handler, text in (
        ("dns", "provision:domain_dns", "the DNS records to publish"),
        ("verify", "provision:domain_verify", "verify ownership by the TXT record at the apex"),
        ("check", "provision:domain_check", "run the SPF, DKIM, MX and return-path checks now"),
        ("rotate-dkim", "outgoing:domain_rotate_dkim", "make a new DKIM key; it signs once its record checks out"),
    ):
        p = command(name, handler, text, dom_sub)
        p.add_argument("domain")
        p.add_argument("--owner", metavar="ORG[/SERVER]", help="which one, when several own the name")
        _json_flag(p)

    cred = command("credential", "", "credentials")
    cred_sub = cred.add_subparsers(dest="credential_command", metavar="COMMAND")
    p = command("create", "provision:credential_create", "create a credential", cred_sub)
    p.add_argument("server", metavar="ORG/SERVER")
    p.add_argument("--type", required=True, choices=["SMTP", "API", "SMTP-IP"])
    p.add_argument("--name")
    p.add_argument("--key", help="the key (SMTP-IP: the IP address or network)")
    p.add_argument("--hold", action="store_true", help="hold every message sent with it")
    _json_flag(p)

    msg = command("message", "", "messages")
    msg_sub = msg.add_subparsers(dest="message_command", metavar="COMMAND")
    p = command("show", "messages:show", "a message with its deliveries and queue state", msg_sub)
    p.add_argument("server", metavar="ORG/SERVER")
    p.add_argument("id", metavar="ID", help="numeric id or token")
    _json_flag(p)
    for action, text in (
        ("release", "release held messages: send them now, skipping the holds"),
        ("cancel", "cancel the hold of held messages (HoldCancelled)"),
        ("retry", "run queued or failed messages again now"),
        ("remove", "take messages off the queue"),
    ):
        p = command(action, "outgoing:message_action", text, msg_sub)
        p.set_defaults(action=action)
        p.add_argument("server", metavar="ORG/SERVER")
        p.add_argument("ids", metavar="ID", nargs="*", help="message ids")
        p.add_argument("--all-held", action="store_true", help="every held message (with the filters below)")
        p.add_argument("--status", help="only messages with this status (e.g. SoftFail)")
        p.add_argument("--domain", help="only messages to this recipient domain")
        p.add_argument("--older-than", metavar="AGE", help="only messages older than AGE (30m, 2h, 7d)")
        _json_flag(p)

    pool = command("ip-pool", "", "IP pools")
    pool_sub = pool.add_subparsers(dest="ip_pool_command", metavar="COMMAND")
    p = command("create", "outgoing:ip_pool_create", "create an IP pool (its queue is outgoing-<permalink>)", pool_sub)
    p.add_argument("name")
    p.add_argument("--permalink")
    p.add_argument("--default", action="store_true", help="give it to new organizations")
    _json_flag(p)

    address = command("ip-address", "", "addresses of IP pools")
    address_sub = address.add_subparsers(dest="ip_address_command", metavar="COMMAND")
    p = command("add", "outgoing:ip_address_add", "add an address to a pool", address_sub)
    p.add_argument("pool", metavar="POOL")
    p.add_argument("ipv4", metavar="IPV4")
    p.add_argument("--ipv6")
    p.add_argument("--hostname", required=True, help="its host name, used in HELO")
    p.add_argument("--priority", type=int, default=100, help="0-100, weight when choosing an address")
    _json_flag(p)

    rule = command("ip-rule", "", "IP pool rules")
    rule_sub = rule.add_subparsers(dest="ip_rule_command", metavar="COMMAND")
    p = command("add", "outgoing:ip_rule_add", "send matching mail through a pool", rule_sub)
    p.add_argument("owner", metavar="ORG[/SERVER]")
    p.add_argument("pool", metavar="POOL")
    p.add_argument("--from", dest="from_", action="append", metavar="ADDRESS|DOMAIN", help="From address or domain")
    p.add_argument("--to", action="append", metavar="ADDRESS|DOMAIN", help="recipient address or domain")
    _json_flag(p)

    sup = command("suppression", "", "suppression lists")
    sup_sub = sup.add_subparsers(dest="suppression_command", metavar="COMMAND")
    p = command("add", "outgoing:suppression_add", "stop sending to an address for a while", sup_sub)
    p.add_argument("server", metavar="ORG/SERVER")
    p.add_argument("address")
    p.add_argument("--reason", default="added by an operator")
    p.add_argument(
        "--days", type=float, help="how long (default postal.default_suppression_list_automatic_removal_days)"
    )
    _json_flag(p)
    p = command("remove", "outgoing:suppression_remove", "take an address off the list", sup_sub)
    p.add_argument("server", metavar="ORG/SERVER")
    p.add_argument("address")
    _json_flag(p)
    p = command("list", "outgoing:suppression_list", "the addresses on the list", sup_sub)
    p.add_argument("server", metavar="ORG/SERVER")
    p.add_argument("--limit", type=int, default=100)
    _json_flag(p)

    com = command("complaint", "", "feedback reports about the server's messages")
    com_sub = com.add_subparsers(dest="complaint_command", metavar="COMMAND")
    p = command("list", "outgoing:complaint_list", "the complaints, newest first", com_sub)
    p.add_argument("server", metavar="ORG/SERVER")
    p.add_argument("--limit", type=int, default=100)
    _json_flag(p)

    hook = command("webhook", "", "webhooks")
    hook_sub = hook.add_subparsers(dest="webhook_command", metavar="COMMAND")
    p = command("create", "outgoing:webhook_create", "call a URL when something happens", hook_sub)
    p.add_argument("server", metavar="ORG/SERVER")
    p.add_argument("url")
    p.add_argument("--name")
    p.add_argument("--event", action="append", metavar="EVENT", help="an event to send (default: all events)")
    _json_flag(p)
    p = command("list", "outgoing:webhook_list", "the server's webhooks", hook_sub)
    p.add_argument("server", metavar="ORG/SERVER")
    _json_flag(p)
    p = command("history", "outgoing:webhook_history", "every request attempt, newest first", hook_sub)
    p.add_argument("server", metavar="ORG/SERVER")
    p.add_argument("--webhook", metavar="UUID|ID")
    p.add_argument("--limit", type=int, default=100)
    _json_flag(p)
    p = command("resend", "outgoing:webhook_resend", "send a request again now", hook_sub)
    p.add_argument("server", metavar="ORG/SERVER")
    p.add_argument("uuid", metavar="REQUEST_UUID")
    _json_flag(p)

    # -- incoming mail --------------------------------------------------------------------
    end = command("endpoint", "", "where incoming mail goes: HTTP, SMTP and address endpoints")
    end_sub = end.add_subparsers(dest="endpoint_command", metavar="COMMAND")
    p = command("create", "incoming:endpoint_create", "create an endpoint", end_sub)
    p.add_argument("server", metavar="ORG/SERVER")
    p.add_argument("kind", choices=["http", "smtp", "address"])
    p.add_argument("--name", help="http, smtp: a name to know it by")
    p.add_argument("--url", help="http: where to POST messages")
    p.add_argument("--encoding", choices=["BodyAsJSON", "FormData"], help="http (default BodyAsJSON)")
    p.add_argument("--format", choices=["Hash", "RawMessage"], help="http (default Hash)")
    p.add_argument("--strip-replies", action="store_true", help="http: send the plain body without quoted replies")
    p.add_argument("--no-attachments", action="store_true", help="http: leave attachments out of the Hash")
    p.add_argument("--timeout", type=int, metavar="S", help="http: seconds to wait, 5-60 (default 5)")
    p.add_argument("--hostname", help="smtp: the server to forward to")
    p.add_argument("--port", type=int, help="smtp (default 25)")
    p.add_argument("--ssl-mode", choices=["None", "Auto", "STARTTLS", "TLS"], help="smtp (default Auto)")
    p.add_argument("--address", help="address: the e-mail address to forward to")
    _json_flag(p)
    p = command("list", "incoming:endpoint_list", "the server's endpoints", end_sub)
    p.add_argument("server", metavar="ORG/SERVER")
    _json_flag(p)

    rte = command("route", "", "routes of incoming mail")
    rte_sub = rte.add_subparsers(dest="route_command", metavar="COMMAND")
    p = command("create", "incoming:route_create", "route mail for an address", rte_sub)
    p.add_argument("server", metavar="ORG/SERVER")
    p.add_argument("address", metavar="NAME@DOMAIN", help="name may be *; or __returnpath__")
    p.add_argument("--mode", default="Endpoint", choices=["Endpoint", "Accept", "Hold", "Bounce", "Reject"])
    p.add_argument(
        "--endpoint",
        action="append",
        metavar="KIND:UUID",
        help="http|smtp|address:UUID; the first is the route's, more are additional endpoints",
    )
    p.add_argument("--spam-mode", default="Mark", choices=["Mark", "Quarantine", "Fail"])
    _json_flag(p)
    p = command("list", "incoming:route_list", "the server's routes", rte_sub)
    p.add_argument("server", metavar="ORG/SERVER")
    _json_flag(p)
    p = command("delete", "incoming:route_delete", "delete a route", rte_sub)
    p.add_argument("server", metavar="ORG/SERVER")
    p.add_argument("route", metavar="UUID|NAME@DOMAIN")
    _json_flag(p)

    # -- users and API tokens -------------------------------------------------------------
    p = command("add-user", "users:org_add_user", "make a user a member of an organization", org_sub)
    p.add_argument("org", metavar="ORG")
    p.add_argument("email", metavar="EMAIL")
    p.add_argument("--admin", action="store_true", help="the member administers the organization")
    p.add_argument(
        "--servers", default="all", metavar="all|PERMALINK,…", help="the servers the member may use (default: all)"
    )
    _json_flag(p)
    usr = command("user", "", "users")
    usr_sub = usr.add_subparsers(dest="user_command", metavar="COMMAND")
    tok = command("token", "", "personal tokens of the management API", usr_sub)
    tok_sub = tok.add_subparsers(dest="token_command", metavar="COMMAND")
    p = command("create", "users:token_create", "make a token (shown once; only its hash is kept)", tok_sub)
    p.add_argument("email", metavar="EMAIL")
    p.add_argument("--name", help="what the token is for")
    _json_flag(p)
    return parser


def _run(args: argparse.Namespace) -> int:
    """Import the command's module only now: `postal version` need not load SQLAlchemy."""
    if not args.handler:
        raise PostalError(f"`postal {args.command}` needs a sub-command; see `postal {args.command} --help`")
    module, _, function = args.handler.partition(":")
    handler = getattr(importlib.import_module(f"cli.{module}"), function)
    return int(handler(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except PostalError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from sqlalchemy.exc import OperationalError

        if isinstance(exc, OperationalError):
            print(f"Error: the database cannot be reached: {exc.orig}", file=sys.stderr)
            return 1
        raise
