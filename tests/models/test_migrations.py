"""Migrations build exactly the schema the models describe, on both databases, and re-run safely."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import models
import models.message
from core.migrations import HEADS, current_revision, head_revision, upgrade_main, upgrade_message_db
from core.runtime import Runtime
from tests.conftest import Installation


def test_head_constants_match_the_revision_files() -> None:
    assert {"main": head_revision("main"), "message": head_revision("message")} == HEADS


def _differences(connection: object, metadata: object) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})  # type: ignore[arg-type]
    return compare_metadata(context, metadata)  # type: ignore[arg-type]


def test_main_schema_matches_the_models(runtime: Runtime) -> None:
    upgrade_main(runtime.db.engine)  # a second run changes nothing
    with runtime.db.engine.connect() as conn:
        assert current_revision(conn) == HEADS["main"]
        assert _differences(conn, models.MainBase.metadata) == []


def test_message_schema_matches_the_models(installation: Installation) -> None:
    mdb = installation.runtime.message_dbs.get(installation.server_id)
    upgrade_message_db(mdb)
    with mdb.migration_connection() as conn:
        assert current_revision(conn) == HEADS["message"]
        diffs = [d for d in _differences(conn, models.MessageBase.metadata) if "raw-" not in str(d)]
        assert diffs == []
