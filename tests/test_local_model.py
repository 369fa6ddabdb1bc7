"""The embedded local model (the real bundled SmolLM2 GGUF through llama-cpp-python), end to end."""

import asyncio
import time

import pytest

from chat.models import Message
from tests.ws import prompt_frame, receive_until_done, text_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def local_only(settings):
    assert settings.LOCAL_MODEL_PATH, "the bundled model is installed by `make setup`"
    settings.BEDROCK_MODEL_ID = ""


async def test_local_model_streams_a_real_answer(local_only, alice, socket_for):
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame("What is the capital of France?", params={"max_tokens": 24}))
    frames = await receive_until_done(socket, timeout=60)

    assert frames[0]["type"] == "started" and frames[0]["model"] == "local"
    deltas = [frame for frame in frames if frame["type"] == "delta"]
    assert len(deltas) > 1
    done = frames[-1]
    assert done["status"] == "complete"
    assert done["usage"]["input_tokens"] > 10 and 0 < done["usage"]["output_tokens"] <= 24
    message = await Message.objects.aget(pk=done["message"])
    assert message.response == text_of(frames) and message.response.strip()
    assert (message.provider, message.output_tokens) == ("local", done["usage"]["output_tokens"])


async def test_stop_ends_local_generation_at_once(local_only, alice, socket_for):
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame("Write a long story about a lighthouse.", params={"max_tokens": 400}))
    started = await socket.receive_json_from(timeout=60)
    for _ in range(3):
        assert (await socket.receive_json_from(timeout=60))["type"] == "delta"

    stop_sent = time.monotonic()
    await socket.send_json_to({"type": "stop", "message": started["message"]})
    frames = await receive_until_done(socket, timeout=5)
    assert time.monotonic() - stop_sent < 0.2
    assert frames[-1]["status"] == "stopped"
    message = await Message.objects.aget(pk=started["message"])
    assert message.status == "stopped" and len(message.response) > 0


async def test_second_prompt_waits_its_turn_and_is_told_so(local_only, alice, bob, socket_for):
    first_socket, second_socket = await socket_for(alice), await socket_for(bob)
    await first_socket.send_json_to(prompt_frame("Tell me about the sea.", request_id="one", params={"max_tokens": 40}))
    first_started = await first_socket.receive_json_from(timeout=60)
    await first_socket.receive_json_from(timeout=60)  # the first answer is generating
    await second_socket.send_json_to(prompt_frame("Tell me about rivers.", request_id="two", params={"max_tokens": 16}))

    first_timed, second_timed = await asyncio.gather(timed_until_done(first_socket), timed_until_done(second_socket))
    first_frames, second_frames = [f for _, f in first_timed], [f for _, f in second_timed]
    assert [frame["type"] for frame in second_frames[:2]] == ["started", "queued"]
    assert second_frames[1]["position"] == 1
    assert all(frame["message"] == first_started["message"] for frame in first_frames)
    assert first_frames[-1]["status"] == second_frames[-1]["status"] == "complete"
    # One at a time, never interleaved: the second answer's first word came after the first answer ended.
    first_done_at = first_timed[-1][0]
    second_first_delta_at = next(at for at, frame in second_timed if frame["type"] == "delta")
    assert second_first_delta_at > first_done_at
    assert text_of(second_frames).strip()


async def timed_until_done(socket):
    timed = []
    while not timed or timed[-1][1]["type"] != "done":
        frame = await socket.receive_json_from(timeout=60)
        timed.append((time.monotonic(), frame))
    return timed
