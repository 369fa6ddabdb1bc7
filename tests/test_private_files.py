"""The data folder, the SQLite database (with its WAL and SHM files) and the generated secret key are the
server user's alone, whatever the umask; processes starting together agree on one secret key."""

import os
import stat
import subprocess
import sys
import threading
import time

import pytest

from streamer.private_files import read_or_create_secret
from streamer.settings import BASE_DIR

# Opens the app's database and writes, then prints the mode of each file in the data folder while the
# connection (and so the WAL and SHM files) is open.
STAT_WHILE_OPEN = """
import os, stat, django
django.setup()
from django.db import connection
from django.conf import settings
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS probe (x integer)")
    cursor.execute("INSERT INTO probe VALUES (1)")
    for name in sorted(os.listdir(settings.DATA_DIR)):
        print(name, oct(stat.S_IMODE(os.stat(os.path.join(settings.DATA_DIR, name)).st_mode)))
"""


def app_env(data_dir) -> dict:
    return {"PATH": os.environ["PATH"], "DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "streamer.settings"}


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_a_fresh_data_folder_is_private(tmp_path, umask):
    data = tmp_path / "data"
    run = dict(env=app_env(data), cwd=BASE_DIR, capture_output=True, text=True, check=True, umask=umask)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], **run)
    assert mode(data) == 0o700
    assert mode(data / "db.sqlite3") == 0o600
    assert mode(data / "secret_key") == 0o600

    listing = subprocess.run([sys.executable, "-c", STAT_WHILE_OPEN], **run).stdout.split()
    modes = dict(zip(listing[::2], listing[1::2]))
    assert modes == {"db.sqlite3": "0o600", "db.sqlite3-shm": "0o600", "db.sqlite3-wal": "0o600", "secret_key": "0o600"}


def test_files_left_readable_by_an_older_version_are_restricted(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("db.sqlite3", "db.sqlite3-wal", "secret_key"):
        (data / name).write_text("" if name != "secret_key" else "an-old-key-" + "x" * 50)
        (data / name).chmod(0o644)
    result = subprocess.run([sys.executable, "-c", "import streamer.settings as s; print(s.SECRET_KEY)"],
                            env=app_env(data), cwd=BASE_DIR, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "an-old-key-" + "x" * 50  # kept: sessions survive the upgrade
    assert {name: mode(data / name) for name in ("db.sqlite3", "db.sqlite3-wal", "secret_key")} == dict.fromkeys(
        ("db.sqlite3", "db.sqlite3-wal", "secret_key"), 0o600)


# Imports what settings needs first, then waits for the go file, so that every process reaches the key at once.
RACE = """
import os, sys, time, django.core.exceptions, pathlib, secrets, urllib.parse
go = sys.argv[1]
while not os.path.exists(go):
    time.sleep(0.0005)
import streamer.settings as s
print(s.SECRET_KEY)
"""


def test_processes_starting_together_share_one_key(tmp_path):
    data = tmp_path / "data"
    go = tmp_path / "go"
    processes = [
        subprocess.Popen([sys.executable, "-c", RACE, str(go)], env=app_env(data), cwd=BASE_DIR,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(12)
    ]
    time.sleep(1.5)  # every interpreter is up and waiting
    go.touch()
    keys = set()
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        keys.add(out.strip())
    assert keys == {(data / "secret_key").read_text().strip()}
    assert len(keys.pop()) >= 50
    assert mode(data / "secret_key") == 0o600
    assert sorted(os.listdir(data)) == ["db.sqlite3", "secret_key"]  # no temporary file left behind


def test_threads_racing_for_a_new_key_all_get_the_same_one(tmp_path):
    """The sharp version of the race above: 16 threads released at once, 20 times over. (Checking for the
    file, then writing it, as the first version did, gave threads different keys in about a third of rounds.)"""
    for round_number in range(20):
        key_file = tmp_path / f"round-{round_number}" / "secret_key"
        key_file.parent.mkdir()
        start, keys = threading.Barrier(16), []

        def take_key():
            start.wait()
            keys.append(read_or_create_secret(key_file))

        threads = [threading.Thread(target=take_key) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(keys) == 16 and set(keys) == {key_file.read_text()}
        assert mode(key_file) == 0o600 and os.listdir(key_file.parent) == ["secret_key"]
