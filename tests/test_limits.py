"""Per-user limits, each with its own error code; the socket stays usable."""

import pytest

from chat.models import Message
from tests.bedrock_server import Stream
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)


async def test_concurrent_streams_are_limited_per_user(bedrock, alice, bob, socket_for, settings):
    settings.MAX_CONCURRENT_STREAMS = 2
    bedrock.queue(*[Stream(deltas=["slow "] * 20, delay=0.05) for _ in range(3)])
    socket = await socket_for(alice)
    for n in range(2):
        await socket.send_json_to(prompt_frame(request_id=f"run-{n}"))
        assert (await socket.receive_json_from())["type"] == "started"

    await socket.send_json_to(prompt_frame(request_id="third"))
    error = await next_error(socket)
    assert (error["code"], error["id"]) == ("too_many_streams", "third")
    assert "2 answers streaming" in error["detail"]

    other = await socket_for(bob)  # another user is not affected
    await other.send_json_to(prompt_frame(request_id="bobs"))
    assert (await other.receive_json_from())["type"] == "started"
    assert await Message.objects.filter(user=alice).acount() == 2


async def test_prompts_per_minute_are_limited_per_user(bedrock, alice, socket_for, settings):
    settings.PROMPTS_PER_MINUTE = 3
    socket = await socket_for(alice)
    for n in range(3):
        await socket.send_json_to(prompt_frame(request_id=f"p{n}"))
        await receive_until_done(socket)
    await socket.send_json_to(prompt_frame(request_id="p3"))
    error = await socket.receive_json_from()
    assert error["code"] == "rate_limited" and "3 prompts in the last minute" in error["detail"]
    assert await Message.objects.acount() == 3


async def test_long_prompt_and_big_frame_are_refused_and_the_socket_stays_usable(bedrock, alice, socket_for, settings):
    settings.MAX_PROMPT_CHARS = 100
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame("x" * 101, request_id="long"))
    assert (await socket.receive_json_from())["code"] == "prompt_too_long"
    await socket.send_to(text_data='{"type": "prompt", "text": "' + "y" * 70_000 + '"}')
    assert (await socket.receive_json_from())["code"] == "frame_too_large"
    await socket.send_json_to(prompt_frame("x" * 100, request_id="fits"))
    assert (await receive_until_done(socket))[-1]["status"] == "complete"


async def next_error(socket):
    while True:
        frame = await socket.receive_json_from()
        if frame["type"] == "error":
            return frame
