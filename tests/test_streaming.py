"""A prompt streams from Bedrock (real boto3, test server) to the socket, and the outcome is saved."""

import time

import pytest

from chat.models import Message
from tests.bedrock_server import Stream
from tests.conftest import TEST_MODEL_ID
from tests.ws import prompt_frame, receive_until_done, text_of

pytestmark = pytest.mark.django_db(transaction=True)


async def test_answer_streams_delta_by_delta_and_is_saved(bedrock, alice, socket_for):
    bedrock.queue(Stream(deltas=["The ", "sky ", "is ", "blue."], delay=0.15, input_tokens=11, output_tokens=4))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame("Why is the sky blue?"))

    started = await socket.receive_json_from()
    assert started["type"] == "started" and started["id"] == "req-1" and started["model"] == TEST_MODEL_ID
    arrivals, frames = [], []
    while not frames or frames[-1]["type"] != "done":
        frames.append(await socket.receive_json_from(timeout=5))
        arrivals.append(time.monotonic())

    deltas = [frame for frame in frames if frame["type"] == "delta"]
    assert [frame["text"] for frame in deltas] == ["The ", "sky ", "is ", "blue."]
    assert [frame["seq"] for frame in deltas] == [1, 2, 3, 4]
    # Relayed as they arrive, not all at the end: the deltas are spread over the server's pacing.
    assert arrivals[3] - arrivals[0] >= 0.3
    done = frames[-1]
    assert done["status"] == "complete"
    assert done["stop_reason"] == "end_turn"
    assert done["usage"] == {"input_tokens": 11, "output_tokens": 4, "cache_read_input_tokens": None,
                             "cache_write_input_tokens": None}
    assert done["metrics"]["ttft_ms"] >= 100 and done["metrics"]["duration_ms"] >= done["metrics"]["ttft_ms"]
    assert "error" not in done

    message = await Message.objects.aget(pk=started["message"])
    assert message.status == "complete"
    assert message.response == "The sky is blue."
    assert (message.input_tokens, message.output_tokens) == (11, 4)
    assert message.ttft_ms == done["metrics"]["ttft_ms"]
    assert message.finished is not None
    assert message.upstream_request_id  # Bedrock's request id, kept for support
    assert (message.client_ip, message.user_agent) == ("127.0.0.1", "StreamerTests/1.0")


async def test_prompt_row_is_saved_before_the_model_answers(bedrock, alice, socket_for):
    bedrock.queue(Stream(deltas=["late"], first_delay=0.5))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame("Save me first"))

    started = await socket.receive_json_from()
    message = await Message.objects.select_related("conversation").aget(pk=started["message"])
    assert message.prompt == "Save me first"
    assert message.status == "streaming" and message.response == ""
    assert message.conversation.title == "Save me first"
    assert message.client_request_id == "req-1"
    frames = await receive_until_done(socket)
    assert text_of(frames) == "late"


async def test_request_sent_to_bedrock_carries_prompt_and_seed_parameters(bedrock, alice, socket_for):
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame("Count to three", params={"top_p": 0.5, "system": "Be brief."}))
    await receive_until_done(socket)

    [request] = bedrock.requests
    assert request.operation == "converse-stream"
    assert request.model_id == TEST_MODEL_ID
    assert request.body["messages"] == [{"role": "user", "content": [{"text": "Count to three"}]}]
    assert request.body["inferenceConfig"] == {"maxTokens": 4000, "temperature": 0.0, "topP": 0.5}
    assert request.body["system"] == [{"text": "Be brief."}]


async def test_second_prompt_in_a_conversation_sends_the_earlier_turn(bedrock, alice, socket_for):
    bedrock.queue(Stream(deltas=["Paris."]), Stream(deltas=["About 2 million."]))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame("Capital of France?", request_id="a"))
    first = await receive_until_done(socket)
    conversation = first[0]["conversation"]

    await socket.send_json_to(prompt_frame("Its population?", request_id="b", conversation=conversation))
    second = await receive_until_done(socket)

    assert second[0]["conversation"] == conversation
    assert bedrock.requests[1].body["messages"] == [
        {"role": "user", "content": [{"text": "Capital of France?"}]},
        {"role": "assistant", "content": [{"text": "Paris."}]},
        {"role": "user", "content": [{"text": "Its population?"}]},
    ]
    assert await Message.objects.filter(conversation_id=conversation).acount() == 2


async def test_a_nul_character_from_the_model_is_dropped_not_fatal(bedrock, alice, socket_for):
    # PostgreSQL cannot store NUL in text: kept, it would fail every save of the answer.
    bedrock.queue(Stream(deltas=["Zero", "\x00", " and\x00 one."]))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    started = await socket.receive_json_from()
    frames = await receive_until_done(socket)

    assert frames[-1]["status"] == "complete"
    assert [frame["seq"] for frame in frames if frame["type"] == "delta"] == [1, 2]
    assert text_of(frames) == "Zero and one."
    assert (await Message.objects.aget(pk=started["message"])).response == "Zero and one."
