"""Files only the server's own user may read: the data folder, the SQLite database and the secret key.

They hold session keys, password hashes and every prompt. Each is created with its final mode in one
step (never written first and restricted after), whatever the umask.
"""

import os
import secrets
import stat
from pathlib import Path

# SQLite's side files take the database file's mode; ones left by an older version are restricted too.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> None:
    """Create the folder owner-only (0700). An existing folder is left as it is: it may be shared on purpose
    (the files this app keeps in it are owner-only)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def restrict(path: Path) -> None:
    """Take group and world access away from a file this user owns (one made by an older version)."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    if status.st_uid == os.geteuid() and status.st_mode & 0o077:
        path.chmod(stat.S_IMODE(status.st_mode) & 0o700)


def private_sqlite_file(path: Path) -> None:
    """Create the database file empty and 0600 before SQLite does (SQLite would make it 0644; an empty file is
    an empty database to it). A missing folder is left for SQLite to report."""
    if not path.parent.is_dir():
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        for name in (path.name, *(path.name + suffix for suffix in SQLITE_SIDE_FILES)):
            restrict(path.with_name(name))


def read_or_create_secret(path: Path) -> str:
    """The key kept in `path`, generated on first use. The key is written to a private temporary file and
    then linked into place, which fails if the file exists: the key appears whole and 0600 in one step, and
    processes starting at the same moment all end up with the first one linked."""
    if not path.exists():
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}")
        with os.fdopen(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600), "w") as file:
            file.write(secrets.token_urlsafe(50))
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process linked its key first: that one is everybody's
        finally:
            temporary.unlink()
    restrict(path)
    return path.read_text().strip()
