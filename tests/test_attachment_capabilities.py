"""Which models take which attachments (GET /api/models/ "attachments"): decided per provider and model
family, fail closed for a model we do not know, and turned on or off per catalog entry by staff."""

import pytest

from chat.models import CatalogEntry
from tests.attachment_files import HAIKU

pytestmark = pytest.mark.django_db

ALL_DOCUMENTS = ["pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"]
ALL_IMAGES = ["png", "jpeg", "gif", "webp"]
EXTRACTABLE = ["pdf", "txt", "md", "csv", "html"]


def attachments_by_key(client, user) -> dict:
    client.force_login(user)
    return {model["key"]: model["attachments"] for model in client.get("/api/models/").json()["models"]}


@pytest.mark.parametrize(("model_id", "images", "documents"), [
    (HAIKU, ALL_IMAGES, ALL_DOCUMENTS),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", ALL_IMAGES, ALL_DOCUMENTS),  # an inference profile
    ("anthropic.claude-v2:1", [], ALL_DOCUMENTS),
    ("amazon.nova-pro-v1:0", ALL_IMAGES, ALL_DOCUMENTS),
    ("amazon.nova-micro-v1:0", [], ALL_DOCUMENTS),
    ("meta.llama3-2-90b-instruct-v1:0", ALL_IMAGES, ALL_DOCUMENTS),
    ("meta.llama3-1-70b-instruct-v1:0", [], ALL_DOCUMENTS),
    ("mistral.pixtral-large-2502-v1:0", ALL_IMAGES, ALL_DOCUMENTS),
    ("amazon.titan-text-express-v1", [], []),  # InvokeModel: no attachment blocks in Titan's body
    ("test.streamer-model-v1", [], []),  # unknown: fail closed
])
def test_built_in_bedrock_models_follow_their_family(client, alice, settings, model_id, images, documents):
    settings.BEDROCK_MODEL_ID = model_id
    assert attachments_by_key(client, alice)[model_id] == {"images": images, "documents": documents}


def test_the_local_model_reads_pdf_and_text_documents_only(client, alice, settings):
    settings.BEDROCK_MODEL_ID = ""
    CatalogEntry.objects.create(key="my-local", label="Mine", provider="local")
    assert attachments_by_key(client, alice)["my-local"] == {"images": [], "documents": EXTRACTABLE}


def test_staff_turn_a_kind_on_or_off_within_what_the_provider_can_send(client, alice, settings):
    settings.BEDROCK_MODEL_ID = ""
    CatalogEntry.objects.create(key="profile", label="App profile", provider="bedrock-converse",
                                model_id="arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc",
                                takes_images="on", takes_documents="on")
    CatalogEntry.objects.create(key="no-images", label="Claude, text only", provider="bedrock-converse",
                                model_id=HAIKU, takes_images="off")
    CatalogEntry.objects.create(key="llama-invoke", label="Llama", provider="bedrock-invoke",
                                model_id="meta.llama3-8b-instruct-v1:0", takes_images="on", takes_documents="on")
    found = attachments_by_key(client, alice)
    assert found["profile"] == {"images": ALL_IMAGES, "documents": ALL_DOCUMENTS}
    assert found["no-images"] == {"images": [], "documents": ALL_DOCUMENTS}
    assert found["llama-invoke"] == {"images": [], "documents": []}  # its body has no blocks for them
