"""Model lifecycle: a model past its end of life is refused with `model_retired` before anything is saved
or sent; the picker's catalog marks legacy and retired models; the seed's Cohere model is kept, retired."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import CatalogEntry, Conversation, Message
from tests.conftest import TEST_MODEL_ID
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)

SEED_MODEL = "cohere.command-text-v14"
SEED_RETIRED = "cohere.command-text-v14 (Bedrock) was retired on 2025-08-12. Pick another model."


def catalog_of(client, user) -> dict:
    client.force_login(user)
    response = client.get("/api/models/")
    assert response.status_code == 200
    return response.json()


def test_the_seed_model_is_kept_and_marked_retired(client, alice, settings):
    settings.BEDROCK_MODEL_ID = SEED_MODEL
    catalog = catalog_of(client, alice)

    seed = catalog["models"][0]
    assert seed["key"] == SEED_MODEL
    assert seed["lifecycle"] == {"legacy_on": "2024-10-04", "end_of_life_on": "2025-08-12", "status": "retired"}
    # The page opens on a model that still answers.
    assert catalog["default"] == "local"


def test_legacy_and_active_models_are_marked(client, alice, settings):
    settings.BEDROCK_MODEL_ID = TEST_MODEL_ID
    today = timezone.localdate()
    CatalogEntry.objects.create(key="old", label="Old", provider="bedrock-converse", model_id="x.old-v1",
                                legacy_on=today - timedelta(days=30), end_of_life_on=today + timedelta(days=60))
    CatalogEntry.objects.create(key="ending", label="Ending", provider="bedrock-converse", model_id="x.ending-v1",
                                end_of_life_on=today + timedelta(days=1))  # an announced end makes it legacy
    models = {m["key"]: m for m in catalog_of(client, alice)["models"]}

    assert models["old"]["lifecycle"] == {"legacy_on": (today - timedelta(days=30)).isoformat(),
                                          "end_of_life_on": (today + timedelta(days=60)).isoformat(), "status": "legacy"}
    assert models["ending"]["lifecycle"]["status"] == "legacy"
    assert models[TEST_MODEL_ID]["lifecycle"] == {"legacy_on": None, "end_of_life_on": None, "status": "active"}


async def assert_refused_before_anything(socket, bedrock, frame: dict, detail: str):
    await socket.send_json_to(frame)
    error = await socket.receive_json_from()
    assert error == {"type": "error", "id": frame["id"], "code": "model_retired", "detail": detail}
    assert await socket.receive_nothing(timeout=0.2)  # no `started`, no `done`
    assert bedrock.requests == []  # no upstream call
    assert await Message.objects.acount() == 0 and await Conversation.objects.acount() == 0


async def test_a_prompt_to_the_seed_model_is_refused_as_retired(bedrock, alice, socket_for, settings):
    settings.BEDROCK_MODEL_IDS = [SEED_MODEL]
    socket = await socket_for(alice)
    await assert_refused_before_anything(socket, bedrock, prompt_frame(model=SEED_MODEL), SEED_RETIRED)


async def test_only_a_retired_model_configured_is_refused_too(bedrock, alice, socket_for, settings):
    settings.BEDROCK_MODEL_ID = SEED_MODEL
    settings.LOCAL_MODEL_PATH = ""  # nothing else to fall back to: the default is the retired model
    socket = await socket_for(alice)
    await assert_refused_before_anything(socket, bedrock, prompt_frame(model=None), SEED_RETIRED)


async def test_profiles_and_arns_of_a_retired_model_are_retired(bedrock, alice, socket_for, settings):
    arn = f"arn:aws:bedrock:us-east-1::foundation-model/{SEED_MODEL}"
    settings.BEDROCK_MODEL_IDS = [arn]
    socket = await socket_for(alice)
    await assert_refused_before_anything(
        socket, bedrock, prompt_frame(model=arn), f"{arn} (Bedrock) was retired on 2025-08-12. Pick another model.")


async def test_a_staff_entry_retired_today_is_refused_with_its_label(bedrock, alice, socket_for):
    today = timezone.localdate()
    await CatalogEntry.objects.acreate(key="gone", label="Claude Old", provider="bedrock-converse",
                                       model_id=TEST_MODEL_ID, end_of_life_on=today)
    socket = await socket_for(alice)
    await assert_refused_before_anything(
        socket, bedrock, prompt_frame(model="gone"), f"Claude Old was retired on {today.isoformat()}. Pick another model.")


async def test_a_legacy_model_still_answers(bedrock, alice, socket_for):
    today = timezone.localdate()
    await CatalogEntry.objects.acreate(key="old", label="Old", provider="bedrock-converse", model_id=TEST_MODEL_ID,
                                       legacy_on=today - timedelta(days=1), end_of_life_on=today + timedelta(days=1))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(model="old"))
    frames = await receive_until_done(socket)

    assert frames[-1]["status"] == "complete"
    assert len(bedrock.requests) == 1


async def test_inference_profile_arns_keep_working_as_model_ids(bedrock, alice, socket_for, settings):
    profile = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0"
    settings.BEDROCK_MODEL_ID = profile
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(params={"reasoning_budget": 2048}))  # known through the profile
    frames = await receive_until_done(socket)

    assert frames[-1]["status"] == "complete"
    assert bedrock.requests[0].model_id == profile
    assert bedrock.requests[0].body["additionalModelRequestFields"]["thinking"]["budget_tokens"] == 2048


def test_a_retired_built_in_model_is_a_start_up_warning(settings):
    from django.core import checks

    settings.BEDROCK_MODEL_ID = SEED_MODEL
    [warning] = [message for message in checks.run_checks() if message.id == "chat.W001"]
    assert warning.msg == f"{SEED_MODEL} was retired on 2025-08-12: prompts to it are refused with model_retired."
    settings.BEDROCK_MODEL_ID = TEST_MODEL_ID
    assert not [message for message in checks.run_checks() if message.id == "chat.W001"]
