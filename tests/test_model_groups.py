"""Model access per group: a catalog entry limited to groups is offered to, and answers, their members only."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group

from chat.models import CatalogEntry, Message
from tests.conftest import TEST_MODEL_ID
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)

SONNET_ID = "eu.anthropic.claude-3-7-sonnet-20250219-v1:0"


def limited(key: str, *groups: Group, model_id: str = SONNET_ID) -> CatalogEntry:
    entry = CatalogEntry.objects.create(key=key, label=key.title(), provider="bedrock-converse", model_id=model_id)
    entry.groups.set(groups)
    return entry


@pytest.fixture
def research(alice):
    """alice is in research; bob is in no group."""
    group = Group.objects.create(name="research")
    alice.groups.add(group)
    return group


def picker(client, user) -> dict:
    client.force_login(user)
    response = client.get("/api/models/")
    assert response.status_code == 200
    return response.json()


def test_the_picker_offers_a_limited_model_only_to_its_groups(client, alice, bob, research, bedrock, settings):
    settings.LOCAL_MODEL_PATH = ""  # the picker holds only this test's models, built llama.cpp or not
    limited("sonnet", research)
    limited("open")  # no group: everyone
    assert [m["key"] for m in picker(client, alice)["models"]] == [TEST_MODEL_ID, "open", "sonnet"]
    assert [m["key"] for m in picker(client, bob)["models"]] == [TEST_MODEL_ID, "open"]
    page = client.get("/")  # the page's own list (bob is still logged in)
    assert b'value="sonnet"' not in page.content and b'value="open"' in page.content


def test_the_default_is_the_first_model_the_user_may_use(client, alice, bob, research, bedrock, settings):
    settings.LOCAL_MODEL_PATH = ""
    limited(TEST_MODEL_ID, research, model_id=TEST_MODEL_ID)  # staff limit the built-in model by its key
    limited("open")
    assert picker(client, alice)["default"] == TEST_MODEL_ID
    assert picker(client, bob)["default"] == "open"


async def test_a_prompt_for_a_model_the_user_may_not_use_is_refused_before_anything_is_saved(
        alice, bob, research, bedrock, socket_for):
    await sync_to_async(limited)("sonnet", research)
    socket = await socket_for(bob)
    await socket.send_json_to(prompt_frame(model="sonnet", request_id="r1"))
    error = await socket.receive_json_from()
    assert (error["type"], error["code"], error["id"]) == ("error", "model_not_allowed", "r1")
    assert "Sonnet" in error["detail"]
    # A model that does not exist is still unknown, whoever asks.
    await socket.send_json_to(prompt_frame(model="nonesuch", request_id="r2"))
    assert (await socket.receive_json_from())["code"] == "unknown_model"
    assert bedrock.requests == [] and await Message.objects.acount() == 0

    mine = await socket_for(alice)
    await mine.send_json_to(prompt_frame(model="sonnet", request_id="r3"))
    frames = await receive_until_done(mine)
    assert frames[0]["type"] == "started" and frames[-1]["status"] == "complete"
    assert [request.model_id for request in bedrock.requests] == [SONNET_ID]


async def test_leaving_the_group_takes_the_model_away(alice, research, bedrock, socket_for):
    await sync_to_async(limited)("sonnet", research)
    await sync_to_async(alice.groups.remove)(research)
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(model="sonnet"))
    assert (await socket.receive_json_from())["code"] == "model_not_allowed"


def test_staff_limit_a_model_to_groups_in_admin(client, staff, alice, bob, research, bedrock):
    client.force_login(staff)
    response = client.post("/admin/chat/catalogentry/add/", {
        "key": "sonnet", "label": "Sonnet", "provider": "bedrock-converse", "model_id": SONNET_ID,
        "defaults": "{}", "enabled": "on", "position": "100", "groups": [str(research.pk)],
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    listing = client.get("/admin/chat/catalogentry/").content.decode()
    assert "research" in listing and "everyone" not in listing.split("sonnet", 1)[1][:2000]
    assert "sonnet" in [m["key"] for m in picker(client, alice)["models"]]
    assert "sonnet" not in [m["key"] for m in picker(client, bob)["models"]]
