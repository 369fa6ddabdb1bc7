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


@pytest.fixture
def bedrock_log():
    """What the Bedrock providers log. On their own logger: importing the ASGI application configures
    logging again, which drops pytest's handler from the root logger in the first test of a session."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("chat.providers.bedrock")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


async def assert_ended_with(frames: list[dict], code: str, text: str, log: list[logging.LogRecord]):
    done = frames[-1]
    assert text_of(frames) == text
    assert (done["status"], done["error"]) == ("error", {"code": code, "detail": ERROR_MESSAGES[code]})
    message = await Message.objects.aget(pk=done["message"])
    assert (message.status, message.error_code, message.response) == ("error", code, text)
    assert message.upstream_request_id
    assert any(f"code={code}" in record.getMessage() and message.upstream_request_id in record.getMessage()
               for record in log), "logged with Bedrock's request id"


@pytest.mark.parametrize(("answer", "code", "words_kept"), [
    (Stream(deltas=WORDS, end_after=5), "incomplete", 5),  # the body ends cleanly, after 5 of 20 deltas
    (Stream(deltas=WORDS[:3], metadata=False), "incomplete", 3),  # messageStop came, the metadata never did
    (Stream(deltas=WORDS, reset_after=7), "connection_lost", 7),  # a TCP reset after 7 deltas
], ids=["early-end", "no-metadata", "reset"])
async def test_a_stream_that_ends_early_is_an_error_not_complete(bedrock, alice, socket_for, bedrock_log, answer, code,
                                                                 words_kept):
    bedrock.queue(answer)
    frames = await ask(socket_for, alice)

    await assert_ended_with(frames, code, "".join(WORDS[:words_kept]), bedrock_log)
    assert ("cut off" if code == "incomplete" else "was lost") in frames[-1]["error"]["detail"]
    assert len(bedrock.requests) == 1  # never retried: a retry would repeat the answer


async def test_an_end_before_the_first_word_is_incomplete_and_not_retried(bedrock, alice, socket_for, bedrock_log):
    bedrock.queue(Stream(reasoning=["thinking "], deltas=WORDS, end_after=1))
    frames = await ask(socket_for, alice)

    await assert_ended_with(frames, "incomplete", "", bedrock_log)
    assert (await Message.objects.aget(pk=frames[-1]["message"])).reasoning == "thinking "
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


async def test_an_invoke_stream_without_its_final_chunk_is_incomplete(bedrock, alice, socket_for, bedrock_log,
                                                                      invoke_model):
    bedrock.queue(InvokeStream(chunks=claude_chunks(WORDS[:4])[:-1]))  # all but message_stop with the metrics
    frames = await ask(socket_for, alice, model=invoke_model)

    await assert_ended_with(frames, "incomplete", "".join(WORDS[:4]), bedrock_log)


async def test_an_invoke_stream_reset_mid_stream_is_connection_lost(bedrock, alice, socket_for, bedrock_log,
                                                                    invoke_model):
    bedrock.queue(InvokeStream(chunks=claude_chunks(WORDS[:4]), reset_after=4))  # after 2 words
    frames = await ask(socket_for, alice, model=invoke_model)

    await assert_ended_with(frames, "connection_lost", "".join(WORDS[:2]), bedrock_log)


async def test_a_whole_invoke_stream_is_complete(bedrock, alice, socket_for, invoke_model):
    bedrock.queue(InvokeStream(chunks=claude_chunks(WORDS[:4])))
    frames = await ask(socket_for, alice, model=invoke_model)

    assert (frames[-1]["status"], text_of(frames)) == ("complete", "".join(WORDS[:4]))
