"""CLI of incoming mail: endpoints of each kind and routes, with their `--json` shapes and errors."""

from __future__ import annotations

from tests.cli.test_outgoing import provision
from tests.support.cli import CLI


def test_endpoints_of_each_kind(cli: CLI) -> None:
    provision(cli)
    http = cli.json("endpoint", "create", "acme/main", "http", "--name", "App", "--url", "https://app.example/in",
                    "--encoding", "FormData", "--format", "RawMessage", "--strip-replies", "--no-attachments",
                    "--timeout", "10")  # fmt: skip
    assert http == {
        "id": http["id"], "uuid": http["uuid"], "type": "HTTPEndpoint", "ref": f"http:{http['uuid']}",
        "server_id": http["server_id"], "name": "App", "url": "https://app.example/in", "encoding": "FormData",
        "format": "RawMessage", "strip_replies": True, "include_attachments": False, "timeout": 10,
        "last_used_at": None,
    }  # fmt: skip
    smtp = cli.json("endpoint", "create", "acme/main", "smtp", "--name", "Relay", "--hostname", "Relay.Example.net",
                    "--port", "2525", "--ssl-mode", "STARTTLS")  # fmt: skip
    assert (smtp["hostname"], smtp["port"], smtp["ssl_mode"]) == ("relay.example.net", 2525, "STARTTLS")
    address = cli.json("endpoint", "create", "acme/main", "address", "--address", "team@example.net")
    assert address["address"] == "team@example.net" and address["ref"] == f"address:{address['uuid']}"
    listed = cli.json("endpoint", "list", "acme/main")["endpoints"]
    assert [e["uuid"] for e in listed] == [http["uuid"], smtp["uuid"], address["uuid"]]

    assert "--url is required for http endpoints" in cli.fails("endpoint", "create", "acme/main", "http", "--name", "x")
    assert "--hostname is not an option of http endpoints" in cli.fails(
        "endpoint", "create", "acme/main", "http", "--name", "x", "--url", "http://a.example/", "--hostname", "h"
    )
    assert "timeout" in cli.fails(
        "endpoint", "create", "acme/main", "http", "--name", "x", "--url", "http://a.example/", "--timeout", "2"
    )
    assert "must be an http:// or https:// URL" in cli.fails(
        "endpoint", "create", "acme/main", "http", "--name", "x", "--url", "ftp://a.example/"
    )


def test_routes_with_endpoints_and_modes(cli: CLI) -> None:
    provision(cli)
    http = cli.json("endpoint", "create", "acme/main", "http", "--name", "App", "--url", "https://app.example/in")
    http2 = cli.json("endpoint", "create", "acme/main", "http", "--name", "Audit", "--url", "https://audit.example/")
    address = cli.json("endpoint", "create", "acme/main", "address", "--address", "team@example.net")
    made = cli.json("route", "create", "acme/main", "support@example.com", "--endpoint", http["ref"],
                    "--endpoint", address["ref"], "--spam-mode", "Quarantine")  # fmt: skip
    assert made["id"] and made["uuid"] and made["address"] == "support@example.com"
    assert made["mode"] == "Endpoint" and made["spam_mode"] == "Quarantine"
    assert made["endpoint"] == {"type": "HTTPEndpoint", "id": http["id"]}
    assert made["additional_endpoints"] == [{"type": "AddressEndpoint", "id": address["id"]}]
    assert made["route_address"] == f"{made['token']}@routes.postal.test"

    wildcard = cli.json("route", "create", "acme/main", "*@example.com", "--mode", "Hold")
    assert wildcard["name"] == "*" and wildcard["endpoint"] is None
    rp = cli.json("route", "create", "acme/main", "__returnpath__", "--endpoint", http2["ref"])
    assert rp["domain"] is None and rp["address"] == "__returnpath__"
    listed = cli.json("route", "list", "acme/main")["routes"]
    assert [r["uuid"] for r in listed] == [made["uuid"], wildcard["uuid"], rp["uuid"]]

    assert "already has a route" in cli.fails("route", "create", "acme/main", "support@example.com", "--mode", "Accept")
    assert "required when the mode is Endpoint" in cli.fails("route", "create", "acme/main", "sales@example.com")
    assert "can only be given in Endpoint mode" in cli.fails(
        "route", "create", "acme/main", "sales@example.com", "--mode", "Accept", "--endpoint", http["ref"]
    )
    assert "already has a __returnpath__ route" in cli.fails(
        "route", "create", "acme/main", "__returnpath__", "--endpoint", http["ref"]
    )
    assert "must be http:UUID, smtp:UUID or address:UUID" in cli.fails(
        "route", "create", "acme/main", "sales@example.com", "--endpoint", "nope:1"
    )
    assert "verified" in cli.fails("route", "create", "acme/main", "x@unverified.example", "--mode", "Accept")
    deleted = cli.json("route", "delete", "acme/main", "support@example.com")
    assert deleted["uuid"] == made["uuid"]
    assert "route not found" in cli.fails("route", "delete", "acme/main", made["uuid"]).lower()
