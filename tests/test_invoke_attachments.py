"""InvokeModelWithResponseStream: Claude's messages body carries images and documents in Anthropic's own
block shapes (base64 images and PDFs, text documents as text); families whose bodies have no such blocks
get `unsupported_attachment` naming the model, before anything is sent. Real boto3, the test server."""

import base64

import pytest
from asgiref.sync import sync_to_async

from chat.models import CatalogEntry, Message
from tests.attachment_files import HAIKU, attachment_storage, image_bytes, pdf_bytes, stored
from tests.bedrock_server import InvokeStream
from tests.test_bedrock_invoke import anthropic_chunks
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["attachment_storage"]


def catalog_entry(key: str, model_id: str) -> CatalogEntry:
    return CatalogEntry.objects.create(key=key, label=key.title(), provider="bedrock-invoke", model_id=model_id)


async def test_claude_through_invoke_gets_anthropic_image_and_document_blocks(bedrock, alice, socket_for,
                                                                               attachment_storage):
    await sync_to_async(catalog_entry)("claude-invoke", HAIKU)
    pdf, jpeg = pdf_bytes("Invoice total: 42."), image_bytes("JPEG", (12, 12))
    files = [await sync_to_async(stored)(alice, name, data)
             for name, data in (("invoice.pdf", pdf), ("scan.jpg", jpeg), ("terms.md", b"# Terms\n\nPay in 30 days.\n"))]
    bedrock.queue(InvokeStream(anthropic_chunks()))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(text="What is owed?", model="claude-invoke",
                                           attachments=[file.pk for file in files]))
    assert (await receive_until_done(socket))[-1]["status"] == "complete"

    [request] = bedrock.requests
    assert request.operation == "invoke-with-response-stream"
    [message] = request.body["messages"]
    document, image, text_document, text = message["content"]
    assert document == {"type": "document", "title": "invoice.pdf", "source": {
        "type": "base64", "media_type": "application/pdf", "data": base64.b64encode(pdf).decode()}}
    assert image == {"type": "image", "source": {
        "type": "base64", "media_type": "image/jpeg", "data": base64.b64encode(jpeg).decode()}}
    assert text_document == {"type": "document", "title": "terms.md", "source": {
        "type": "text", "media_type": "text/plain", "data": "# Terms\n\nPay in 30 days.\n"}}
    assert text == {"type": "text", "text": "What is owed?"}


async def test_claude_through_invoke_takes_no_word_documents(bedrock, alice, socket_for, attachment_storage):
    await sync_to_async(catalog_entry)("claude-invoke", HAIKU)
    word = await sync_to_async(stored)(alice, "letter.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "WordDocument".encode("utf-16-le"))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(model="claude-invoke", attachments=[word.pk]))
    frame = await socket.receive_json_from()
    assert frame["code"] == "unsupported_attachment"
    assert frame["detail"].startswith("Claude-Invoke does not take DOC documents (it takes PDF, TXT, MD, CSV, HTML).")
    assert bedrock.requests == [] and await Message.objects.acount() == 0


@pytest.mark.parametrize("model_id", ["meta.llama3-8b-instruct-v1:0",
                                      "amazon.titan-text-express-v1", "mistral.mistral-7b-instruct-v0:2"])
async def test_families_without_attachment_blocks_are_refused(bedrock, alice, socket_for, attachment_storage, model_id):
    await sync_to_async(catalog_entry)("other", model_id)
    notes = await sync_to_async(stored)(alice, "notes.txt", b"notes\n")
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(model="other", attachments=[notes.pk]))
    frame = await socket.receive_json_from()
    assert frame["code"] == "unsupported_attachment"
    assert frame["detail"].startswith("Other does not take documents.")
    assert bedrock.requests == []
