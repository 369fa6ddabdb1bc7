"""The model catalog: built from settings, extended by staff in admin, picked per prompt."""

import pytest

from chat.models import CatalogEntry, Message
from tests.conftest import TEST_MODEL_ID
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"


def models_json(client):
    response = client.get("/api/models/")
    assert response.status_code == 200
    return response.json()


def test_model_list_needs_login(client):
    assert client.get("/api/models/").status_code == 401


def test_bedrock_is_the_default_when_configured_and_local_is_offered_too(client, alice, settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    settings.BEDROCK_MODEL_IDS = ["meta.llama3-8b-instruct-v1:0", HAIKU]
    client.force_login(alice)
    catalog = models_json(client)
    assert catalog["default"] == HAIKU
    assert [m["key"] for m in catalog["models"]] == [HAIKU, "meta.llama3-8b-instruct-v1:0", "local"]
    haiku = catalog["models"][0]
    assert haiku["provider"] == "bedrock-converse"
    assert haiku["defaults"] == {"max_tokens": 4000, "temperature": 0.0}
    assert haiku["accepts_top_k"] is True
    assert catalog["models"][2]["provider"] == "local"


def test_local_model_is_the_default_without_bedrock(client, alice, settings):
    settings.BEDROCK_MODEL_ID = ""
    client.force_login(alice)
    assert models_json(client)["default"] == "local"


def test_seed_cohere_model_uses_invoke_with_the_seed_parameters(client, alice, settings):
    settings.BEDROCK_MODEL_ID = "cohere.command-text-v14"
    client.force_login(alice)
    cohere = models_json(client)["models"][0]
    assert cohere["provider"] == "bedrock-invoke"
    assert cohere["defaults"] == {"max_tokens": 4000, "temperature": 0.0, "top_p": 0.01, "top_k": 0}


def test_staff_add_a_model_in_admin_and_it_is_offered_at_once(client, staff, settings):
    settings.BEDROCK_MODEL_ID = HAIKU
    client.force_login(staff)
    response = client.post(
        "/admin/chat/catalogentry/add/",
        {
            "key": "sonnet",
            "label": "Claude Sonnet (EU profile)",
            "provider": "bedrock-converse",
            "model_id": "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "defaults": '{"max_tokens": 1000, "temperature": 0.5}',
            "system_prompt": "Answer in British English.",
            "enabled": "on",
            "position": "100",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    catalog = models_json(client)
    sonnet = next(m for m in catalog["models"] if m["key"] == "sonnet")
    assert sonnet["defaults"] == {"max_tokens": 1000, "temperature": 0.5}
    assert sonnet["system"] == "Answer in British English."
    assert catalog["default"] == HAIKU


def test_admin_refuses_bad_default_parameters(client, staff):
    client.force_login(staff)
    response = client.post(
        "/admin/chat/catalogentry/add/",
        {"key": "bad", "label": "Bad", "provider": "bedrock-converse", "model_id": "x.y",
         "defaults": '{"temperature": 9}', "enabled": "on", "position": "1"},
    )
    assert response.status_code == 200
    assert "temperature" in response.content.decode()
    assert not CatalogEntry.objects.filter(key="bad").exists()


async def test_prompt_goes_to_the_picked_model_with_its_defaults_and_system_prompt(bedrock, alice, socket_for):
    await CatalogEntry.objects.acreate(
        key="sonnet", label="Sonnet", provider="bedrock-converse", model_id="eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
        defaults={"max_tokens": 1000}, system_prompt="Be terse.", accepts_top_k=True,
    )
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(model="sonnet", params={"top_k": 7, "temperature": 0.3}))
    frames = await receive_until_done(socket)

    assert frames[0]["model"] == "sonnet"
    [request] = bedrock.requests
    assert request.model_id == "eu.anthropic.claude-3-7-sonnet-20250219-v1:0"
    assert request.body["inferenceConfig"] == {"maxTokens": 1000, "temperature": 0.3}
    assert request.body["additionalModelRequestFields"] == {"top_k": 7}
    # Claude 3.7 Sonnet caches prompts (BEDROCK_PROMPT_CACHING is on by default): a cache point follows.
    assert request.body["system"] == [{"text": "Be terse."}, {"cachePoint": {"type": "default"}}]
    message = await Message.objects.aget(pk=frames[0]["message"])
    assert (message.model_key, message.model_id, message.provider) == (
        "sonnet", "eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "bedrock-converse")
    assert message.params == {"max_tokens": 1000, "temperature": 0.3, "top_k": 7}


async def test_saved_parameters_keep_the_users_system_prompt(bedrock, alice, socket_for):
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(params={"system": "Answer like a pirate.", "temperature": 0.5}))
    frames = await receive_until_done(socket)
    message = await Message.objects.aget(pk=frames[0]["message"])
    assert message.params["system"] == "Answer like a pirate."  # for review, and for Regenerate after a reload
    assert bedrock.requests[0].body["system"] == [{"text": "Answer like a pirate."}]
    assert "system" not in bedrock.requests[0].body["inferenceConfig"]


async def test_disabled_model_is_refused(bedrock, alice, socket_for):
    await CatalogEntry.objects.acreate(key=TEST_MODEL_ID, label="off", provider="bedrock-converse",
                                       model_id=TEST_MODEL_ID, enabled=False)
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(model=TEST_MODEL_ID))
    error = await socket.receive_json_from()
    assert (error["type"], error["code"]) == ("error", "unknown_model")
    assert bedrock.requests == []


async def test_long_history_is_trimmed_oldest_first(bedrock, alice, socket_for, settings):
    settings.CONTEXT_CHAR_BUDGET = 1000
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame("first " + "a" * 400, request_id="1"))
    conversation = (await receive_until_done(socket))[0]["conversation"]
    for n in (2, 3):
        await socket.send_json_to(prompt_frame(f"turn {n} " + "b" * 300, request_id=str(n), conversation=conversation))
        await receive_until_done(socket)

    sent = bedrock.requests[-1].body["messages"]
    texts = [m["content"][0]["text"] for m in sent]
    assert texts[-1].startswith("turn 3") and texts[0].startswith("turn 2")  # turn 1 dropped
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
