"""A model's reasoning streams to the socket as it arrives (`part: "reasoning"`), before the answer, on the
answer's own seq; it is kept with its signature, in checkpoints, on attach, and when the answer ends early."""

import asyncio
import logging
import statistics
import time

import pytest

from chat.models import CatalogEntry, Message
from chat.runs import find_run
from tests.bedrock_server import InvokeStream, Stream
from tests.ws import prompt_frame, reasoning_of, reassemble, receive_until_done, text_of

pytestmark = pytest.mark.django_db(transaction=True)
log = logging.getLogger(__name__)

THOUGHTS = [f"t{i} " for i in range(40)]
WORDS = ["The ", "answer ", "is ", "42."]


async def test_reasoning_reaches_the_socket_as_it_is_sent_before_the_answer(bedrock, alice, socket_for):
    answer = Stream(reasoning=THOUGHTS, signature="sig-EqQBCgIYAhIM", deltas=WORDS, delay=0.05)
    bedrock.queue(answer)
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame("Think first"))
    started = await socket.receive_json_from()
    frames, arrivals = [], []
    while not frames or frames[-1]["type"] != "done":
        frames.append(await socket.receive_json_from(timeout=5))
        arrivals.append(time.monotonic())

    deltas = [frame for frame in frames if frame["type"] == "delta"]
    assert [frame["seq"] for frame in deltas] == list(range(1, 45))  # one seq for both parts
    assert [frame.get("part") for frame in deltas] == ["reasoning"] * 40 + [None] * 4  # the answer carries none
    assert "part" not in deltas[-1]
    assert (reasoning_of(frames), text_of(frames)) == ("".join(THOUGHTS), "".join(WORDS))
    # Each reasoning delta reaches the socket as soon as the upstream sent it, long before the answer.
    delays = [(arrivals[i] - answer.sent_at[i]) * 1000 for i in range(40)]
    log.info("Reasoning delta upstream send -> socket: first %.1f ms, p50 %.1f ms, max %.1f ms",
             delays[0], statistics.median(delays), max(delays))
    assert delays[0] < 100
    assert arrivals[0] < answer.sent_at[40] - 1.5  # the first answer delta left the server ~2 s later

    done = frames[-1]
    assert done["status"] == "complete"
    # ttft_ms counts the first delta of either part: the 2 s of reasoning lie between it and answer_ms.
    metrics = done["metrics"]
    assert metrics["ttft_ms"] + 1500 < metrics["answer_ms"] <= metrics["duration_ms"]
    message = await Message.objects.aget(pk=started["message"])
    assert (message.reasoning, message.response, message.seq) == ("".join(THOUGHTS), "".join(WORDS), 44)
    assert message.reasoning_signature == "sig-EqQBCgIYAhIM"
    assert (message.ttft_ms, message.answer_ms) == (metrics["ttft_ms"], metrics["answer_ms"])


async def test_redacted_reasoning_is_kept_unchanged(bedrock, alice, socket_for):
    bedrock.queue(Stream(redacted=b"\x00\xffencrypted-thinking", deltas=["Fine."]))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    frames = await receive_until_done(socket)

    assert [frame.get("part") for frame in frames if frame["type"] == "delta"] == [None]  # nothing to show
    message = await Message.objects.aget(pk=frames[-1]["message"])
    assert bytes(message.reasoning_redacted) == b"\x00\xffencrypted-thinking"
    assert (message.reasoning, message.response) == ("", "Fine.")


async def test_attach_in_the_middle_of_reasoning_gets_it_then_the_rest(bedrock, alice, socket_for):
    bedrock.queue(Stream(reasoning=THOUGHTS[:30], deltas=WORDS * 5, delay=0.02))
    first = await socket_for(alice)
    await first.send_json_to(prompt_frame())
    started = await first.receive_json_from()
    for _ in range(6):
        assert (await first.receive_json_from())["part"] == "reasoning"

    second = await socket_for(alice)
    await second.send_json_to({"type": "attach", "message": started["message"]})
    attached = await receive_until_done(second)
    snapshot = attached[0]
    assert snapshot["status"] == "streaming" and 6 <= snapshot["seq"] < 30
    assert (snapshot["reasoning"], snapshot["text"]) == ("".join(THOUGHTS[:snapshot["seq"]]), "")
    # No gap or duplicate in either part (reassemble checks seq across both).
    assert reassemble(attached, "reasoning") == "".join(THOUGHTS[:30])
    assert reassemble(attached) == "".join(WORDS * 5)

    third = await socket_for(alice)  # after the end: from the database, the same as live
    await third.send_json_to({"type": "attach", "message": started["message"], "after": 3})
    saved_snapshot, saved_done = await third.receive_json_from(), await third.receive_json_from()
    assert (saved_snapshot["reasoning"], saved_snapshot["text"]) == ("".join(THOUGHTS[:30]), "".join(WORDS * 5))
    assert saved_done == attached[-1] == (await receive_until_done(first))[-1]


