"""An answer that stalls is ended by the idle watchdog with code `timeout`, keeping its partial text."""

import asyncio
import time

import pytest

from chat.models import Message
from tests.bedrock_server import Stream
from tests.ws import prompt_frame, receive_until_done, text_of

pytestmark = pytest.mark.django_db(transaction=True)


async def test_stalled_stream_times_out_and_keeps_the_partial_text(bedrock, alice, socket_for, settings):
    settings.STREAM_IDLE_TIMEOUT = 0.6
    answer = Stream(deltas=["Some ", "words ", "then ", "nothing"], stall_after=2, stall_seconds=20)
    bedrock.queue(answer)
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    frames = await receive_until_done(socket, timeout=5)

    done = frames[-1]
    assert done["status"] == "error"
    assert done["error"]["code"] == "timeout"
    assert text_of(frames) == "Some words "
    message = await Message.objects.aget(pk=done["message"])
    assert (message.status, message.error_code, message.response) == ("error", "timeout", "Some words ")
    assert await asyncio.to_thread(answer.connection_closed.wait, 5)  # the upstream was released


async def test_a_slow_but_steady_stream_is_not_cut(bedrock, alice, socket_for, settings):
    settings.STREAM_IDLE_TIMEOUT = 0.5
    bedrock.queue(Stream(deltas=[f"{i} " for i in range(6)], delay=0.3))  # 1.8 s in all, never 0.5 s silent
    socket = await socket_for(alice)
    started = time.monotonic()
    await socket.send_json_to(prompt_frame())
    frames = await receive_until_done(socket, timeout=5)
    assert frames[-1]["status"] == "complete" and time.monotonic() - started > 1.5
