"""With several processes, deltas of a run living in another process come over Redis pub/sub, which
keeps nothing for a listener that missed them: a socket that sees a gap in `seq` asks the running
process for the missing text, and the page gets it as a snapshot slice before the next delta.

The other process is played by this test on the real Redis layers: it answers the socket's snapshot
requests on the control layer and publishes deltas to the message's group, skipping two."""

import asyncio
import os
from datetime import timedelta

import pytest
import redis
from channels.layers import get_channel_layer
from django.utils import timezone

from chat import relay, runs
from chat.models import Conversation, Message

REDIS = os.environ.get("RELAY_TEST_REDIS", "redis://127.0.0.1:6379/13")


def redis_reachable() -> bool:
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=2).ping()
        return True
    except redis.RedisError:
        return False


pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("CI") and not redis_reachable(),
                       reason="Redis on 127.0.0.1:6379 is needed (CI starts it)"),
]


@pytest.fixture
def redis_layers(settings):
    """The layers streamer.settings configures when REDIS_URL is set, on a Redis db of this test's own."""
    redis.Redis.from_url(REDIS).flushdb()
    settings.REDIS_URL = REDIS
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [REDIS]}},
        "control": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS]}},
    }


@pytest.fixture
def streaming_message(alice):
    """A message whose run lives in "another process": streaming, with a fresh heartbeat, no run here."""
    conversation = Conversation.objects.create(user=alice, title="elsewhere")
    return Message.objects.create(conversation=conversation, user=alice, prompt="Count", status="streaming",
                                  heartbeat_at=timezone.now(), client_request_id="elsewhere-1")


async def test_deltas_lost_between_processes_are_asked_for_and_arrive_in_order(
        redis_layers, streaming_message, alice, socket_for):
    message_id = streaming_message.pk
    control = get_channel_layer("control")
    # The same prefix as chat.runs.control.control_channel: channels_redis's core layer reads the
    # process-local channels of one prefix with one receive loop; another prefix would wait for this process's loop.
    other_process = await control.new_channel("runs.")
    await control.group_add(runs.control_group(message_id), other_process)
    socket = await socket_for(alice)

    async def answer_snapshot_request(after, seq, text, stale=None):
        request = await asyncio.wait_for(control.receive(other_process), 5)
        assert (request["type"], request["message"], request["after"]) == ("run.snapshot_request", message_id, after)
        if stale is not None:  # a late reply to an earlier request arrives first: it must change nothing
            await control.send(request["reply_to"], stale)
        frame = {"type": "snapshot", "message": message_id, "seq": seq, "text": text, "status": "streaming",
                 "after": after or 0}
        reply = {"type": "run.snapshot", "message": message_id, "socket": request["socket"], "token": request["token"],
                 "frame": frame, "done": None}
        await control.send(request["reply_to"], reply)
        return reply

    async def publish(frame):
        await get_channel_layer().group_send(relay.group_name(message_id), {"type": "relay.frame", "frame": frame})

    def delta(seq, text):
        return {"type": "delta", "message": message_id, "seq": seq, "text": text}

    await socket.send_json_to({"type": "attach", "message": message_id})
    first_reply = await answer_snapshot_request(None, 2, "one two ")
    frames = [await socket.receive_json_from(timeout=5)]
    assert frames[0]["type"] == "snapshot"

    await publish(delta(3, "three "))
    frames.append(await socket.receive_json_from(timeout=5))
    assert frames[-1]["seq"] == 3

    await publish(delta(6, "six "))  # 4 and 5 went missing on the way
    await answer_snapshot_request(3, 5, "four five ", stale=first_reply)
    await publish({"type": "done", "message": message_id, "status": "complete"})
    while frames[-1]["type"] != "done":
        frames.append(await socket.receive_json_from(timeout=5))

    slice_ = frames[2]
    assert (slice_["type"], slice_["after"], slice_["seq"], slice_["text"]) == ("snapshot", 3, 5, "four five ")
    assert [frame["seq"] for frame in frames if frame["type"] == "delta"] == [3, 6]
    assert page_text(frames) == "one two three four five six "


def page_text(frames: list[dict]) -> str:
    """What the page shows, applying frames as chat.js does and checking seq continuity: a snapshot
    with `after` is appended only where the page's text ends."""
    text, seq = "", 0
    for frame in frames:
        if frame["type"] == "snapshot":
            assert frame["after"] in (0, seq), "a slice that does not fit"
            text = (text if frame["after"] else "") + frame["text"]
            seq = frame["seq"]
        elif frame["type"] == "delta":
            assert frame["seq"] == seq + 1, "a gap or a duplicate"
            text, seq = text + frame["text"], frame["seq"]
    return text


async def test_a_done_that_never_came_is_delivered_from_the_database(
        redis_layers, streaming_message, alice, socket_for, settings):
    settings.STREAM_STALE_SECONDS = 0.4  # the heartbeat check looks every 0.2 s
    message_id = streaming_message.pk
    control = get_channel_layer("control")
    other_process = await control.new_channel("runs.")
    await control.group_add(runs.control_group(message_id), other_process)
    socket = await socket_for(alice)
    await socket.send_json_to({"type": "attach", "message": message_id})
    request = await asyncio.wait_for(control.receive(other_process), 5)
    frame = {"type": "snapshot", "message": message_id, "seq": 1, "text": "one ", "status": "streaming", "after": 0}
    await control.send(request["reply_to"], {"type": "run.snapshot", "message": message_id, "socket": request["socket"],
                                             "token": request["token"], "frame": frame, "done": None})
    assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"

    # The other process saved the answer, but its `done` was lost on the way.
    await Message.objects.filter(pk=message_id).aupdate(
        status="complete", response="one two", seq=2, finished=timezone.now() - timedelta(seconds=3))

    done = await socket.receive_json_from(timeout=5)
    assert (done["type"], done["message"], done["status"]) == ("done", message_id, "complete")
    assert message_id not in relay.remote_watched()  # its subscription ended with it
