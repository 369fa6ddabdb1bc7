"""The settings' readers of the environment: each fails loudly (ImproperlyConfigured) on a value it cannot
read, so a typo in the environment stops the process at start-up instead of surfacing as odd behaviour later.
"""

import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"Unexpected value {name}={value!r}, use 'true' or 'false'")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"Unexpected value {name}={value!r}, use a whole number") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum {minimum}")
    return number


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"Unexpected value {name}={value!r}, use a number") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum {minimum}")
    return number


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_dirs(name: str, default: list[str]) -> list[str]:
    """A comma list of existing folders, as real paths (symlinks and .. resolved) to compare real paths with."""
    if not os.environ.get(name, "").strip():
        return [os.path.realpath(folder) for folder in default]
    folders = env_list(name, "")
    for folder in folders:
        if not os.path.isabs(folder) or not os.path.isdir(folder):
            raise ImproperlyConfigured(f"{name}: {folder!r} is not the full path of a folder")
    return [os.path.realpath(folder) for folder in folders]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of `choices`, or the default (which may be "", for "not set")."""
    value = os.environ.get(name, "").strip() or default
    if value and value not in choices:
        raise ImproperlyConfigured(f"Unexpected value {name}={value!r}, use one of: {', '.join(choices)}")
    return value


def env_pattern(name: str, pattern, meaning: str, max_chars: int = 2048) -> str:
    """A string matching `pattern` (a compiled regular expression), or "" when unset."""
    value = os.environ.get(name, "").strip()
    if value and (len(value) > max_chars or not pattern.fullmatch(value)):
        raise ImproperlyConfigured(f"Unexpected value {name}={value!r}, use {meaning}")
    return value


def _pool_options() -> dict:
    size = env_int("DATABASE_POOL_SIZE", 10)
    return {"pool": {"min_size": 1, "max_size": size}} if size else {}


def database_from_url(url: str) -> dict:
    """Parse DATABASE_URL: sqlite:///relative.db, sqlite:////absolute.db or postgres://user:pw@host:port/db."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///data/db.sqlite3 -> "data/db.sqlite3" (relative to the project), sqlite:////tmp/x -> "/tmp/x"
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise ImproperlyConfigured(f"DATABASE_URL={url!r} names no SQLite file")
        if path != ":memory:" and not os.path.isabs(path):
            path = str(BASE_DIR / path)
        # WAL: a commit is one append (a third of the time of the default journal here), and readers (the
        # admin, the page's history) do not wait for writers. IMMEDIATE: a write transaction takes the
        # lock at its start, so two processes (a server and a management command) wait instead of failing.
        options = {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path, "OPTIONS": options}
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured(f"DATABASE_URL={url!r} names no database")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            # A pool rather than CONN_MAX_AGE: under ASGI each HTTP request runs in a thread of its own, which
            # would strand a kept connection; a pooled one goes back to the pool when Django closes it.
            "OPTIONS": _pool_options() | dict(parse_qsl(parts.query)),
        }
    raise ImproperlyConfigured(
        f"Unsupported DATABASE_URL scheme {parts.scheme!r}: use sqlite:///path or postgres://user@host/db"
    )
