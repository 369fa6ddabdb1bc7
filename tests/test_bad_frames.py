"""Every malformed frame gets an `error` frame with a clear code, and the socket stays usable."""

import json

import pytest

from chat.models import Message
from tests.ws import prompt_frame, receive_until_done, text_of

pytestmark = pytest.mark.django_db(transaction=True)

BIG = 10**30

# (what is sent, the expected code); a str is sent as is, a dict as JSON, bytes as a binary frame.
BAD_FRAMES = [
    ("not json at all", "invalid_json"),
    ('{"type": "prompt", "text": ', "invalid_json"),
    ("   ", "invalid_json"),
    ("[" * 50_000 + "]" * 10, "invalid_json"),
    ('["prompt", "hello"]', "invalid_frame"),
    ('"just a string"', "invalid_frame"),
    ("42", "invalid_frame"),
    ("null", "invalid_frame"),
    (b"\x00\x01binary", "invalid_frame"),
    ({"text": "no type"}, "unknown_type"),
    ({"type": "dance"}, "unknown_type"),
    ({"type": None}, "unknown_type"),
    ({"type": ["prompt"]}, "unknown_type"),
    ({"type": "prompt", "text": "no id"}, "invalid_field"),
    ({"type": "prompt", "id": 7, "text": "numeric id"}, "invalid_field"),
    ({"type": "prompt", "id": "", "text": "empty id"}, "invalid_field"),
    ({"type": "prompt", "id": "x" * 101, "text": "long id"}, "invalid_field"),
    ({"type": "prompt", "id": "a"}, "invalid_field"),
    ({"type": "prompt", "id": "a", "text": None}, "invalid_field"),
    ({"type": "prompt", "id": "a", "text": 12}, "invalid_field"),
    ({"type": "prompt", "id": "a", "text": {"nested": ["junk", {"deeper": True}]}}, "invalid_field"),
    ({"type": "prompt", "id": "a", "text": ""}, "empty_prompt"),
    ({"type": "prompt", "id": "a", "text": "  \n\t "}, "empty_prompt"),
    ({"type": "prompt", "id": "a", "text": "x" * 32_001}, "prompt_too_long"),
    ({"type": "prompt", "id": "a", "text": "hi", "conversation": "1"}, "invalid_field"),
    ({"type": "prompt", "id": "a", "text": "hi", "conversation": True}, "invalid_field"),
    ({"type": "prompt", "id": "a", "text": "hi", "conversation": -3}, "invalid_field"),
    ({"type": "prompt", "id": "a", "text": "hi", "conversation": BIG}, "invalid_field"),
    ({"type": "prompt", "id": "a", "text": "hi", "conversation": 1.5}, "invalid_field"),
    ({"type": "prompt", "id": "a", "text": "hi", "conversation": 999_999}, "not_found"),
    ({"type": "prompt", "id": "a", "text": "hi", "model": 5}, "invalid_field"),
    ({"type": "prompt", "id": "a", "text": "hi", "model": "no-such-model"}, "unknown_model"),
    ({"type": "prompt", "id": "a", "text": "hi", "params": [1, 2]}, "invalid_params"),
    ({"type": "prompt", "id": "a", "text": "hi", "params": {"temperature": "hot"}}, "invalid_params"),
    ({"type": "prompt", "id": "a", "text": "hi", "params": {"temperature": 7}}, "invalid_params"),
    ({"type": "prompt", "id": "a", "text": "hi", "params": {"max_tokens": BIG}}, "invalid_params"),
    ({"type": "prompt", "id": "a", "text": "hi", "params": {"max_tokens": True}}, "invalid_params"),
    ({"type": "prompt", "id": "a", "text": "hi", "params": {"top_p": -0.1}}, "invalid_params"),
    ({"type": "prompt", "id": "a", "text": "hi", "params": {"stop_sequences": "END"}}, "invalid_params"),
    ({"type": "prompt", "id": "a", "text": "hi", "params": {"stop_sequences": [""]}}, "invalid_params"),
    ({"type": "prompt", "id": "a", "text": "hi", "params": {"flux_capacitor": 1}}, "invalid_params"),
    ({"type": "prompt", "id": "a", "text": "hi", "params": {"top_k": 5}}, "invalid_params"),  # not for this model
    ({"type": "prompt", "id": "a", "text": "hi", "params": {"top_k": 2.5}}, "invalid_params"),
    ('{"type": "prompt", "id": "a", "text": "hi", "params": {"temperature": NaN}}', "invalid_params"),
    ({"type": "stop"}, "invalid_field"),
    ({"type": "stop", "message": "12"}, "invalid_field"),
    ({"type": "stop", "message": 0}, "invalid_field"),
    ({"type": "stop", "message": 999_999}, "not_found"),
    ({"type": "attach"}, "invalid_field"),
    ({"type": "attach", "message": None}, "invalid_field"),
    ({"type": "attach", "message": 999_999}, "not_found"),
    ({"type": "attach", "message": 1, "after": -1}, "invalid_field"),
    ({"type": "attach", "message": 1, "after": "3"}, "invalid_field"),
    (json.dumps({"type": "prompt", "id": "a", "text": "x" * 70_000}), "frame_too_large"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES, ids=[f"{i:02}-{code}" for i, (_, code) in enumerate(BAD_FRAMES)])
async def test_bad_frame_gets_an_error_and_the_socket_still_works(bedrock, alice, socket_for, frame, code):
    socket = await socket_for(alice)
    if isinstance(frame, bytes):
        await socket.send_to(bytes_data=frame)
    elif isinstance(frame, str):
        await socket.send_to(text_data=frame)
    else:
        await socket.send_json_to(frame)

    error = await socket.receive_json_from()
    assert error["type"] == "error"
    assert error["code"] == code
    assert isinstance(error["detail"], str) and error["detail"].endswith(".")
    assert await socket.receive_nothing(timeout=0.05)
    assert await Message.objects.acount() == 0  # a refused frame starts nothing

    await socket.send_json_to(prompt_frame("Still there?", request_id="after-error"))
    frames = await receive_until_done(socket)
    assert frames[-1]["status"] == "complete"
    assert text_of(frames) == "Hello from the test model."


async def test_error_frame_names_the_request_and_the_bad_parameter(bedrock, alice, socket_for):
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(request_id="r-9", params={"temperature": 3}))
    error = await socket.receive_json_from()
    assert error["id"] == "r-9"
    assert "temperature" in error["detail"]
    assert bedrock.requests == []  # nothing was sent upstream


async def test_no_model_configured_is_explained(alice, socket_for, settings):
    settings.BEDROCK_MODEL_ID = ""
    settings.LOCAL_MODEL_PATH = ""
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    error = await socket.receive_json_from()
    assert error["code"] == "no_model"
    assert "BEDROCK_MODEL_ID" in error["detail"]
