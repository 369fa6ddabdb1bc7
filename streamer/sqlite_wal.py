"""One idle SQLite connection kept open for the life of a server process (issue #16).

Every trip to the database thread opens a connection and closes it at the end (Django with CONN_MAX_AGE 0,
as channels' database_sync_to_async runs it). When the last connection to a WAL database closes, SQLite
checkpoints the log into the database and deletes it, waiting for the disk twice, and the next write starts
a new log, waiting again: 12 to 20 ms a trip here, with the one database thread blocked, so a burst's
prompt batches and the answers' final saves queued behind each other's disk waits. While this connection
is open no other is the last one: a trip costs its statements (0.3 ms for open, a small commit and close).
The log is still checkpointed as usual once it grows (SQLite's automatic checkpoint at 1,000 pages).
"""

import logging
import sqlite3

from django.conf import settings

log = logging.getLogger(__name__)

_kept: list[sqlite3.Connection] = []


def keep_open(database: dict | None = None) -> None:
    """Open the keeper if the database (the default one) is an SQLite file (no-op otherwise, or if already open)."""
    database = database or settings.DATABASES["default"]
    if _kept or not database["ENGINE"].endswith("sqlite3") or str(database["NAME"]) in ("", ":memory:"):
        return
    try:
        keeper = sqlite3.connect(database["NAME"], timeout=database.get("OPTIONS", {}).get("timeout", 20),
                                 check_same_thread=False)
        # It counts as a connection to the log only once it has read through it (and mapped its index).
        if keeper.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()
            _kept.append(keeper)
        else:
            keeper.close()  # not in WAL mode (not migrated yet): nothing to keep
    except sqlite3.Error:
        log.exception("Could not keep an SQLite connection open; each database trip will be slower")
