"""A server process sets the interpreter lock's switch interval from GIL_SWITCH_INTERVAL_MS when it starts
serving (streamer.asgi, issue #16): 1 ms unless set, and a value it cannot use stops the start."""

import os
import subprocess
import sys

import pytest

from streamer.settings import BASE_DIR

# streamer.asgi as daphne loads it, then the reactor run just long enough for its start-up hooks.
SERVE_AND_REPORT = (
    "import sys, streamer.asgi; from twisted.internet import reactor; "
    "reactor.callWhenRunning(lambda: (print(sys.getswitchinterval()), reactor.stop())); reactor.run()"
)


def serve(tmp_path, **env: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "streamer.settings",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", **env}
    return subprocess.run([sys.executable, "-c", SERVE_AND_REPORT], env=env, cwd=BASE_DIR, capture_output=True,
                          text=True, timeout=60)


def test_a_server_switches_every_millisecond_by_default(tmp_path):
    result = serve(tmp_path)
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.split()[-1]) == pytest.approx(0.001)


def test_the_interval_comes_from_the_environment(tmp_path):
    result = serve(tmp_path, GIL_SWITCH_INTERVAL_MS="5")
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.split()[-1]) == pytest.approx(0.005)


def test_an_interval_below_a_tenth_of_a_millisecond_stops_the_start(tmp_path):
    result = serve(tmp_path, GIL_SWITCH_INTERVAL_MS="0.01")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "GIL_SWITCH_INTERVAL_MS" in result.stderr
