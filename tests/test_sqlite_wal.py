"""streamer.sqlite_wal: with its idle connection open, closing a connection after a write is no longer the
last close of the database, which would checkpoint the log into it and delete the log (issue #16)."""

import sqlite3

from streamer import sqlite_wal


def write_and_close(path):
    db = sqlite3.connect(path)
    with db:
        db.execute("INSERT INTO t VALUES (1)")
    db.close()


def test_the_log_outlives_each_connection_while_the_keeper_is_open(tmp_path, monkeypatch):
    path = tmp_path / "db.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (x)")
    db.close()
    write_and_close(path)
    assert not (tmp_path / "db.sqlite3-wal").exists()  # the last close checkpointed and removed it

    monkeypatch.setattr(sqlite_wal, "_kept", [])
    sqlite_wal.keep_open({"ENGINE": "django.db.backends.sqlite3", "NAME": str(path), "OPTIONS": {}})
    try:
        write_and_close(path)
        assert (tmp_path / "db.sqlite3-wal").exists()  # no checkpoint at that close
        assert sqlite3.connect(path).execute("SELECT count(*) FROM t").fetchone() == (2,)
    finally:
        sqlite_wal._kept[0].close()


def test_nothing_is_kept_for_a_database_not_in_wal_mode_or_not_sqlite(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_wal, "_kept", [])
    path = tmp_path / "plain.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE t (x)")
    sqlite_wal.keep_open({"ENGINE": "django.db.backends.sqlite3", "NAME": str(path), "OPTIONS": {}})
    sqlite_wal.keep_open({"ENGINE": "django.db.backends.postgresql", "NAME": "x"})
    sqlite_wal.keep_open({"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"})
    assert sqlite_wal._kept == []


def test_commits_wait_for_the_disk_as_sqlite_synchronous_says(tmp_path):
    """NORMAL by default (WAL mode: no disk wait per commit); FULL when asked; anything else fails loudly."""
    import os
    import subprocess
    import sys

    from streamer.settings import BASE_DIR

    script = ("import django; django.setup(); from django.db import connection;"
              "print(connection.cursor().execute('PRAGMA synchronous').fetchone()[0])")
    env = {"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "streamer.settings",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}

    def level(**extra):
        return subprocess.run([sys.executable, "-c", script], env=env | extra, cwd=BASE_DIR, capture_output=True, text=True)

    assert level().stdout.strip() == "1"  # NORMAL
    assert level(SQLITE_SYNCHRONOUS="FULL").stdout.strip() == "2"
    refused = level(SQLITE_SYNCHRONOUS="OFF")
    assert refused.returncode != 0 and "SQLITE_SYNCHRONOUS" in refused.stderr