async def test_attach_with_after_gets_only_the_reasoning_the_client_lacks(bedrock, alice, socket_for):
    bedrock.queue(Stream(reasoning=THOUGHTS, deltas=WORDS, delay=0.03))
    first = await socket_for(alice)
    await first.send_json_to(prompt_frame())
    started = await first.receive_json_from()
    for _ in range(8):
        await first.receive_json_from()

    second = await socket_for(alice)
    await second.send_json_to({"type": "attach", "message": started["message"], "after": 5})
    attached = await receive_until_done(second)
    snapshot = attached[0]
    assert snapshot["after"] == 5 and snapshot["reasoning"] == "".join(THOUGHTS[5:snapshot["seq"]])
    assert "".join(THOUGHTS[:5]) + reassemble(attached, "reasoning") == "".join(THOUGHTS)


async def test_a_stop_during_reasoning_keeps_it(bedrock, alice, socket_for):
    bedrock.queue(Stream(reasoning=THOUGHTS, deltas=WORDS, delay=0.05))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    started = await socket.receive_json_from()
    received = [await socket.receive_json_from() for _ in range(3)]
    await socket.send_json_to({"type": "stop", "message": started["message"]})
    frames = received + await receive_until_done(socket)

    assert frames[-1]["status"] == "stopped"
    message = await Message.objects.aget(pk=started["message"])
    assert message.status == "stopped"
    assert (message.reasoning, message.response) == (reasoning_of(frames), "")
    assert 3 <= message.seq < 40


async def test_checkpoints_save_reasoning_and_an_interrupted_answer_keeps_it(bedrock, alice, socket_for, settings):
    settings.STREAM_CHECKPOINT_SECONDS = 0.2
    settings.STREAM_STALE_SECONDS = 0.6  # with Redis, a fresh heartbeat means "running in another process"
    bedrock.queue(Stream(reasoning=THOUGHTS, deltas=WORDS, delay=0.05))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    started = await socket.receive_json_from()
    received = "".join([(await socket.receive_json_from())["text"] for _ in range(12)])
    await asyncio.sleep(0.3)

    saved = await Message.objects.aget(pk=started["message"])
    assert saved.status == "streaming" and saved.reasoning and saved.seq == len(saved.reasoning.split())
    # The process dies: its run is cancelled without saving anything (as at shutdown), so the answer
    # keeps only its last checkpoint.
    find_run(started["message"]).task.cancel()
    await asyncio.sleep(settings.STREAM_STALE_SECONDS + 0.2)
    later = await socket_for(alice)
    await later.send_json_to({"type": "attach", "message": started["message"]})
    snapshot, done = await later.receive_json_from(timeout=5), await later.receive_json_from(timeout=5)

    interrupted = await Message.objects.aget(pk=started["message"])
    assert interrupted.status == "interrupted"
    assert interrupted.reasoning.startswith(received) and interrupted.response == ""
    assert (snapshot["status"], snapshot["reasoning"], snapshot["text"]) == ("interrupted", interrupted.reasoning, "")
    assert done["status"] == "interrupted"


def anthropic_thinking_chunks():
    """An Anthropic messages stream with extended thinking, as InvokeModelWithResponseStream sends it."""
    delta = lambda index, body: {"type": "content_block_delta", "index": index, "delta": body}  # noqa: E731
    return [
        {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
                                              "usage": {"input_tokens": 30, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        delta(0, {"type": "thinking_delta", "thinking": "Two plus two "}),
        delta(0, {"type": "thinking_delta", "thinking": "is four."}),
        delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9"}),
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "EmwKAhgB"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}},
        delta(2, {"type": "text_delta", "text": "4"}),
        {"type": "content_block_stop", "index": 2},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 12}},
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": 30, "outputTokenCount": 12, "invocationLatency": 900, "firstByteLatency": 200}},
    ]


async def test_anthropic_thinking_through_invoke_model_is_reasoning_too(bedrock, alice, socket_for):
    await CatalogEntry.objects.acreate(key="claude-invoke", label="Claude (InvokeModel)", provider="bedrock-invoke",
                                       model_id="anthropic.claude-sonnet-4-20250514-v1:0")
    bedrock.queue(InvokeStream(chunks=anthropic_thinking_chunks()))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame("2+2?", model="claude-invoke"))
    frames = await receive_until_done(socket)

    deltas = [frame for frame in frames if frame["type"] == "delta"]
    assert [(frame["seq"], frame.get("part"), frame["text"]) for frame in deltas] == [
        (1, "reasoning", "Two plus two "), (2, "reasoning", "is four."), (3, None, "4")]
    assert frames[-1]["status"] == "complete" and frames[-1]["metrics"]["server_latency_ms"] == 900
    message = await Message.objects.aget(pk=frames[-1]["message"])
    assert (message.reasoning, message.reasoning_signature) == ("Two plus two is four.", "EqQBCgIYAhIM1gbcDa9")
    assert bytes(message.reasoning_redacted) == b"EmwKAhgB"
