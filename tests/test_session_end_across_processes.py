"""Issue #12, item 2, with several processes: logging out through one daphne ends the session's socket on
another at once, and deactivating the user from a third process (a shell) ends it too. Two real daphnes on
PostgreSQL + Redis, as in tests/test_scale_out.py (skipped, like it, when those are not running)."""

import json
import re
import time
import urllib.request
from urllib.parse import urlencode

import pytest
from websockets.exceptions import ConnectionClosed

from tests.servers import manage
from tests.test_scale_out import cluster, database, pytestmark  # noqa: F401  the two daphnes, and when to skip

ENDED = {"type": "error", "id": None, "code": "unauthenticated", "detail": "Your session has ended. Please log in again."}


def log_out_through(daphne, cookie: str) -> None:
    """Press "Log out" on a page served by this daphne: the real logout view, with its CSRF token."""
    page = urllib.request.urlopen(urllib.request.Request(f"{daphne.url}/", headers={"Cookie": f"sessionid={cookie}"}))
    csrf_cookie = re.search(r"csrftoken=([^;]+)", page.headers["Set-Cookie"]).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode()).group(1)
    logout = urllib.request.Request(
        f"{daphne.url}/accounts/logout/", data=urlencode({"csrfmiddlewaretoken": token}).encode(),
        headers={"Cookie": f"sessionid={cookie}; csrftoken={csrf_cookie}", "Origin": daphne.url})
    assert urllib.request.urlopen(logout).url.endswith("/accounts/login/")


def assert_ended_within(ws, seconds: float) -> None:
    assert json.loads(ws.recv(timeout=seconds)) == ENDED
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=seconds)
    assert closed.value.rcvd.code == 4401


def test_logging_out_through_one_process_ends_the_socket_on_another(cluster):  # noqa: F811
    a, b, cookie, _ = cluster
    with b.websocket(cookie) as on_b:
        begun = time.monotonic()
        log_out_through(a, cookie)
        assert_ended_within(on_b, 5)
        took = time.monotonic() - begun
    print(f"\nlogout through process A (request included): the socket on B ended within {took * 1000:.0f} ms")


def test_deactivating_the_user_in_a_shell_ends_their_sockets_everywhere(cluster):  # noqa: F811
    a, b, cookie, _ = cluster
    with a.websocket(cookie) as on_a, b.websocket(cookie) as on_b:
        manage(a.env, "shell", "-c", "from django.contrib.auth import get_user_model;"
               "alice = get_user_model().objects.get(username='alice'); alice.is_active = False; alice.save()")
        assert_ended_within(on_a, 5)
        assert_ended_within(on_b, 5)
