"""The WebSocket handshake is refused for anonymous users and for foreign origins."""

import pytest

from tests.ws import open_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def test_anonymous_user_is_refused():
    socket = await open_socket(user=None)
    connected, _ = await socket.connect()
    assert not connected


async def test_foreign_origin_is_refused(alice):
    socket = await open_socket(alice, origin="https://evil.example")
    connected, _ = await socket.connect()
    assert not connected


async def test_logged_in_user_from_an_allowed_origin_is_accepted(alice):
    socket = await open_socket(alice, origin="http://127.0.0.1:8000")
    connected, _ = await socket.connect()
    assert connected
    await socket.disconnect()


async def test_logged_out_session_is_refused(alice):
    from asgiref.sync import sync_to_async
    from django.test import Client

    from streamer.asgi import application
    from channels.testing import WebsocketCommunicator

    def logged_out_cookie():
        client = Client()
        client.force_login(alice)
        cookie = client.cookies["sessionid"].value
        client.post("/accounts/logout/")
        return cookie

    cookie = await sync_to_async(logged_out_cookie)()
    socket = WebsocketCommunicator(
        application, "/ws/chat/", headers=[(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", f"sessionid={cookie}".encode())]
    )
    connected, _ = await socket.connect()
    assert not connected
