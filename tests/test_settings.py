"""Settings read from the environment, failing loudly on values they cannot read."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from streamer.settings import BASE_DIR, database_from_url, env_bool, env_int


def test_sqlite_url_relative_and_absolute():
    assert database_from_url("sqlite:///data/x.sqlite3")["NAME"] == str(BASE_DIR / "data/x.sqlite3")
    assert database_from_url("sqlite:////tmp/x.sqlite3")["NAME"] == "/tmp/x.sqlite3"


def test_postgres_url():
    db = database_from_url("postgres://streamer:s%40cret@db.internal:6543/streamer?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "streamer", "s@cret", "db.internal", "6543", "streamer")
    assert db["OPTIONS"] == {"sslmode": "require", "pool": {"min_size": 1, "max_size": 10}}
    assert database_from_url("postgresql://root@127.0.0.1/test")["USER"] == "root"


def test_postgres_pool_size_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_POOL_SIZE", "25")
    assert database_from_url("postgres://root@127.0.0.1/x")["OPTIONS"]["pool"]["max_size"] == 25
    monkeypatch.setenv("DATABASE_POOL_SIZE", "0")  # no pool: a connection per database call
    assert "pool" not in database_from_url("postgres://root@127.0.0.1/x")["OPTIONS"]


@pytest.mark.parametrize("url", ["mysql://root@localhost/x", "postgres://localhost/", "sqlite://", "nonsense"])
def test_unusable_database_url_fails_loudly(url):
    with pytest.raises(ImproperlyConfigured):
        database_from_url(url)


def test_env_helpers_fail_loudly(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        env_bool("DEBUG", False)
    monkeypatch.setenv("DEBUG", "true")
    assert env_bool("DEBUG", False) is True
    monkeypatch.setenv("MAX_PROMPT_CHARS", "lots")
    with pytest.raises(ImproperlyConfigured, match="MAX_PROMPT_CHARS"):
        env_int("MAX_PROMPT_CHARS", 1)
    monkeypatch.setenv("MAX_PROMPT_CHARS", "-5")
    with pytest.raises(ImproperlyConfigured):
        env_int("MAX_PROMPT_CHARS", 1, minimum=1)


def test_settings_start_with_no_environment_at_all(tmp_path):
    import os
    import subprocess
    import sys

    env = {"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "streamer.settings"}
    script = "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['NAME'])"
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=BASE_DIR, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == str(tmp_path / "db.sqlite3")
    key_file = tmp_path / "secret_key"
    assert len(key_file.read_text()) >= 50  # a dev key, written once and kept
    again = subprocess.run([sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"],
                           env=env, cwd=BASE_DIR, capture_output=True, text=True, check=True)
    assert again.stdout.strip() == key_file.read_text().strip()


def test_missing_local_model_file_fails_loudly(tmp_path):
    import os
    import subprocess
    import sys

    env = {"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path), "LOCAL_MODEL_PATH": str(tmp_path / "nope.gguf")}
    result = subprocess.run([sys.executable, "-c", "import streamer.settings"], env=env, cwd=BASE_DIR,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "LOCAL_MODEL_PATH" in result.stderr and "is not a file" in result.stderr


def test_production_settings_pass_the_deploy_check(tmp_path):
    import os
    import secrets
    import subprocess
    import sys

    env = {"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path), "SECRET_KEY": secrets.token_urlsafe(60),
           "HTTPS": "true", "ALLOWED_HOSTS": "chat.example.com"}
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            env=env, cwd=BASE_DIR, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_local_model_dirs_default_and_from_the_environment(tmp_path):
    import os
    import subprocess
    import sys

    env = {"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "streamer.settings"}
    script = ("import django; django.setup(); from django.conf import settings;"
              "print(settings.LOCAL_MODEL_PATH); print(*settings.LOCAL_MODEL_DIRS, sep='\\n')")

    def read(**extra):
        return subprocess.run([sys.executable, "-c", script], env=env | extra, cwd=BASE_DIR, capture_output=True, text=True)

    bundled, *folders = read().stdout.split()
    assert folders == [os.path.dirname(os.path.realpath(bundled)), os.path.realpath(tmp_path / "models")]
    (tmp_path / "gguf").mkdir()
    assert read(LOCAL_MODEL_DIRS=f" {tmp_path / 'gguf'} ,").stdout.split()[1:] == [os.path.realpath(tmp_path / "gguf")]
    failed = read(LOCAL_MODEL_DIRS=f"{tmp_path / 'gguf'},{tmp_path / 'nope'}")
    assert failed.returncode != 0 and "LOCAL_MODEL_DIRS" in failed.stderr and "nope" in failed.stderr
