"""Issue #12, item 1: a socket's frames are rate limited (a token bucket, FRAMES_PER_SECOND with a burst of
FRAME_BURST). A frame over it is answered `rate_limited` and not processed, so a prompt refused this way
saved nothing; a socket that keeps sending through a burst's worth of refusals is closed (1008).
Through the real ASGI application; tests/test_attach_flood.py does the same to a real daphne."""

import asyncio

import pytest

from chat.models import Message
from chat.socket_limits import FrameRate
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)

NOT_PROCESSED = "Too many frames: slow down; this one was not processed."


@pytest.fixture
def small_bucket(settings):
    settings.FRAMES_PER_SECOND = 2  # slow enough that no token comes back while the test sends its frames
    settings.FRAME_BURST = 3


async def test_a_frame_over_the_rate_is_refused_and_its_prompt_not_saved(small_bucket, bedrock, alice, bob, socket_for):
    socket = await socket_for(alice)
    for _ in range(3):  # the burst: processed (and answered not_found)
        await socket.send_json_to({"type": "attach", "message": 999})
    await socket.send_json_to(prompt_frame(request_id="too-soon"))
    answers = [await socket.receive_json_from() for _ in range(4)]
    assert [answer["code"] for answer in answers] == ["not_found"] * 3 + ["rate_limited"]
    assert answers[3] == {"type": "error", "id": "too-soon", "code": "rate_limited", "detail": NOT_PROCESSED}
    assert await Message.objects.acount() == 0

    other = await socket_for(bob)  # a bucket per socket: bob is not limited by alice's frames
    await other.send_json_to(prompt_frame(request_id="bobs"))
    assert (await receive_until_done(other))[-1]["status"] == "complete"

    await asyncio.sleep(0.6)  # a token comes back every 1/2 s: the same prompt, resent, goes through
    await socket.send_json_to(prompt_frame(request_id="too-soon"))
    assert (await receive_until_done(socket))[0]["type"] == "started"
    assert await Message.objects.filter(user=alice).acount() == 1


async def test_a_socket_that_keeps_sending_past_the_refusals_is_closed(small_bucket, alice, socket_for):
    socket = await socket_for(alice)
    for _ in range(3 + 4):  # the burst, then a burst's worth of refusals and one more
        await socket.send_json_to({"type": "attach", "message": 999})
    codes = [(await socket.receive_json_from())["code"] for _ in range(6)]
    assert codes == ["not_found"] * 3 + ["rate_limited"] * 3
    closed = await socket.receive_output()
    assert closed == {"type": "websocket.close", "code": 1008,
                      "reason": "Too many frames: the socket kept sending after rate_limited errors."}


def test_the_bucket_refills_at_its_rate_up_to_its_burst(settings):
    settings.FRAMES_PER_SECOND, settings.FRAME_BURST = 2, 3
    now = [0.0]
    rate = FrameRate(clock=lambda: now[0])
    assert [rate.admit() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one token back
    assert [rate.admit() for _ in range(2)] == [True, False]
    now[0] += 60  # never more than the burst
    assert [rate.admit() for _ in range(4)] == [True, True, True, False]
    assert not rate.abusive
