"""A user removed at the provider: their sessions are re-checked with the provider (refresh token) every
OIDC_RECHECK_SECONDS, so their open socket ends and their pages go back to the login page, while users
still there keep theirs. A real daphne with single sign-on configured by its environment."""

import json
import time

import pytest
import requests
from websockets.exceptions import ConnectionClosed

from tests.oidc import Person, own_provider, start_app

ENDED = {"type": "error", "id": None, "code": "unauthenticated", "detail": "Your session has ended. Please log in again."}


provider = pytest.fixture(scope="module")(own_provider)


@pytest.fixture(scope="module")
def app(provider, tmp_path_factory):
    daphne = start_app(provider, tmp_path_factory.mktemp("oidc-app"), OIDC_RECHECK_SECONDS="1")
    yield daphne
    daphne.stop()


def signed_in(app, provider, username: str) -> requests.Session:
    """A browser's cookies at the app after signing in through the provider."""
    browser = requests.Session()
    start = browser.get(f"{app.url}/oidc/authenticate/", allow_redirects=False, timeout=10)
    callback = Person(provider).callback_for(start.headers["Location"], username)
    assert browser.get(callback, allow_redirects=False, timeout=30).headers["Location"] == "/"
    return browser


def test_a_removed_user_loses_their_open_socket_and_their_pages(app, provider):
    provider.reset_users()
    bob = signed_in(app, provider, "bob")
    alice = signed_in(app, provider, "alice")
    with app.websocket(bob.cookies["sessionid"]) as bobs_socket, app.websocket(alice.cookies["sessionid"]) as alices_socket:
        provider.remove_user("bob")
        begun = time.monotonic()
        assert json.loads(bobs_socket.recv(timeout=10)) == ENDED
        with pytest.raises(ConnectionClosed) as closed:
            bobs_socket.recv(timeout=10)
        assert closed.value.rcvd.code == 4401
        print(f"\nremoved at the provider: the socket ended within {(time.monotonic() - begun) * 1000:.0f} ms")

        # alice is still at the provider: her socket outlives several re-checks (her refresh token renewed).
        with pytest.raises(TimeoutError):
            alices_socket.recv(timeout=3)

    assert bob.get(f"{app.url}/", allow_redirects=False, timeout=10).headers["Location"].startswith("/accounts/login/")
    assert alice.get(f"{app.url}/", allow_redirects=False, timeout=10).status_code == 200
