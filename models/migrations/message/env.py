"""Alembic environment of the message database; run through core.migrations with a live connection."""

from alembic import context

import models
import models.message

target_metadata = models.MessageBase.metadata
connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
