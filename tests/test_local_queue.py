"""The local model answers one prompt at a time (the real bundled model): its line serves users in turn, one
prompt each, so bob's one prompt does not wait behind all of alice's; every page is told its place."""

import asyncio
import time

import pytest

from tests.ws import prompt_frame

pytestmark = pytest.mark.django_db(transaction=True)

SHORT = {"max_tokens": 6, "temperature": 0}


@pytest.fixture
def local_only(settings):
    assert settings.LOCAL_MODEL_PATH, "the bundled model is installed by `make setup`"
    settings.BEDROCK_MODEL_ID = ""


class Page:
    """What one socket was sent, in order, each frame with the time it came."""

    def __init__(self, socket):
        self.socket, self.frames = socket, []

    async def until(self, **wanted) -> dict:
        """Read frames up to the first (new) one with these fields."""
        while True:
            frame = await self.socket.receive_json_from(timeout=60)
            self.frames.append((time.monotonic(), frame))
            if wanted.items() <= frame.items():
                return frame

    async def until_done(self, *messages: int) -> list[str]:
        """Read frames until each of these messages has ended, in whatever order; their statuses."""
        done = {}
        while done.keys() != set(messages):
            frame = await self.until(type="done")
            done[frame["message"]] = frame["status"]
        return [done[message] for message in messages]

    async def send(self, request_id: str, text: str, params: dict) -> int:
        await self.socket.send_json_to(prompt_frame(text, request_id=request_id, params=params))
        return (await self.until(type="started", id=request_id))["message"]

    def positions(self, message: int) -> list[int]:
        return [frame["position"] for _, frame in self.frames if frame["type"] == "queued" and frame["message"] == message]

    def first_delta_at(self, message: int) -> float:
        return next(at for at, frame in self.frames if frame["type"] == "delta" and frame["message"] == message)


async def test_users_are_served_in_turn_and_told_their_place(local_only, alice, bob, socket_for):
    alices, bobs = Page(await socket_for(alice)), Page(await socket_for(bob))
    # Alice's first answer generates (until she stops it) while the line forms behind it.
    a1 = await alices.send("a1", "Count from 1 to 500, one number per line.", {"max_tokens": 2000, "temperature": 0})
    await alices.until(type="delta", message=a1)
    a2 = await alices.send("a2", "Name a colour.", SHORT)
    await alices.until(type="queued", message=a2, position=1)
    a3 = await alices.send("a3", "Name a fruit.", SHORT)
    await alices.until(type="queued", message=a3, position=2)

    b1 = await bobs.send("b1", "Name a river.", SHORT)
    assert (await bobs.until(type="queued", message=b1))["position"] == 1  # next, ahead of alice's waiting two
    await alices.until(type="queued", message=a3, position=3)  # and alice's pages are told they moved back
    assert alices.positions(a2) == [1, 2]

    await alices.socket.send_json_to({"type": "stop", "message": a1})
    # Both pages read at once, so each frame's time is when it came.
    assert await asyncio.gather(alices.until_done(a1, a2, a3), bobs.until_done(b1)) == [
        ["stopped", "complete", "complete"], ["complete"]]

    # Served alice, bob, alice, alice.
    served = sorted([(bobs.first_delta_at(b1), "b1"), (alices.first_delta_at(a2), "a2"), (alices.first_delta_at(a3), "a3")])
    assert [name for _, name in served] == ["b1", "a2", "a3"]
    # Every place told was true: each count went down by one per answer served ahead, ending at 1.
    assert bobs.positions(b1) == [1]
    assert alices.positions(a2) == [1, 2, 1]
    assert alices.positions(a3) == [2, 3, 2, 1]
