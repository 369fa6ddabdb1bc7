"""A prompt frame's `attachments`: only the user's own ids (another user's, a removed one and a missing one
all get `not_found`), at most 5 documents and 20 images, and only to a model that takes them
(`unsupported_attachment` naming the model); every refusal saves nothing and sends nothing upstream."""

import pytest
from asgiref.sync import sync_to_async

from chat.models import Attachment, Message
from tests.attachment_files import HAIKU, attachment_storage, image_bytes, pdf_bytes, stored
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["attachment_storage"]

NOT_FOUND = {"type": "error", "id": "req-1", "code": "not_found", "detail": "No such attachment."}


async def refused(socket, **fields) -> dict:
    await socket.send_json_to(prompt_frame(**fields))
    frame = await socket.receive_json_from()
    assert frame["type"] == "error"
    return frame


async def nothing_happened(bedrock):
    assert await Message.objects.acount() == 0
    assert bedrock.requests == []


async def test_another_users_attachment_is_not_found(bedrock, alice, bob, socket_for, attachment_storage, settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    bobs = await sync_to_async(stored)(bob, "bob.pdf", pdf_bytes("Bob's."))
    socket = await socket_for(alice)
    assert await refused(socket, attachments=[bobs.pk]) == NOT_FOUND
    assert await refused(socket, attachments=[bobs.pk + 1000]) == NOT_FOUND
    await nothing_happened(bedrock)
    assert await Attachment.objects.filter(message__isnull=False).acount() == 0


async def test_a_removed_attachment_is_not_found(bedrock, alice, socket_for, attachment_storage, settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    removed = await sync_to_async(stored)(alice, "gone.txt", b"gone\n")
    removed_id = removed.pk
    await removed.adelete()
    socket = await socket_for(alice)
    assert await refused(socket, attachments=[removed_id]) == NOT_FOUND
    await nothing_happened(bedrock)


async def test_a_model_without_images_is_named_before_anything_is_sent(bedrock, alice, socket_for, attachment_storage):
    # The test server's model id is no family AWS lists as taking images or documents.
    picture = await sync_to_async(stored)(alice, "cat.png", image_bytes("PNG"))
    socket = await socket_for(alice)
    frame = await refused(socket, attachments=[picture.pk])
    assert frame["code"] == "unsupported_attachment"
    assert frame["detail"].startswith("test.streamer-model-v1 (Bedrock) does not take images.")
    await nothing_happened(bedrock)


async def test_too_many_documents_are_refused(bedrock, alice, socket_for, attachment_storage, settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    documents = [await sync_to_async(stored)(alice, f"d{n}.txt", f"doc {n}\n".encode()) for n in range(6)]
    socket = await socket_for(alice)
    frame = await refused(socket, attachments=[document.pk for document in documents])
    assert frame["code"] == "too_many_attachments"
    assert frame["detail"] == "At most 5 documents and 20 images can go with one prompt."
    await nothing_happened(bedrock)


@pytest.mark.parametrize("value", ["1", [0], [True], [1.5], {"id": 1}, list(range(1, 27))])
async def test_bad_attachment_lists_are_refused(bedrock, alice, socket_for, value):
    socket = await socket_for(alice)
    frame = await refused(socket, attachments=value)
    assert frame["code"] in ("invalid_field", "too_many_attachments")
    await nothing_happened(bedrock)


async def test_attachments_are_linked_to_the_message_that_sent_them(bedrock, alice, socket_for, attachment_storage,
                                                                    settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    notes = await sync_to_async(stored)(alice, "notes.md", b"# Notes\n")
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(text="Summarise my notes", attachments=[notes.pk, notes.pk]))
    frames = await receive_until_done(socket)
    assert frames[-1]["status"] == "complete"
    await notes.arefresh_from_db()
    assert notes.message_id == frames[0]["message"] and notes.conversation_id == frames[0]["conversation"]
    # Sent once, though listed twice.
    assert len(bedrock.requests[0].body["messages"][0]["content"]) == 2
