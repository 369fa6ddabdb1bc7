"""Bedrock failures end as `done` with status `error`, a stable code and a sentence for a person."""

import pytest

from chat.models import Message
from chat.providers import ERROR_MESSAGES
from tests.bedrock_server import HttpError, Stream
from tests.ws import prompt_frame, receive_until_done, text_of

pytestmark = pytest.mark.django_db(transaction=True)


async def test_error_inside_the_stream_keeps_the_partial_answer(bedrock, alice, socket_for):
    bedrock.queue(
        Stream(deltas=["Half ", "an ", "answer"], error_after=2, error_message="internal model crash 0xdeadbeef")
    )
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    frames = await receive_until_done(socket)

    assert text_of(frames) == "Half an "
    done = frames[-1]
    assert done["status"] == "error"
    assert done["error"] == {"code": "model_error", "detail": ERROR_MESSAGES["model_error"]}
    assert "0xdeadbeef" not in str(frames)  # raw upstream text never reaches the page
    message = await Message.objects.aget(pk=done["message"])
    assert (message.status, message.response, message.error_code) == ("error", "Half an ", "model_error")
    assert message.error_detail == ERROR_MESSAGES["model_error"]


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [
        (429, "ThrottlingException", "throttled"),
        (403, "AccessDeniedException", "access_denied"),
        (400, "ValidationException", "validation"),
        (404, "ResourceNotFoundException", "model_not_found"),
        (503, "ServiceUnavailableException", "service_unavailable"),
        (424, "ModelErrorException", "model_error"),
    ],
)
async def test_error_before_the_stream_has_a_clear_code(bedrock, alice, socket_for, settings, status, error_type, code):
    settings.STREAM_RETRY_BASE_SECONDS = 0.01
    # Throttling and unavailability are retried (see test_retry.py): every attempt fails here.
    attempts = 1 + settings.STREAM_RETRIES if code in ("throttled", "service_unavailable") else 1
    bedrock.queue(*[HttpError(status, error_type, "secret upstream detail") for _ in range(attempts)])
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    frames = await receive_until_done(socket)

    assert [frame["type"] for frame in frames] == ["started", "done"]
    done = frames[-1]
    assert done["status"] == "error"
    assert done["error"] == {"code": code, "detail": ERROR_MESSAGES[code]}
    assert "secret upstream detail" not in str(frames)
    message = await Message.objects.aget(pk=done["message"])
    assert (message.status, message.error_code, message.response) == ("error", code, "")
    assert message.upstream_request_id  # the test server's x-amzn-RequestId, for support
    assert len(bedrock.requests) == attempts


async def test_unreachable_endpoint_is_service_unavailable(bedrock, alice, socket_for, monkeypatch):
    from chat.providers.bedrock import bedrock_client

    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:9")  # discard port: refused
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    bedrock_client.cache_clear()
    try:
        socket = await socket_for(alice)
        await socket.send_json_to(prompt_frame())
        done = (await receive_until_done(socket))[-1]
    finally:
        bedrock_client.cache_clear()
    assert done["error"]["code"] == "service_unavailable"
