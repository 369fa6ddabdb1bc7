"""Re-checking sessions with the provider from two daphne processes on PostgreSQL + Redis: with the provider
rotating refresh tokens (a spent one used again revokes the grant), sockets of one session on both
processes stay open through many re-checks by both, and removing the user at the provider ends the sockets
on both. (The two processes' checks rarely coincide, so this does not prove the session row's lock; it
shows the rotating token is kept consistently.) Skipped, as tests/test_scale_out.py is, when PostgreSQL
and Redis are not running."""

import json
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from tests.oidc import own_provider
from tests.servers import Daphne, app_env, free_port, manage
from tests.test_oidc_removed_user import ENDED, signed_in
from tests.test_scale_out import REDIS, database, pytestmark  # noqa: F401  a database of its own, and when to skip


provider = pytest.fixture(own_provider)


@pytest.fixture
def two_apps(provider, database, tmp_path):  # noqa: F811
    ports = free_port(), free_port()
    client = provider.register_client(*(f"http://127.0.0.1:{port}" for port in ports))
    env = app_env(DATABASE_URL=database, REDIS_URL=REDIS, DATA_DIR=str(tmp_path), LOG_LEVEL="WARNING",
                  **provider.env(client, OIDC_RECHECK_SECONDS="1"))
    manage(env, "migrate", "--noinput")
    apps = [Daphne(env, Path(tmp_path) / f"{name}.log", port=port).start() for name, port in zip("ab", ports)]
    yield apps
    for app in apps:
        app.stop()


def assert_ended(socket):
    assert json.loads(socket.recv(timeout=15)) == ENDED
    with pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=10)
    assert closed.value.rcvd.code == 4401


def test_two_processes_recheck_one_session_and_both_sockets_end_on_removal(two_apps, provider):
    a, b = two_apps
    cookie = signed_in(a, provider, "bob").cookies["sessionid"]
    with a.websocket(cookie) as on_a, b.websocket(cookie) as on_b:
        for socket in (on_a, on_b):  # about eight re-checks, from both processes, with a rotating token
            with pytest.raises(TimeoutError):
                socket.recv(timeout=2)
        provider.remove_user("bob")
        assert_ended(on_a)
        assert_ended(on_b)
