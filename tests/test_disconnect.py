"""Disconnect is not stop: closing the socket (tab closed, reload, network drop) lets the answer finish."""

import pytest

from chat.models import Message
from tests.bedrock_server import Stream
from tests.ws import prompt_frame

pytestmark = pytest.mark.django_db(transaction=True)


async def test_closing_the_socket_does_not_stop_the_answer(bedrock, alice, socket_for):
    from chat.runs import wait_for_runs

    bedrock.queue(Stream(deltas=["one ", "two ", "three"], delay=0.1))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame("Keep going"))
    started = await socket.receive_json_from()
    await socket.receive_json_from()  # the first delta
    await socket.disconnect()

    await wait_for_runs()
    message = await Message.objects.aget(pk=started["message"])
    assert message.status == "complete"
    assert message.response == "one two three"
