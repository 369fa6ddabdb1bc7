"""Bedrock's stop reason is passed through to `done` and saved: a person must be able to tell an answer
cut short by max tokens or a full context window from a finished one."""

import pytest

from chat.models import Message
from tests.bedrock_server import Stream
from tests.ws import prompt_frame, receive_until_done, text_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("stop_reason", [
    "end_turn", "max_tokens", "stop_sequence", "model_context_window_exceeded", "malformed_model_output",
])
async def test_the_stop_reason_is_passed_through_and_saved(bedrock, alice, socket_for, stop_reason):
    bedrock.queue(Stream(deltas=["Once ", "upon ", "a"], stop_reason=stop_reason))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame("Tell me a long story"))
    frames = await receive_until_done(socket)

    done = frames[-1]
    # The model ended the answer itself: complete, however it ended; the stop reason tells how.
    assert (done["status"], done["stop_reason"]) == ("complete", stop_reason)
    message = await Message.objects.aget(pk=done["message"])
    assert (message.status, message.stop_reason, message.response) == ("complete", stop_reason, text_of(frames))


async def test_a_stop_by_the_user_says_so(bedrock, alice, socket_for):
    bedrock.queue(Stream(deltas=[f"w{i} " for i in range(50)], delay=0.05))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    started = await socket.receive_json_from()
    await socket.receive_json_from()
    await socket.send_json_to({"type": "stop", "message": started["message"]})
    done = (await receive_until_done(socket))[-1]

    assert (done["status"], done["stop_reason"]) == ("stopped", "stopped_by_user")
