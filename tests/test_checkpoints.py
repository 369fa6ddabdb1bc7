"""The partial answer is checkpointed every STREAM_CHECKPOINT_SECONDS, never per chunk."""

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
                # One write per row: a checkpoint statement carries a VALUES row per message.
                self.count += max(1, sql.count("(%s, %s, %s, %s)"))
            return original(cursor, sql, params)

        monkeypatch.setattr(CursorWrapper, "execute", execute)


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


@pytest.mark.django_db
def test_one_checkpoint_statement_saves_many_answers_but_never_an_ended_one(alice, monkeypatch):
    from chat import models
    from chat.models import Conversation

    monkeypatch.setattr(models, "CHECKPOINT_ROWS_PER_STATEMENT", 2)  # 5 rows: three statements
    conversation = Conversation.objects.create(user=alice, title="t")
    streaming = [Message.objects.create(conversation=conversation, user=alice, prompt=f"p{n}", status="streaming",
                                        client_request_id=f"r{n}") for n in range(4)]
    ended = Message.objects.create(conversation=conversation, user=alice, prompt="p", status="stopped", response="kept",
                                   client_request_id="r-ended")

    Message.checkpoint_many([(m.pk, f"partial {m.pk} é\u2028'\";", f"thought {m.pk}", m.pk) for m in streaming]
                            + [(ended.pk, "late", "late thought", 99)])

    for message in streaming:
        message.refresh_from_db()
        assert (message.response, message.reasoning, message.seq, message.status) == (
            f"partial {message.pk} é\u2028'\";", f"thought {message.pk}", message.pk, "streaming")
        assert message.heartbeat_at is not None
    ended.refresh_from_db()
    assert (ended.response, ended.reasoning, ended.seq, ended.status) == ("kept", "", 0, "stopped")


@pytest.mark.django_db(transaction=True)
def test_a_checkpoint_the_database_refuses_does_not_cost_the_others_theirs(alice):
    from chat.models import Conversation
    from chat.runs import write_checkpoints

    conversation = Conversation.objects.create(user=alice, title="t")
    fine, refused = (Message.objects.create(conversation=conversation, user=alice, prompt="p", status="streaming",
                                            client_request_id=f"r{n}") for n in range(2))

    write_checkpoints([(fine.pk, "so far", "", 2), (refused.pk, "unencodable \ud800", "", 3)])

    fine.refresh_from_db()
    refused.refresh_from_db()
    assert (fine.response, fine.seq) == ("so far", 2) and fine.heartbeat_at is not None
    assert (refused.response, refused.seq, refused.heartbeat_at) == ("", 0, None)
