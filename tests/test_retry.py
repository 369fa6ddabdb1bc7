"""Throttling and unavailability are retried with backoff, but only before the first word."""

import pytest

from chat.models import Message
from tests.bedrock_server import HttpError, Stream
from tests.ws import prompt_frame, receive_until_done, text_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick_backoff(settings):
    settings.STREAM_RETRY_BASE_SECONDS = 0.05


async def test_throttled_twice_then_answered(bedrock, alice, socket_for):
    bedrock.queue(HttpError(429, "ThrottlingException"), HttpError(429, "ThrottlingException"), Stream(deltas=["Fine", "."]))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    frames = await receive_until_done(socket)

    assert [f["type"] for f in frames] == ["started", "delta", "delta", "done"]
    assert frames[-1]["status"] == "complete" and text_of(frames) == "Fine."
    assert len(bedrock.requests) == 3
    gaps = [b.received_at - a.received_at for a, b in zip(bedrock.requests, bedrock.requests[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # backoff doubles
    assert await Message.objects.acount() == 1
    assert (await Message.objects.aget()).status == "complete"


async def test_unavailable_then_answered(bedrock, alice, socket_for):
    bedrock.queue(HttpError(503, "ServiceUnavailableException"), Stream(deltas=["Back."]))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    frames = await receive_until_done(socket)
    assert frames[-1]["status"] == "complete" and text_of(frames) == "Back."


async def test_other_errors_are_not_retried(bedrock, alice, socket_for):
    bedrock.queue(HttpError(403, "AccessDeniedException"), Stream())
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    done = (await receive_until_done(socket))[-1]
    assert done["error"]["code"] == "access_denied"
    assert len(bedrock.requests) == 1


async def test_no_retry_after_the_first_word(bedrock, alice, socket_for):
    bedrock.queue(
        Stream(deltas=["Part", "ial", "never"], error_after=2, error_type="throttlingException"),
        Stream(deltas=["would repeat the answer"]),
    )
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    frames = await receive_until_done(socket)

    assert text_of(frames) == "Partial"
    assert frames[-1]["status"] == "error" and frames[-1]["error"]["code"] == "throttled"
    assert len(bedrock.requests) == 1
    assert (await Message.objects.aget()).response == "Partial"


async def test_stop_during_backoff_stops(bedrock, alice, socket_for, settings):
    settings.STREAM_RETRY_BASE_SECONDS = 5
    bedrock.queue(HttpError(429, "ThrottlingException"), Stream())
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    started = await socket.receive_json_from()
    await socket.receive_nothing(timeout=0.3)  # now waiting to retry
    await socket.send_json_to({"type": "stop", "message": started["message"]})
    done = await socket.receive_json_from(timeout=2)
    assert (done["type"], done["status"]) == ("done", "stopped")
    assert len(bedrock.requests) == 1
