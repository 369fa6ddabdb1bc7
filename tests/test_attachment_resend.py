"""Later turns: earlier turns' files are sent again as context (Converse, through real boto3) while the
request stays within ATTACHMENT_CONTEXT_BYTES and Bedrock's 5 documents / 20 images; past that they are
named as "[attached: name]" after their turn's text. Sending an already-sent id again (Regenerate) shares
the file with the new message instead of copying it."""

import base64

import pytest
from asgiref.sync import sync_to_async

from chat.models import Attachment
from tests.attachment_files import HAIKU, attachment_storage, image_bytes, pdf_bytes, stored
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["attachment_storage"]


async def ask(socket, text, ids=(), conversation=None, request_id="req-1") -> dict:
    await socket.send_json_to(prompt_frame(text=text, request_id=request_id, attachments=list(ids),
                                           conversation=conversation))
    frames = await receive_until_done(socket)
    assert frames[-1]["status"] == "complete", frames[-1]
    return frames[0]


def kinds(content: list[dict]) -> list[str]:
    return [next(iter(block)) for block in content]


async def test_the_next_turn_sends_the_earlier_files_again(bedrock, alice, socket_for, attachment_storage, settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    pdf = pdf_bytes("Page of facts.")
    report = await sync_to_async(stored)(alice, "report.pdf", pdf)
    socket = await socket_for(alice)
    first = await ask(socket, "Summarise the report.", [report.pk])
    await ask(socket, "And its weaknesses?", conversation=first["conversation"], request_id="req-2")

    earlier_user, answer, current = bedrock.requests[1].body["messages"]
    assert kinds(earlier_user["content"]) == ["document", "text"]
    assert base64.b64decode(earlier_user["content"][0]["document"]["source"]["bytes"]) == pdf
    assert earlier_user["content"][1] == {"text": "Summarise the report."}
    assert current["content"] == [{"text": "And its weaknesses?"}]


async def test_earlier_files_over_the_budget_are_named_instead(bedrock, alice, socket_for, attachment_storage,
                                                               settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    big, small = image_bytes("PNG", (60, 60), None), b"small notes\n"
    settings.ATTACHMENT_CONTEXT_BYTES = len(small) + 10  # room for the small file only
    picture = await sync_to_async(stored)(alice, "big picture.png", big)
    notes = await sync_to_async(stored)(alice, "notes.txt", small)
    socket = await socket_for(alice)
    first = await ask(socket, "Look at these.", [picture.pk, notes.pk])
    assert kinds(bedrock.requests[0].body["messages"][0]["content"]) == ["image", "document", "text"]
    await ask(socket, "Anything else?", conversation=first["conversation"], request_id="req-2")

    earlier_user = bedrock.requests[1].body["messages"][0]
    assert kinds(earlier_user["content"]) == ["document", "text"]  # the small file, sent again
    assert earlier_user["content"][-1] == {"text": "Look at these.\n\n[attached: big picture.png]"}


async def test_at_most_five_documents_go_in_one_request(bedrock, alice, socket_for, attachment_storage, settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    first_five = [await sync_to_async(stored)(alice, f"old{n}.txt", f"old {n}\n".encode()) for n in range(5)]
    new = await sync_to_async(stored)(alice, "new.txt", b"new\n")
    socket = await socket_for(alice)
    first = await ask(socket, "Five documents.", [document.pk for document in first_five])
    await ask(socket, "One more.", [new.pk], conversation=first["conversation"], request_id="req-2")

    earlier_user, _, current = bedrock.requests[1].body["messages"]
    assert kinds(current["content"]) == ["document", "text"]
    assert kinds(earlier_user["content"]) == ["document"] * 4 + ["text"]  # this turn's file came first
    assert earlier_user["content"][-1]["text"].endswith("[attached: old4.txt]")


async def test_an_image_sent_to_a_model_without_vision_later_is_named(bedrock, alice, socket_for, attachment_storage,
                                                                       settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    settings.BEDROCK_MODEL_IDS = ["mistral.mistral-large-2407-v1:0"]  # documents, but no images
    picture = await sync_to_async(stored)(alice, "chart.png", image_bytes("PNG"))
    socket = await socket_for(alice)
    first = await ask(socket, "Describe the chart.", [picture.pk])
    await socket.send_json_to(prompt_frame(text="Now in words.", request_id="req-2", conversation=first["conversation"],
                                           model="mistral.mistral-large-2407-v1:0"))
    assert (await receive_until_done(socket))[-1]["status"] == "complete"
    earlier_user = bedrock.requests[1].body["messages"][0]
    assert earlier_user["content"] == [{"text": "Describe the chart.\n\n[attached: chart.png]"}]


async def test_sending_a_sent_file_again_shares_it_with_the_new_message(bedrock, alice, socket_for,
                                                                        attachment_storage, settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    pdf = pdf_bytes("Twice.")
    report = await sync_to_async(stored)(alice, "report.pdf", pdf)
    socket = await socket_for(alice)
    first = await ask(socket, "Summarise.", [report.pk])
    again = await ask(socket, "Summarise.", [report.pk], request_id="req-2")  # Regenerate: a new conversation here

    rows = await sync_to_async(lambda: list(Attachment.objects.order_by("pk")))()
    assert [row.message_id for row in rows] == [first["message"], again["message"]]
    assert rows[0].file.name == rows[1].file.name
    assert len([path for path in attachment_storage.rglob("*") if path.is_file()]) == 1
    current = bedrock.requests[1].body["messages"][-1]
    assert base64.b64decode(current["content"][0]["document"]["source"]["bytes"]) == pdf
    # The shared file counts once toward the quota.
    assert await sync_to_async(Attachment.objects.bytes_used)(alice) == len(pdf)
