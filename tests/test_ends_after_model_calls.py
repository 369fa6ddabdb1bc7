"""Runs' ends wait while saved prompts' runs are calling their models (chat.intake, chat.runs.finishing):
in a burst, the boto3 calls of the last batch go before the first answers' final saves, at most
DEFER_SECONDS; and every prompt leaves the line once its model has answered, or its run has ended."""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from chat import intake
from chat.models import Conversation, Message
from chat.runs.finishing import DEFER_SECONDS, finisher
from tests.bedrock_server import HttpError, Stream
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)


def titles():
    return sync_to_async(lambda: list(Conversation.objects.values_list("title", flat=True)))()


async def test_an_end_waits_until_the_model_of_a_saved_prompt_has_answered(alice):
    line = intake.intake()
    model_answered = line.calling_model()
    end = asyncio.ensure_future(finisher().save(lambda: Conversation.objects.create(user=alice, title="ended")))
    await asyncio.sleep(0.2)
    assert not end.done() and await titles() == []
    model_answered()
    model_answered()  # twice is once
    await asyncio.wait_for(end, DEFER_SECONDS / 2)
    assert await titles() == ["ended"]
    assert not line.busy()


async def test_an_end_waits_at_most_the_deferral(alice):
    intake.intake().calling_model()  # never answered
    started = time.monotonic()
    await asyncio.wait_for(finisher().save(lambda: Conversation.objects.create(user=alice, title="late")), 5)
    assert DEFER_SECONDS * 0.9 <= time.monotonic() - started < DEFER_SECONDS + 1
    assert await titles() == ["late"]


async def test_answered_failed_and_resent_prompts_all_leave_the_line(bedrock, alice, bob, socket_for):
    """Bob's model call is refused before any reply: his run's end takes him out of the line, as Alice's
    first event does her; her resent prompt starts no run and is never counted."""
    bedrock.queue(HttpError(403, "AccessDeniedException"), Stream(deltas=["Hi ", "Alice"]))
    alices, bobs = await socket_for(alice), await socket_for(bob)
    await bobs.send_json_to(prompt_frame(request_id="b1"))
    assert (await receive_until_done(bobs))[-1]["status"] == "error"
    await alices.send_json_to(prompt_frame(request_id="a1"))
    assert (await receive_until_done(alices))[-1]["status"] == "complete"
    await alices.send_json_to(prompt_frame(request_id="a1"))  # resent: answered from the saved turn
    frames = await receive_until_done(alices)
    assert frames[0]["type"] == "started" and frames[-1]["status"] == "complete"
    assert await Message.objects.acount() == 2
    line = intake.intake()
    assert line.calling == 0 and not line.busy()


async def test_a_throttled_call_leaves_the_line_while_it_backs_off(bedrock, alice, socket_for, settings):
    """An error is the model's answer too: the run waiting to retry keeps no end waiting."""
    settings.STREAM_RETRY_BASE_SECONDS = 1.0
    bedrock.queue(HttpError(429, "ThrottlingException"), Stream(deltas=["Later"]))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(request_id="a1"))
    assert (await socket.receive_json_from(timeout=5))["type"] == "started"
    for _ in range(100):
        if bedrock.requests:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # the refusal is in: backing off for a second
    assert len(bedrock.requests) == 1 and not intake.intake().busy()
    frames = await receive_until_done(socket)
    assert frames[-1]["status"] == "complete" and len(bedrock.requests) == 2
