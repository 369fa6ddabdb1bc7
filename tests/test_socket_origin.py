"""A WebSocket handshake is accepted only from the site's own origin (scheme, host and port) or a trusted one."""

import pytest

from tests.ws import open_socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def handshake():
    """Open a logged-in socket with the given headers; True if the app accepted it."""
    from chat.runs import stop_background_tasks

    opened = []

    async def attempt(user, origin: str | None, host: str | None, scheme: str = "ws", extra=()):
        socket = await open_socket(user, origin or "http://unused", host or "unused")
        socket.scope["headers"] = [
            (name, value) for name, value in socket.scope["headers"]
            if not (name == b"origin" and origin is None) and not (name == b"host" and host is None)
        ] + [(name.encode(), value.encode()) for name, value in extra]
        socket.scope["scheme"] = scheme
        connected, _ = await socket.connect()
        if connected:
            opened.append(socket)
        return connected

    yield attempt
    for socket in opened:
        await socket.disconnect()
    await stop_background_tasks()


@pytest.mark.parametrize(("origin", "host"), [
    ("http://localhost", "localhost"),
    ("http://127.0.0.1:8000", "127.0.0.1:8000"),
    ("http://[::1]:8000", "[::1]:8000"),
    ("http://localhost:80", "localhost"),  # the default port, written or not
    ("http://LOCALHOST:8000", "localhost:8000"),
])
async def test_the_pages_own_origin_is_accepted(alice, handshake, origin, host):
    assert await handshake(alice, origin, host)


@pytest.mark.parametrize(("origin", "host"), [
    ("http://127.0.0.1:9999", "127.0.0.1:8000"),  # another port: another site
    ("http://localhost:8000", "localhost"),
    ("https://localhost", "localhost"),  # another scheme: the socket came in as plain ws
    ("https://evil.example", "localhost"),
    ("http://evil.example", "evil.example"),  # a Host Django does not serve
    ("null", "localhost"),  # a sandboxed frame or a file: page
    ("http://localhost/chat/", "localhost"),  # not an origin
    ("http://alice@localhost", "localhost"),
    ("ftp://localhost", "localhost"),
])
async def test_any_other_origin_is_refused(alice, handshake, origin, host):
    assert not await handshake(alice, origin, host)


async def test_a_handshake_without_origin_or_host_is_refused(alice, handshake):
    assert not await handshake(alice, None, "localhost")
    assert not await handshake(alice, "http://localhost", None)
    assert not await handshake(alice, "http://localhost", "localhost", extra=[("origin", "https://evil.example")])


async def test_a_socket_over_tls_needs_an_https_origin(alice, handshake):
    assert await handshake(alice, "https://localhost", "localhost", scheme="wss")
    assert not await handshake(alice, "http://localhost", "localhost", scheme="wss")


async def test_behind_a_tls_proxy_the_forwarded_scheme_counts(alice, handshake, settings):
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # what HTTPS=true sets
    forwarded = [("x-forwarded-proto", "https")]
    assert await handshake(alice, "https://chat.example.com", "chat.example.com", extra=forwarded)
    assert not await handshake(alice, "http://chat.example.com", "chat.example.com", extra=forwarded)
    assert await handshake(alice, "http://chat.example.com", "chat.example.com")  # the proxy said nothing
    assert not await handshake(alice, "https://chat.example.com", "chat.example.com")


async def test_csrf_trusted_origins_are_accepted_too(alice, handshake, settings):
    assert not await handshake(alice, "https://app.example.com", "localhost")
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "https://*.example.org"]
    assert await handshake(alice, "https://app.example.com", "localhost")
    assert await handshake(alice, "https://team.example.org", "localhost")
    assert not await handshake(alice, "http://app.example.com", "localhost")
    assert not await handshake(alice, "https://app.example.com:8443", "localhost")
    assert not await handshake(alice, "https://app.example.com", "evil.example")  # the Host must still be served


async def test_anonymous_user_from_the_right_origin_is_still_refused(handshake):
    assert not await handshake(None, "http://localhost", "localhost")
