"""boto3 calls build their requests in turn (chat.providers.bedrock_turns): the turn ends when botocore is
about to send, or when the call fails before that; answers come as before, and no turn is left held."""

import asyncio
import threading

import botocore.exceptions
import pytest

from chat.models import Message
from chat.providers import bedrock_turns
from chat.providers.bedrock import bedrock_client
from tests.bedrock_server import HttpError, Stream
from tests.ws import prompt_frame, receive_until_done, text_of

pytestmark = pytest.mark.django_db(transaction=True)


def no_turn_held() -> bool:
    return not bedrock_turns._building.locked()


async def test_prompts_sent_together_are_answered_and_leave_no_turn_held(bedrock, alice, bob, socket_for):
    bedrock.queue(Stream(deltas=["One ", "answer"]), Stream(deltas=["One ", "answer"]))
    alices, bobs = await socket_for(alice), await socket_for(bob)
    await asyncio.gather(alices.send_json_to(prompt_frame(request_id="a1")), bobs.send_json_to(prompt_frame(request_id="b1")))
    for socket in (alices, bobs):
        frames = await receive_until_done(socket)
        assert frames[-1]["status"] == "complete" and text_of(frames) == "One answer"
    assert len(bedrock.requests) == 2
    assert no_turn_held()


async def test_a_call_refused_by_bedrock_ends_its_turn(bedrock, alice, bob, socket_for):
    bedrock.queue(HttpError(403, "AccessDeniedException"), Stream(deltas=["Still ", "here"]))
    alices, bobs = await socket_for(alice), await socket_for(bob)
    await alices.send_json_to(prompt_frame(request_id="a1"))
    assert (await receive_until_done(alices))[-1]["error"]["code"] == "access_denied"
    assert no_turn_held()
    await bobs.send_json_to(prompt_frame(request_id="b1"))
    assert text_of(await receive_until_done(bobs)) == "Still here"
    assert await Message.objects.filter(status="complete").acount() == 1


def test_a_call_failing_before_it_sends_ends_its_turn(bedrock):
    """botocore's own validation refuses the call before anything is built to send: the turn must not be
    kept (the next call, on another thread, would wait for ever)."""
    bedrock.queue(Stream(deltas=["Fine"]))
    with pytest.raises(botocore.exceptions.ParamValidationError), bedrock_turns.taking_turns():
        bedrock_client().converse_stream(modelId="", messages=[])
    assert no_turn_held()
    answered = []

    def call():
        with bedrock_turns.taking_turns():
            response = bedrock_client().converse_stream(
                modelId="test.streamer-model-v1", messages=[{"role": "user", "content": [{"text": "Hi"}]}])
        answered.extend(event for event in response["stream"])

    thread = threading.Thread(target=call)
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and answered and no_turn_held()


def test_calls_outside_taking_turns_take_no_part(bedrock):
    bedrock.queue(Stream(deltas=["Plain"]))
    with bedrock_turns._building:  # held by someone else: a call not taking turns does not wait for it
        response = bedrock_client().converse_stream(
            modelId="test.streamer-model-v1", messages=[{"role": "user", "content": [{"text": "Hi"}]}])
        assert list(response["stream"])
