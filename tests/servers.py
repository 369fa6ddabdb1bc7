"""Real daphne processes for tests that need a server as users run it (crash, scale-out)."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from websockets.sync.client import connect

PROJECT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(env: dict, *args: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT, env=env,
                            capture_output=True, text=True, check=True, timeout=120)
    return result.stdout


def session_cookie(env: dict, username: str = "alice") -> str:
    """A logged-in session for a new user, made through the app's own settings and database."""
    script = (
        "from django.contrib.auth import get_user_model; from django.test import Client;"
        f"user = get_user_model().objects.create_user('{username}', password='pw-{username}-123');"
        "client = Client(); client.force_login(user); print(client.cookies['sessionid'].value)"
    )
    return manage(env, "shell", "-c", script).strip().splitlines()[-1]


def app_env(**overrides: str) -> dict:
    env = os.environ | {"PYTHONUNBUFFERED": "1"} | overrides
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


class Daphne:
    """One daphne process serving streamer.asgi, as `make run` starts it (through streamer.server)."""

    def __init__(self, env: dict, log_path: Path | None = None, port: int | None = None, project: Path = PROJECT):
        self.env = env
        self.log_path = log_path
        self.project = project  # the checkout served (the load benchmark compares two)
        self.process = None
        self.port = None
        self.fixed_port = port  # known before it starts (an OIDC client's redirect URI names it)

    def start(self) -> "Daphne":
        self.port = self.fixed_port or free_port()
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamer.server", "-b", "127.0.0.1", "-p", str(self.port), "streamer.asgi:application"],
            cwd=self.project, env=self.env, stdout=log, stderr=log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"daphne exited with {self.process.returncode}")
                time.sleep(0.1)
        raise RuntimeError("daphne did not start")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def websocket(self, cookie: str):
        return connect(f"ws://127.0.0.1:{self.port}/ws/chat/", open_timeout=10,
                       additional_headers={"Cookie": f"sessionid={cookie}", "Origin": self.url})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
