"""A prompt resent with the same client id creates no second turn: it is answered as an attach."""

import pytest

from chat.models import Message
from tests.bedrock_server import Stream
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)


async def test_resent_prompt_after_a_drop_reattaches_to_the_same_message(bedrock, alice, socket_for):
    bedrock.queue(Stream(deltas=[f"{i} " for i in range(20)], delay=0.03))
    first = await socket_for(alice)
    await first.send_json_to(prompt_frame("Count", request_id="once"))
    started = await first.receive_json_from()
    await first.receive_json_from()
    await first.disconnect()  # the network drops; the client does not know whether the prompt arrived

    again = await socket_for(alice)
    await again.send_json_to(prompt_frame("Count", request_id="once"))
    frames = await receive_until_done(again)
    assert frames[0] == started
    assert frames[1]["type"] == "snapshot" and frames[1]["message"] == started["message"]
    assert frames[1]["text"] + "".join(f["text"] for f in frames if f["type"] == "delta") == "".join(
        f"{i} " for i in range(20))
    assert await Message.objects.acount() == 1
    assert len(bedrock.requests) == 1


async def test_resent_prompt_of_a_finished_message(bedrock, alice, socket_for):
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(request_id="same"))
    first = await receive_until_done(socket)
    await socket.send_json_to(prompt_frame(request_id="same"))
    second = await receive_until_done(socket)
    assert [f["type"] for f in second] == ["started", "snapshot", "done"]
    assert second[0] == first[0] and second[2] == first[-1]
    assert await Message.objects.acount() == 1


async def test_same_id_from_another_user_is_their_own_prompt(bedrock, alice, bob, socket_for):
    for user in (alice, bob):
        socket = await socket_for(user)
        await socket.send_json_to(prompt_frame(request_id="shared-id"))
        assert (await receive_until_done(socket))[-1]["status"] == "complete"
    assert await Message.objects.acount() == 2
