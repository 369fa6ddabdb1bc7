"""One user cannot see, stop or continue another's messages, nor tell whether an id exists."""

import pytest

from chat.models import Message
from tests.bedrock_server import Stream
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def alices_running_message(bedrock, alice, socket_for):
    bedrock.queue(Stream(deltas=["private "] * 30, delay=0.05))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame("Alice's secret"))
    started = await socket.receive_json_from()
    return started, socket


@pytest.mark.parametrize("frame_type", ["attach", "stop"])
async def test_another_users_message_looks_missing(alices_running_message, bob, socket_for, frame_type):
    started, alice_socket = alices_running_message
    bob_socket = await socket_for(bob)
    await bob_socket.send_json_to({"type": frame_type, "message": started["message"]})
    theirs = await bob_socket.receive_json_from()
    await bob_socket.send_json_to({"type": frame_type, "message": started["message"] + 1000})
    missing = await bob_socket.receive_json_from()

    assert theirs == missing == {"type": "error", "id": None, "code": "not_found", "detail": theirs["detail"]}
    assert await bob_socket.receive_nothing(timeout=0.2)  # and none of Alice's deltas
    assert (await receive_until_done(alice_socket))[-1]["status"] == "complete"  # Bob's stop did nothing


async def test_prompt_into_another_users_conversation_is_refused(alices_running_message, bob, socket_for):
    started, _ = alices_running_message
    bob_socket = await socket_for(bob)
    await bob_socket.send_json_to(prompt_frame("sneaky", request_id="b", conversation=started["conversation"]))
    error = await bob_socket.receive_json_from()
    assert (error["code"], error["id"]) == ("not_found", "b")
    assert not await Message.objects.filter(user__username="bob").aexists()


async def test_prompt_into_a_conversation_the_user_deleted_is_refused(bedrock, alice, socket_for):
    from chat.models import Conversation
    from django.utils import timezone

    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(request_id="first"))
    conversation = (await receive_until_done(socket))[0]["conversation"]
    await Conversation.objects.filter(pk=conversation).aupdate(deleted_at=timezone.now())
    await socket.send_json_to(prompt_frame(request_id="second", conversation=conversation))
    assert (await socket.receive_json_from())["code"] == "not_found"
