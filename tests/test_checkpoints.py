"""The partial answer is checkpointed every STREAM_CHECKPOINT_SECONDS, never per chunk."""

import asyncio
import time

import pytest
from django.db.backends.utils import CursorWrapper

from chat.models import Message
from tests.bedrock_server import Stream
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)


class MessageWrites:
    """Counts the writes of an answer's text (UPDATE chat_message SET response = …, one per row), on every
    connection."""

    def __init__(self, monkeypatch):
        self.count = 0
        original = CursorWrapper.execute

        def execute(cursor, sql, params=None):
            if sql.lstrip().upper().startswith("UPDATE") and "chat_message" in sql and '"response" =' in sql:
                self.count += 1
            return original(cursor, sql, params)

        original_many = CursorWrapper.executemany

        def executemany(cursor, sql, param_list):
            param_list = list(param_list)
            if sql.lstrip().upper().startswith("UPDATE") and "chat_message" in sql and '"response" =' in sql:
                self.count += len(param_list)  # one write per row
            return original_many(cursor, sql, param_list)

        monkeypatch.setattr(CursorWrapper, "execute", execute)
        monkeypatch.setattr(CursorWrapper, "executemany", executemany)


async def test_checkpoints_are_periodic_and_hold_the_text_so_far(bedrock, alice, socket_for, settings, monkeypatch):
    settings.STREAM_CHECKPOINT_SECONDS = 0.5
    words = [f"w{i} " for i in range(30)]
    bedrock.queue(Stream(deltas=words, delay=0.1))  # about 3 s
    writes = MessageWrites(monkeypatch)
    socket = await socket_for(alice)
    started_at = time.monotonic()
    await socket.send_json_to(prompt_frame())
    started = await socket.receive_json_from()
    received = ""
    while time.monotonic() - started_at < 1.6:
        received += (await socket.receive_json_from())["text"]

    saved = await Message.objects.aget(pk=started["message"])
    assert saved.status == "streaming"
    assert saved.response and received.startswith(saved.response)  # a checkpoint of what was sent
    assert len(received) - len(saved.response) <= len("w10 ") * 7  # at most ~0.6 s behind
    assert saved.seq == len(saved.response.split())
    assert (await Message.objects.aget(pk=saved.pk)).heartbeat_at is not None

    frames = await receive_until_done(socket)
    elapsed = time.monotonic() - started_at

    assert frames[-1]["status"] == "complete"
    # One write per interval plus the final save, not one per delta (30 deltas).
    assert 3 <= writes.count <= elapsed / 0.5 + 2
    assert writes.count < len(words) / 3
    final = await Message.objects.aget(pk=started["message"])
    assert (final.response, final.seq) == ("".join(words), 30)
