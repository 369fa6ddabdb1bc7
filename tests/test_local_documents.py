"""The local model reads documents as text: a real PDF's text layer (pypdf) and text files placed before the
prompt, cut to fit its context window; earlier turns' files named only; images refused before anything runs."""

import pytest
from asgiref.sync import sync_to_async

from chat.models import CatalogEntry, Message
from chat.providers import GenerationRequest, ProviderError
from chat.providers.local_documents import with_document_text
from tests.attachment_files import attachment_storage, image_bytes, pdf_bytes, stored
from tests.ws import prompt_frame

pytestmark = pytest.mark.django_db
__all__ = ["attachment_storage"]


def request_with(*turns) -> GenerationRequest:
    messages = []
    for index, (text, files) in enumerate(turns):
        if index:
            messages.append({"role": "assistant", "text": f"answer {index}"})
        message = {"role": "user", "text": text}
        if files:
            message["attachments"] = [file.as_attached() for file in files]
        messages.append(message)
    return GenerationRequest(model_id="local.gguf", messages=messages)


def test_a_real_pdfs_text_goes_before_the_prompt(alice, attachment_storage):
    report = stored(alice, "Q3 report.pdf", pdf_bytes("Revenue rose 12 percent.", "Costs fell in March."))
    notes = stored(alice, "notes.md", b"\xef\xbb\xbf# Notes\nAsk about hiring.\n")
    sent = with_document_text(request_with(("What changed?", [report, notes])), context_tokens=4096)
    text = sent.messages[-1]["text"]
    assert text.startswith("[Document: Q3 report.pdf]\nRevenue rose 12 percent.\n\nCosts fell in March.\n[End of Q3 report.pdf]")
    assert "[Document: notes.md]\n# Notes\nAsk about hiring.\n\n[End of notes.md]\n\nWhat changed?" in text
    assert "attachments" not in sent.messages[-1]


def test_text_over_the_context_window_is_cut_and_says_so(alice, attachment_storage):
    long_notes = stored(alice, "long.txt", ("word " * 5000).encode())
    sent = with_document_text(request_with(("Summarise.", [long_notes])), context_tokens=256)
    text = sent.messages[-1]["text"]
    assert "[… the rest of long.txt did not fit in the local model's context window]" in text
    assert len(text) < 256 * 2 + 200


def test_earlier_turns_files_are_named_only(alice, attachment_storage):
    first = stored(alice, "first.pdf", pdf_bytes("Old page."))
    sent = with_document_text(request_with(("Read this.", [first]), ("And now?", [])), context_tokens=4096)
    assert sent.messages[0] == {"role": "user", "text": "Read this.\n\n[attached: first.pdf]"}
    assert sent.messages[-1] == {"role": "user", "text": "And now?"}


def test_an_image_cannot_reach_the_local_model(alice, attachment_storage):
    picture = stored(alice, "cat.png", image_bytes("PNG"))
    with pytest.raises(ProviderError) as raised:
        with_document_text(request_with(("What is this?", [picture])), context_tokens=4096)
    assert raised.value.code == "unsupported_attachment"


@pytest.mark.django_db(transaction=True)
async def test_the_catalog_refuses_images_for_the_local_model_before_it_runs(alice, socket_for, attachment_storage,
                                                                             settings):
    settings.BEDROCK_MODEL_ID = ""
    await CatalogEntry.objects.acreate(key="mine", label="Local mine", provider="local")
    picture = await sync_to_async(stored)(alice, "cat.png", image_bytes("PNG"))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(model="mine", attachments=[picture.pk]))
    frame = await socket.receive_json_from()
    assert frame["code"] == "unsupported_attachment"
    assert frame["detail"].startswith("Local mine does not take images.")
    assert await Message.objects.acount() == 0
