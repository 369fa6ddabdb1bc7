"""A stop frame closes the upstream connection and keeps the partial answer as `stopped`."""

import asyncio
import time

import pytest

from chat.models import Message
from tests.bedrock_server import Stream
from tests.ws import prompt_frame, receive_until_done, text_of

pytestmark = pytest.mark.django_db(transaction=True)


async def test_stop_mid_stream_saves_partial_text_and_closes_upstream(bedrock, alice, socket_for):
    answer = Stream(deltas=[f"w{i} " for i in range(100)], delay=0.05)
    bedrock.queue(answer)
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame("Talk for a while"))
    started = await socket.receive_json_from()
    for _ in range(3):
        assert (await socket.receive_json_from())["type"] == "delta"

    stop_sent = time.monotonic()
    await socket.send_json_to({"type": "stop", "message": started["message"]})
    frames = await receive_until_done(socket)

    done = frames[-1]
    assert done["status"] == "stopped"
    assert await asyncio.to_thread(answer.connection_closed.wait, 2)
    assert answer.closed_at - stop_sent < 0.2
    message = await Message.objects.aget(pk=started["message"])
    assert message.status == "stopped"
    received = "w0 w1 w2 " + text_of(frames)
    assert message.response == received
    assert len(message.response.split()) < 100


async def test_stop_while_waiting_for_the_first_token(bedrock, alice, socket_for):
    answer = Stream(deltas=["never"], first_delay=5)
    bedrock.queue(answer)
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    started = await socket.receive_json_from()
    await asyncio.sleep(0.3)  # the request is at the server, which has not answered yet
    await socket.send_json_to({"type": "stop", "message": started["message"]})

    done = await socket.receive_json_from(timeout=2)
    assert done["type"] == "done" and done["status"] == "stopped"
    message = await Message.objects.aget(pk=started["message"])
    assert (message.status, message.response) == ("stopped", "")


async def test_stopping_a_finished_message_repeats_its_outcome(bedrock, alice, socket_for):
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    done = (await receive_until_done(socket))[-1]

    await socket.send_json_to({"type": "stop", "message": done["message"]})
    assert await socket.receive_json_from() == done
