"""A burst of prompts (issue #16): the prompts waiting in a process are saved together, each keeps its own
outcome and limits, and a prompt with many waiting ahead of it is told so (`queued`)."""

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async

from chat import intake
from chat.models import Message
from tests.bedrock_server import Stream
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)


class BusyDatabase:
    """The database thread held by a long job, as a slow transaction or a big burst holds it: prompts
    arriving meanwhile wait in the process's line. Released on exit whatever happens."""

    def __init__(self):
        self.held, self.gate = threading.Event(), threading.Event()

    def hold(self):
        self.held.set()
        self.gate.wait(30)

    async def __aenter__(self):
        self.job = asyncio.ensure_future(database_sync_to_async(self.hold)())
        while not self.held.is_set():
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc):
        self.gate.set()
        await self.job


async def waiting_prompts(count: int):
    """Until `count` prompts are in this process's line (saving or waiting): the order of arrival is set."""
    line = intake.intake()
    for _ in range(500):
        if line.saving + len(line.waiting) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} prompts never reached the line")


async def test_a_prompt_with_others_ahead_of_it_is_told_it_is_queued(bedrock, alice, bob, django_user_model,
                                                                     socket_for, settings):
    settings.PROMPT_QUEUED_AT = 1
    carol = await django_user_model.objects.acreate_user("carol", password="carol-password-1")
    bedrock.queue(*[Stream(deltas=["Hello ", "there"]) for _ in range(3)])
    sockets = [await socket_for(user) for user in (alice, bob, carol)]
    async with BusyDatabase():
        for index, socket in enumerate(sockets):
            await socket.send_json_to(prompt_frame(request_id=f"burst-{index}"))
            await waiting_prompts(index + 1)
        # Told at once, while nothing has been saved (the database is busy): how many prompts are ahead of it.
        for index, socket in enumerate(sockets[1:], start=1):
            assert await socket.receive_json_from(timeout=5) == {"type": "queued", "id": f"burst-{index}", "position": index}
        assert await sockets[0].receive_nothing(0.2)
    for index, socket in enumerate(sockets):
        frames = await receive_until_done(socket)
        assert frames[0]["type"] == "started" and frames[0]["id"] == f"burst-{index}"
        assert frames[-1]["status"] == "complete"
        assert "".join(f["text"] for f in frames if f["type"] == "delta") == "Hello there"
        assert not any(f["type"] == "queued" for f in frames)  # the first had none ahead; the others were told once
    assert await Message.objects.acount() == 3


async def test_below_the_threshold_nobody_is_told_anything(bedrock, alice, bob, socket_for):
    bedrock.queue(*[Stream(deltas=["Hi"]) for _ in range(2)])
    sockets = [await socket_for(user) for user in (alice, bob)]
    async with BusyDatabase():
        for index, socket in enumerate(sockets):
            await socket.send_json_to(prompt_frame(request_id=f"calm-{index}"))
            await waiting_prompts(index + 1)
    for socket in sockets:
        frames = await receive_until_done(socket)
        assert [f["type"] for f in frames] == ["started", "delta", "done"]


async def test_prompts_saved_together_keep_their_own_outcome_and_limits(bedrock, alice, bob, socket_for, settings):
    """Alice's two prompts wait in the same line as Bob's: her second is refused by her limit, counted in
    the database as before, and Bob's prompt is not affected by it."""
    settings.MAX_CONCURRENT_STREAMS = 1
    bedrock.queue(*[Stream(deltas=["slow "] * 10, delay=0.05) for _ in range(2)])
    alices = [await socket_for(alice), await socket_for(alice)]
    bobs = await socket_for(bob)
    async with BusyDatabase():
        for index, (socket, request_id) in enumerate(((alices[0], "a1"), (bobs, "b1"), (alices[1], "a2"))):
            await socket.send_json_to(prompt_frame(request_id=request_id))
            await waiting_prompts(index + 1)
    first = await alices[0].receive_json_from(timeout=5)
    refused = await alices[1].receive_json_from(timeout=5)
    assert (first["type"], first["id"]) == ("started", "a1")
    assert (refused["type"], refused["code"], refused["id"]) == ("error", "too_many_streams", "a2")
    assert (await receive_until_done(bobs))[-1]["status"] == "complete"
    assert (await receive_until_done(alices[0]))[-1]["status"] == "complete"
    assert await Message.objects.filter(user=alice).acount() == 1


