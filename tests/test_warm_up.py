"""The default model is warmed up when the server starts serving, and not when its module is imported."""

import json
import subprocess
import sys
import time

import pytest

from tests.servers import PROJECT, Daphne, app_env

LOADING = "Loading local model"  # chat.providers.local logs this as it loads the model


@pytest.fixture
def local_default(settings, tmp_path):
    assert settings.LOCAL_MODEL_PATH, "the bundled model is installed by `make setup`"
    # No Bedrock: the local model is the default, the one a server warms up.
    return app_env(DATA_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", BEDROCK_MODEL_ID="",
                   BEDROCK_MODEL_IDS="", REDIS_URL="", LOG_LEVEL="INFO")


def test_importing_the_asgi_application_loads_no_model(local_default):
    script = (
        "import json, threading, time\n"
        "import streamer.asgi\n"
        "from chat.providers import local\n"
        "time.sleep(1)\n"
        "print(json.dumps({'threads': [t.name for t in threading.enumerate()], 'loaded': len(local._loaded)}), flush=True)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, env=local_default, capture_output=True,
                            text=True, timeout=60, check=True)
    seen = json.loads(result.stdout)
    assert seen == {"threads": ["MainThread"], "loaded": 0}
    assert LOADING not in result.stderr


def test_a_started_daphne_loads_the_model_before_any_request(local_default, tmp_path):
    log = tmp_path / "daphne.log"
    daphne = Daphne(local_default, log).start()
    try:
        deadline = time.monotonic() + 30
        while LOADING not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert LOADING in log.read_text()
    finally:
        daphne.stop()
