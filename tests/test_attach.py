"""Attach: a snapshot, then the live deltas after it, then `done`: no gap and no duplicate."""

import asyncio
import random

import pytest

from chat.models import Message
from tests.bedrock_server import Stream
from tests.ws import prompt_frame, reassemble, receive_until_done, text_of

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = [f"w{i} " for i in range(30)]


async def answer_under_way(bedrock, alice, socket_for, delay: float, seen: int):
    """A socket that prompted and has read `seen` deltas of the answer; returns it and its `started`."""
    bedrock.queue(Stream(deltas=WORDS, delay=delay))
    first = await socket_for(alice)
    await first.send_json_to(prompt_frame())
    started = await first.receive_json_from()
    for _ in range(seen):
        await first.receive_json_from()
    return first, started


async def test_second_socket_attaches_mid_stream_and_gets_the_whole_answer(bedrock, alice, socket_for):
    first, started = await answer_under_way(bedrock, alice, socket_for, delay=0.02, seen=5)

    second = await socket_for(alice)
    await second.send_json_to({"type": "attach", "message": started["message"]})
    attached = await receive_until_done(second)

    assert attached[0]["status"] == "streaming" and attached[0]["seq"] >= 5
    assert reassemble(attached) == "".join(WORDS)
    assert text_of(await receive_until_done(first)) + "" != ""  # the first socket keeps streaming too
    assert (await Message.objects.aget(pk=started["message"])).response == "".join(WORDS)


async def test_attach_racing_the_deltas_never_loses_or_repeats_a_word(bedrock, alice, socket_for, settings):
    # Tiny delays and random attach moments, many times, to catch the race between snapshot and delta.
    settings.PROMPTS_PER_MINUTE = 100
    rng = random.Random(7)
    first = await socket_for(alice)
    for attempt in range(25):
        bedrock.queue(Stream(deltas=WORDS, delay=rng.choice([0, 0.001, 0.002])))
        await first.send_json_to(prompt_frame(request_id=f"race-{attempt}"))
        started = await first.receive_json_from()
        assert started["type"] == "started", started
        second = await socket_for(alice)
        await asyncio.sleep(rng.uniform(0, 0.03))
        await second.send_json_to({"type": "attach", "message": started["message"]})
        assert reassemble(await receive_until_done(second)) == "".join(WORDS), f"attempt {attempt}"
        assert text_of(await receive_until_done(first)) == "".join(WORDS)
        await second.disconnect()


async def test_attach_with_after_sends_only_what_the_client_lacks(bedrock, alice, socket_for):
    first, started = await answer_under_way(bedrock, alice, socket_for, delay=0.03, seen=6)

    second = await socket_for(alice)
    await second.send_json_to({"type": "attach", "message": started["message"], "after": 4})
    attached = await receive_until_done(second)
    snapshot = attached[0]
    assert snapshot["after"] == 4 and snapshot["text"] == "".join(WORDS[4:snapshot["seq"]])
    assert "".join(WORDS[:4]) + reassemble(attached) == "".join(WORDS)


async def test_attach_to_a_finished_message_gets_snapshot_then_done(bedrock, alice, socket_for):
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame())
    frames = await receive_until_done(socket)

    later = await socket_for(alice)
    await later.send_json_to({"type": "attach", "message": frames[0]["message"]})
    snapshot, done = await later.receive_json_from(), await later.receive_json_from()
    assert snapshot == {"type": "snapshot", "message": frames[0]["message"], "seq": 5,
                        "text": "Hello from the test model.", "reasoning": "", "status": "complete", "after": 0}
    assert done == frames[-1]
    assert await later.receive_nothing(timeout=0.1)


async def test_two_tabs_watch_one_run_and_both_see_the_stop(bedrock, alice, socket_for):
    answer = Stream(deltas=WORDS * 5, delay=0.03)
    bedrock.queue(answer)
    first, second = await socket_for(alice), await socket_for(alice)
    await first.send_json_to(prompt_frame())
    started = await first.receive_json_from()
    await first.receive_json_from()
    await second.send_json_to({"type": "attach", "message": started["message"]})
    assert (await second.receive_json_from())["type"] == "snapshot"

    await second.send_json_to({"type": "stop", "message": started["message"]})
    first_done = (await receive_until_done(first))[-1]
    second_done = (await receive_until_done(second))[-1]
    assert first_done == second_done and first_done["status"] == "stopped"
    assert await asyncio.to_thread(answer.connection_closed.wait, 1)