async def test_a_batch_refuses_a_prompt_whose_session_has_ended_and_saves_the_others(bedrock, alice, bob, socket_for,
                                                                                      settings):
    """The batch reads every session due a check in one statement; Alice's, deleted (as `clearsessions` or
    admin do, with no signal) before her prompt came, ends her socket with nothing saved for her, and Bob's
    prompt of the same batch is answered."""
    from django.contrib.sessions.models import Session

    settings.SESSION_RECHECK_SECONDS = 0
    bedrock.queue(Stream(deltas=["Hi"]))
    alices, bobs = await socket_for(alice), await socket_for(bob)
    await database_sync_to_async(lambda: [session.delete() for session in Session.objects.all()
                                          if session.get_decoded().get("_auth_user_id") == str(alice.pk)])()
    async with BusyDatabase():
        await alices.send_json_to(prompt_frame(request_id="a1"))
        await bobs.send_json_to(prompt_frame(request_id="b1"))
        await waiting_prompts(2)
    assert (await alices.receive_json_from(timeout=5))["code"] == "unauthenticated"
    assert (await receive_until_done(bobs))[-1]["status"] == "complete"
    assert [m.user_id async for m in Message.objects.all()] == [bob.pk]


async def test_prompts_saved_together_each_get_their_own_turn(bedrock, alice, bob, socket_for):
    """Three new conversations in one batch (inserted together): each prompt its own conversation and
    message, each request id answered once, in the order they came."""
    bedrock.queue(*[Stream(deltas=["Hi"]) for _ in range(3)])
    sockets = [await socket_for(user) for user in (alice, bob, alice)]
    async with BusyDatabase():
        for index, socket in enumerate(sockets):
            await socket.send_json_to(prompt_frame(text=f"prompt {index}", request_id=f"t{index}"))
            await waiting_prompts(index + 1)
    started = [(await receive_until_done(socket))[0] for socket in sockets]
    assert [frame["id"] for frame in started] == ["t0", "t1", "t2"]
    messages = [m async for m in Message.objects.order_by("pk")]
    assert [(m.prompt, m.client_request_id) for m in messages] == [(f"prompt {i}", f"t{i}") for i in range(3)]
    assert len({m.conversation_id for m in messages}) == 3
    assert [frame["message"] for frame in started] == [m.pk for m in messages]


def test_a_batch_whose_insert_fails_is_saved_one_by_one(alice, bob):
    """A request id that raced in from another process makes the insert of the whole batch fail: each prompt
    is then saved on its own, the resent one answered with the message saved first."""
    from chat.frames import PromptFrame

    def pending(user, request_id):
        return intake.Pending(user=user, prompt=PromptFrame(request_id, "hi", None, None, None), client_ip=None,
                              user_agent="", session=None)

    batch = [pending(alice, "x1"), pending(bob, "x2")]
    reads_class = intake.BatchReads

    class RacedReads(reads_class):  # read before the other process saved Bob's x2
        def __init__(self, users, request_ids):
            super().__init__(users, request_ids)
            Message.objects.start_turn(user=bob, prompt=batch[1].prompt, client_ip=None, user_agent="")

    intake.BatchReads = RacedReads
    try:
        outcomes = intake.save_batch(batch)
    finally:
        intake.BatchReads = reads_class
    assert outcomes[0][1] is not None and outcomes[0][0].client_request_id == "x1"
    assert outcomes[1][1] is None and outcomes[1][0].client_request_id == "x2"  # answered as a resend
    assert Message.objects.count() == 2
