"""Documents with citations on (Converse's DocumentBlock.citations), per catalog entry or for every model
(BEDROCK_CITE_DOCUMENTS): off by default, since a model that does not take it refuses the request."""

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError

from chat.models import CatalogEntry
from tests.attachment_files import HAIKU, attachment_storage, pdf_bytes, stored
from tests.bedrock_server import Stream
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["attachment_storage"]

HANDBOOK_CITATION = {"title": "handbook", "sourceContent": [{"text": "25 days of leave"}],
                     "location": {"documentPage": {"documentIndex": 0, "start": 1, "end": 1}}}


async def document_sent(bedrock, socket, handbook, **frame) -> dict:
    await socket.send_json_to(prompt_frame(text="How much leave?", attachments=[handbook.pk], **frame))
    done = (await receive_until_done(socket))[-1]
    assert done["status"] == "complete", done
    document = bedrock.requests[-1].body["messages"][0]["content"][0]["document"]
    return document, done


async def test_documents_go_without_citations_unless_asked(bedrock, alice, socket_for, attachment_storage, settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    handbook = await sync_to_async(stored)(alice, "handbook.pdf", pdf_bytes("25 days of leave."))
    document, _ = await document_sent(bedrock, await socket_for(alice), handbook)
    assert "citations" not in document and document["name"] == "handbook"


async def test_an_entry_with_citations_sends_them_on_and_the_answer_cites_the_document(
        bedrock, alice, socket_for, attachment_storage):
    await CatalogEntry.objects.acreate(key="cited-haiku", label="Haiku with citations", provider="bedrock-converse",
                                       model_id=HAIKU, cite_documents="on")
    handbook = await sync_to_async(stored)(alice, "handbook.pdf", pdf_bytes("25 days of leave."))
    bedrock.queue(Stream(deltas=["Leave is 25 days."], citations=[HANDBOOK_CITATION]))
    document, done = await document_sent(bedrock, await socket_for(alice), handbook, model="cited-haiku")
    assert document["citations"] == {"enabled": True}
    assert done["citations"] == [{"title": "handbook", "source": "", "location": "page 1", "text": "25 days of leave"}]


async def test_the_setting_turns_them_on_for_every_model_and_an_entry_can_turn_them_off(
        bedrock, alice, socket_for, attachment_storage, settings):
    settings.BEDROCK_MODEL_ID, settings.BEDROCK_CITE_DOCUMENTS = HAIKU, True
    await CatalogEntry.objects.acreate(key="plain-haiku", label="Haiku", provider="bedrock-converse",
                                       model_id=HAIKU, cite_documents="off")
    handbook = await sync_to_async(stored)(alice, "handbook.pdf", pdf_bytes("25 days of leave."))
    socket = await socket_for(alice)
    document, _ = await document_sent(bedrock, socket, handbook)
    assert document["citations"] == {"enabled": True}
    document, _ = await document_sent(bedrock, socket, handbook, request_id="req-2", model="plain-haiku")
    assert "citations" not in document


def test_the_local_model_cannot_be_set_to_cite():
    entry = CatalogEntry(key="mine", label="Mine", provider="local", cite_documents="on")
    with pytest.raises(ValidationError) as refused:
        entry.full_clean()
    assert "cite_documents" in refused.value.message_dict
