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


def start_settings(tmp_path, **env):
    import os
    import subprocess
    import sys

    script = ("import streamer.settings as s; print(s.BEDROCK_GUARDRAIL_ID, s.BEDROCK_GUARDRAIL_VERSION, "
              "s.BEDROCK_GUARDRAIL_TRACE, s.BEDROCK_GUARDRAIL_STREAM_MODE, s.BEDROCK_PERFORMANCE_LATENCY, "
              "s.BEDROCK_SERVICE_TIER, s.BEDROCK_PROMPT_CACHING, s.BEDROCK_REASONING_BUDGET, sep='|')")
    return subprocess.run([sys.executable, "-c", script], env={"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path)} | env,
                          cwd=BASE_DIR, capture_output=True, text=True)


def test_bedrock_request_options_from_the_environment(tmp_path):
    result = start_settings(tmp_path, BEDROCK_GUARDRAIL_ID="gr7abc", BEDROCK_GUARDRAIL_VERSION="DRAFT",
                            BEDROCK_GUARDRAIL_TRACE="false", BEDROCK_GUARDRAIL_STREAM_MODE="async",
                            BEDROCK_PERFORMANCE_LATENCY="optimized", BEDROCK_SERVICE_TIER="flex",
                            BEDROCK_PROMPT_CACHING="false", BEDROCK_REASONING_BUDGET="2048")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split("|") == ["gr7abc", "DRAFT", "False", "async", "optimized", "flex", "False", "2048"]
    defaults = start_settings(tmp_path)  # no guardrail, no latency or tier (Bedrock's own), caching on, no reasoning
    assert defaults.stdout.strip().split("|") == ["", "", "True", "sync", "", "", "True", "0"]


@pytest.mark.parametrize(("env", "words"), [
    ({"BEDROCK_SERVICE_TIER": "turbo"}, "BEDROCK_SERVICE_TIER='turbo', use one of: priority, default, flex, reserved"),
    ({"BEDROCK_PERFORMANCE_LATENCY": "fast"}, "BEDROCK_PERFORMANCE_LATENCY='fast', use one of: standard, optimized"),
    ({"BEDROCK_GUARDRAIL_STREAM_MODE": "later"}, "BEDROCK_GUARDRAIL_STREAM_MODE='later'"),
    ({"BEDROCK_GUARDRAIL_ID": "My_Guardrail", "BEDROCK_GUARDRAIL_VERSION": "1"}, "BEDROCK_GUARDRAIL_ID='My_Guardrail'"),
    ({"BEDROCK_GUARDRAIL_ID": "gr7abc", "BEDROCK_GUARDRAIL_VERSION": "v1"}, "BEDROCK_GUARDRAIL_VERSION='v1'"),
    ({"BEDROCK_GUARDRAIL_ID": "gr7abc"}, "Set BEDROCK_GUARDRAIL_ID and BEDROCK_GUARDRAIL_VERSION together"),
    ({"BEDROCK_GUARDRAIL_TRACE": "maybe"}, "BEDROCK_GUARDRAIL_TRACE"),
    ({"BEDROCK_PROMPT_CACHING": "maybe"}, "BEDROCK_PROMPT_CACHING"),
    ({"BEDROCK_REASONING_BUDGET": "512"}, "BEDROCK_REASONING_BUDGET=512 must be 0 (off) or at least 1024"),
    ({"BEDROCK_REASONING_BUDGET": "4000"}, "below DEFAULT_MAX_TOKENS (4000)"),
])
def test_bad_bedrock_request_options_stop_the_start(tmp_path, env, words):
    result = start_settings(tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and words in result.stderr
