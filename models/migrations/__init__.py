"""Alembic migration environments: `main` for the main database, `message` for every server database.

The newest revision of each is named here too, so a process can check that a database is up to
date without loading alembic (a test keeps these in step with the revision files).
"""

MAIN_HEAD = "0008"
MESSAGE_HEAD = "0003"
