"""An answer is `complete` only when the stream says so. A body that ends early is `error`/`incomplete`,
a connection reset mid-stream `error`/`connection_lost`: the partial text is kept, nothing is retried,
and the log names Bedrock's request id. The same for an InvokeModel family."""

import logging

import pytest

from chat.models import CatalogEntry, Message
from chat.providers import ERROR_MESSAGES
from tests.bedrock_server import InvokeStream, Stream
from tests.ws import prompt_frame, receive_until_done, text_of

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = [f"w{i} " for i in range(20)]


async def ask(socket_for, user, **prompt) -> list[dict]:
    socket = await socket_for(user)
    await socket.send_json_to(prompt_frame(**prompt))
    return await receive_until_done(socket)


async def assert_ended_with(frames: list[dict], code: str, text: str, caplog):
    done = frames[-1]
    assert text_of(frames) == text
    assert (done["status"], done["error"]) == ("error", {"code": code, "detail": ERROR_MESSAGES[code]})
    message = await Message.objects.aget(pk=done["message"])
    assert (message.status, message.error_code, message.response) == ("error", code, text)
    assert message.upstream_request_id
    assert any(f"code={code}" in record.getMessage() and message.upstream_request_id in record.getMessage()
               for record in caplog.records), "logged with Bedrock's request id"


async def test_a_body_that_ends_early_is_incomplete_not_complete(bedrock, alice, socket_for, caplog):
    caplog.set_level(logging.WARNING)
    bedrock.queue(Stream(deltas=WORDS, end_after=5))
    frames = await ask(socket_for, alice)

    await assert_ended_with(frames, "incomplete", "".join(WORDS[:5]), caplog)
    assert "cut off" in frames[-1]["error"]["detail"]
    assert len(bedrock.requests) == 1  # never retried: a retry would repeat the answer


async def test_a_message_stop_without_metadata_is_incomplete(bedrock, alice, socket_for, caplog):
    caplog.set_level(logging.WARNING)
    bedrock.queue(Stream(deltas=WORDS[:3], metadata=False))
    frames = await ask(socket_for, alice)

    await assert_ended_with(frames, "incomplete", "".join(WORDS[:3]), caplog)


async def test_an_end_before_the_first_word_is_incomplete_and_not_retried(bedrock, alice, socket_for, caplog):
    caplog.set_level(logging.WARNING)
    bedrock.queue(Stream(reasoning=["thinking "], deltas=WORDS, end_after=1))
    frames = await ask(socket_for, alice)

    await assert_ended_with(frames, "incomplete", "", caplog)
    assert (await Message.objects.aget(pk=frames[-1]["message"])).reasoning == "thinking "
    assert len(bedrock.requests) == 1


async def test_a_connection_reset_mid_stream_is_connection_lost(bedrock, alice, socket_for, caplog):
    caplog.set_level(logging.WARNING)
    bedrock.queue(Stream(deltas=WORDS, reset_after=7))
    frames = await ask(socket_for, alice)

    await assert_ended_with(frames, "connection_lost", "".join(WORDS[:7]), caplog)
    assert "lost" in frames[-1]["error"]["detail"]
    assert len(bedrock.requests) == 1


@pytest.fixture
async def invoke_model():
    """A model of a family only InvokeModel streams (Anthropic's messages body, here)."""
    await CatalogEntry.objects.acreate(key="claude-invoke", label="Claude (InvokeModel)", provider="bedrock-invoke",
                                       model_id="anthropic.claude-sonnet-4-20250514-v1:0")
    return "claude-invoke"


def claude_chunks(words: list[str]) -> list[dict]:
    return [
        {"type": "message_start", "message": {"role": "assistant", "content": [], "usage": {"input_tokens": 9}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}} for word in words),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": len(words)}},
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": 9, "outputTokenCount": len(words), "invocationLatency": 400, "firstByteLatency": 90}},
    ]


async def test_an_invoke_stream_without_its_final_chunk_is_incomplete(bedrock, alice, socket_for, caplog,
                                                                      invoke_model):
    caplog.set_level(logging.WARNING)
    bedrock.queue(InvokeStream(chunks=claude_chunks(WORDS[:4])[:-1]))  # all but message_stop with the metrics
    frames = await ask(socket_for, alice, model=invoke_model)

    await assert_ended_with(frames, "incomplete", "".join(WORDS[:4]), caplog)


async def test_an_invoke_stream_reset_mid_stream_is_connection_lost(bedrock, alice, socket_for, caplog,
                                                                    invoke_model):
    caplog.set_level(logging.WARNING)
    bedrock.queue(InvokeStream(chunks=claude_chunks(WORDS[:4]), reset_after=4))  # after 2 words
    frames = await ask(socket_for, alice, model=invoke_model)

    await assert_ended_with(frames, "connection_lost", "".join(WORDS[:2]), caplog)


async def test_a_whole_invoke_stream_is_complete(bedrock, alice, socket_for, invoke_model):
    bedrock.queue(InvokeStream(chunks=claude_chunks(WORDS[:4])))
    frames = await ask(socket_for, alice, model=invoke_model)

    assert (frames[-1]["status"], text_of(frames)) == ("complete", "".join(WORDS[:4]))
