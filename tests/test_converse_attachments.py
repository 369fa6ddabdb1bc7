"""What the Bedrock test server receives through real boto3's ConverseStream: each attachment as a document
or image block with its detected format and its exact bytes, before the prompt's text; document names
sanitised to Converse's rules (the service model's DocumentBlock.name), the user's own names kept for display."""

import base64
import re

import pytest
from asgiref.sync import sync_to_async

from chat.models import Attachment
from tests.attachment_files import HAIKU, attachment_storage, client_for, image_bytes, pdf_bytes, upload
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["attachment_storage"]

# DocumentBlock.name: alphanumerics, single whitespace characters, hyphens, parentheses, square brackets; 1-200.
CONVERSE_NAME = re.compile(r"(?!.*\s\s)[A-Za-z0-9\s\-()\[\]]{1,200}")


def uploaded(user, name, data) -> int:
    response = upload(client_for(user), name, data)
    assert response.status_code == 201, response.content
    return response.json()["id"]


async def ask(socket, text, ids, request_id="req-1") -> list[dict]:
    await socket.send_json_to(prompt_frame(text=text, request_id=request_id, attachments=ids))
    frames = await receive_until_done(socket)
    assert frames[-1]["status"] == "complete", frames[-1]
    return frames


async def test_documents_and_images_go_as_blocks_with_their_exact_bytes(bedrock, alice, socket_for,
                                                                         attachment_storage, settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    pdf, png, jpeg = pdf_bytes("Revenue rose."), image_bytes("PNG", (20, 10)), image_bytes("JPEG", (16, 16))
    ids = [await sync_to_async(uploaded)(alice, name, data)
           for name, data in (("Q3 report: final.v2.pdf", pdf), ("screen shot.png", png), ("photo.jpg", jpeg))]
    socket = await socket_for(alice)
    await ask(socket, "What do these show?", ids)

    [request] = bedrock.requests
    [message] = request.body["messages"]
    document, first_image, second_image, text = message["content"]
    assert document["document"]["format"] == "pdf"
    assert document["document"]["name"] == "Q3 report final v2"
    assert base64.b64decode(document["document"]["source"]["bytes"]) == pdf
    assert first_image["image"]["format"] == "png"
    assert base64.b64decode(first_image["image"]["source"]["bytes"]) == png
    assert second_image["image"]["format"] == "jpeg"
    assert base64.b64decode(second_image["image"]["source"]["bytes"]) == jpeg
    assert text == {"text": "What do these show?"}
    names = await sync_to_async(lambda: list(Attachment.objects.order_by("pk").values_list("name", flat=True)))()
    assert names == ["Q3 report: final.v2.pdf", "screen shot.png", "photo.jpg"]


@pytest.mark.parametrize(("names", "sent"), [
    (["Résumé — été.txt", "notes.txt"], ["Resume ete", "notes"]),
    (["notes.txt", "notes.md"], ["notes", "notes (2)"]),  # unique within the request
    (["...txt", "%%%.csv"], ["document", "document (2)"]),  # nothing usable left
    (["a" * 300 + ".txt", "two   spaces  here.md"], ["a" * 200, "two spaces here"]),
    (["[draft] (v1) — x_y.txt", "ok-name.csv"], ["[draft] (v1) x y", "ok-name"]),
])
async def test_document_names_are_sanitised_to_conversés_rules(bedrock, alice, socket_for, attachment_storage,
                                                               settings, names, sent):
    settings.BEDROCK_MODEL_ID = HAIKU
    ids = [await sync_to_async(uploaded)(alice, name, f"text {n}\n".encode()) for n, name in enumerate(names)]
    socket = await socket_for(alice)
    await ask(socket, "Compare these.", ids)
    blocks = bedrock.requests[0].body["messages"][0]["content"][:-1]
    assert [block["document"]["name"] for block in blocks] == sent
    assert all(CONVERSE_NAME.fullmatch(name) for name in sent)


async def test_the_history_lists_the_turns_attachments(bedrock, alice, socket_for, attachment_storage, settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    document = await sync_to_async(uploaded)(alice, "plan.txt", b"The plan.\n")
    socket = await socket_for(alice)
    frames = await ask(socket, "Read my plan.", [document])

    def history():
        return client_for(alice).get(f"/api/conversations/{frames[0]['conversation']}/").json()

    [turn] = (await sync_to_async(history)())["messages"]
    assert turn["attachments"] == [{"id": document, "name": "plan.txt", "kind": "document", "format": "txt", "size": 10}]
