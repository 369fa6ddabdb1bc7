"""Helpers for talking to the chat WebSocket in tests."""

from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client


def session_cookie_for(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def open_socket(user=None, origin: str = "http://localhost", host: str | None = None) -> WebsocketCommunicator:
    """A WebSocket to the real ASGI application, logged in through a real session cookie. As from a browser
    on the page at `origin`: its Host is the origin's unless given."""
    from streamer.asgi import application

    host = host or urlsplit(origin).netloc
    headers = [(b"origin", origin.encode()), (b"host", host.encode()), (b"user-agent", b"StreamerTests/1.0")]
    if user is not None:
        cookie = await sync_to_async(session_cookie_for)(user)
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    communicator.scope["client"] = ("127.0.0.1", 53211)  # what daphne puts there
    return communicator


async def receive_until_done(communicator, timeout: float = 10.0) -> list[dict]:
    """Every frame up to and including `done`."""
    frames = []
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        frames.append(frame)
        if frame["type"] == "done":
            return frames


def prompt_frame(text="Hello there", request_id="req-1", **fields) -> dict:
    return {"type": "prompt", "id": request_id, "text": text, "conversation": None, "model": None} | fields


def text_of(frames: list[dict], part: str | None = None) -> str:
    """The text the deltas carried of one part: the answer's (no `part`), or part="reasoning"."""
    return "".join(frame["text"] for frame in frames if frame["type"] == "delta" and frame.get("part") == part)


def reasoning_of(frames: list[dict]) -> str:
    return text_of(frames, "reasoning")


def reassemble(frames: list[dict], part: str | None = None) -> str:
    """What a page shows of the answer (or with part="reasoning", of the reasoning): the snapshot's, then
    each delta's after it, checking seq continuity across both parts."""
    snapshot = frames[0]
    assert snapshot["type"] == "snapshot"
    text, seq = snapshot["reasoning" if part == "reasoning" else "text"], snapshot["seq"]
    for frame in frames[1:]:
        if frame["type"] == "delta":
            assert frame["seq"] == seq + 1, "a gap or a duplicate"
            seq = frame["seq"]
            text += frame["text"] if frame.get("part") == part else ""
    assert frames[-1]["type"] == "done"
    return text
