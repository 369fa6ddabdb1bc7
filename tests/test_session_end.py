"""Issue #12, item 2: an open socket ends with its session. Logging out (in another tab, through the real
logout view), deactivating the user or deleting the session gets the socket an `unauthenticated` error
and a close (4401); nothing it sends after that is saved. Through the real ASGI application."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client

from chat.models import Message
from tests.ws import prompt_frame, receive_until_done, session_cookie_for

pytestmark = pytest.mark.django_db(transaction=True)

ENDED = {"type": "error", "id": None, "code": "unauthenticated", "detail": "Your session has ended. Please log in again."}


@pytest.fixture
async def tab(alice):
    """Alice's page: a socket on a session of hers, and the session's cookie for another tab."""
    from streamer.asgi import application

    cookie = await sync_to_async(session_cookie_for)(alice)
    socket = WebsocketCommunicator(application, "/ws/chat/", headers=[
        (b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", f"sessionid={cookie}".encode())])
    connected, _ = await socket.connect()
    assert connected
    socket.cookie = cookie
    yield socket
    await socket.disconnect()


@pytest.fixture(autouse=True)
def check_every_frame(settings):
    settings.SESSION_RECHECK_SECONDS = 0


async def assert_ended(socket):
    assert await socket.receive_json_from(timeout=5) == ENDED
    closed = await socket.receive_output(timeout=5)
    assert (closed["type"], closed["code"]) == ("websocket.close", 4401)


def log_out_in_another_tab(cookie: str):
    other_tab = Client()
    other_tab.cookies["sessionid"] = cookie
    assert other_tab.post("/accounts/logout/").status_code == 302


async def test_logging_out_in_another_tab_ends_the_socket_at_once(tab):
    await sync_to_async(log_out_in_another_tab)(tab.cookie)
    await assert_ended(tab)


async def test_logging_out_one_session_leaves_the_users_other_sessions_open(tab, alice, bedrock, socket_for):
    other_device = await socket_for(alice)  # a session of its own
    await sync_to_async(log_out_in_another_tab)(tab.cookie)
    await assert_ended(tab)
    await other_device.send_json_to(prompt_frame())
    assert (await receive_until_done(other_device))[-1]["status"] == "complete"


async def test_deactivating_the_user_ends_every_socket_of_theirs(tab, alice, bob, socket_for):
    second, bobs = await socket_for(alice), await socket_for(bob)
    alice.is_active = False
    await alice.asave()  # as staff do in admin
    await assert_ended(tab)
    await assert_ended(second)
    assert await bobs.receive_nothing(timeout=0.2)


async def test_a_user_deactivated_behind_the_apps_back_is_refused_at_the_next_frame(tab, alice, bedrock):
    await get_user_model().objects.filter(pk=alice.pk).aupdate(is_active=False)  # no signal
    await tab.send_json_to(prompt_frame())
    await assert_ended(tab)
    assert await Message.objects.acount() == 0


@pytest.mark.parametrize("frame", [prompt_frame(), {"type": "attach", "message": 1}, {"type": "stop", "message": 1}])
async def test_a_deleted_session_is_refused_at_the_next_frame(tab, bedrock, frame):
    await Session.objects.filter(session_key=tab.cookie).adelete()  # admin, clearsessions, expiry
    await tab.send_json_to(frame)
    await assert_ended(tab)
    assert await Message.objects.acount() == 0


async def test_a_live_session_still_works(tab, bedrock):
    await tab.send_json_to(prompt_frame())
    assert (await receive_until_done(tab))[-1]["status"] == "complete"
