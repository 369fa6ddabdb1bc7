"""The per-prompt reasoning budget: offered only for models that reason, checked against max_tokens and
Bedrock's minimum, and never sent with temperature/top_p/top_k; each bad value is refused with
`invalid_params` naming the field, before anything is saved or sent."""

import pytest

from chat.models import Message
from tests.conftest import TEST_MODEL_ID
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)

SONNET_4 = "us.anthropic.claude-sonnet-4-20250514-v1:0"


@pytest.fixture
def claude(bedrock, settings):
    settings.BEDROCK_MODEL_ID = SONNET_4
    settings.BEDROCK_MODEL_IDS = [TEST_MODEL_ID]
    return bedrock


REFUSED = [
    pytest.param(SONNET_4, {"reasoning_budget": 512}, "reasoning_budget", "at least 1024", id="below-minimum"),
    pytest.param(SONNET_4, {"reasoning_budget": 4000}, "reasoning_budget", "less than 'max_tokens' (4000)",
                 id="not-below-default-max-tokens"),
    pytest.param(SONNET_4, {"reasoning_budget": 3000, "max_tokens": 2000}, "reasoning_budget", "less than 'max_tokens'",
                 id="not-below-max-tokens"),
    pytest.param(SONNET_4, {"reasoning_budget": 2048, "temperature": 0.7}, "temperature", "while reasoning is on",
                 id="temperature"),
    pytest.param(SONNET_4, {"reasoning_budget": 2048, "top_p": 0.9}, "top_p", "while reasoning is on", id="top-p"),
    pytest.param(SONNET_4, {"reasoning_budget": 2048, "top_k": 40}, "top_k", "while reasoning is on", id="top-k"),
    pytest.param(SONNET_4, {"reasoning_budget": "lots"}, "reasoning_budget", "whole number", id="not-a-number"),
    pytest.param(SONNET_4, {"reasoning_budget": True}, "reasoning_budget", "whole number", id="boolean"),
    pytest.param(SONNET_4, {"reasoning_budget": -1}, "reasoning_budget", "whole number", id="negative"),
    pytest.param(TEST_MODEL_ID, {"reasoning_budget": 2048}, "reasoning_budget", "not supported by", id="no-reasoning"),
]


@pytest.mark.parametrize(("model", "params", "field", "words"), REFUSED)
async def test_bad_reasoning_parameters_are_refused(claude, alice, socket_for, model, params, field, words):
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(model=model, params=params))
    error = await socket.receive_json_from()

    assert (error["type"], error["code"], error["id"]) == ("error", "invalid_params", "req-1")
    assert error["detail"].startswith(f"'{field}'")  # the page marks the first field a detail names
    assert words in error["detail"]
    assert claude.requests == []
    assert await Message.objects.acount() == 0


async def test_a_lower_max_tokens_than_the_default_budget_names_max_tokens(claude, alice, socket_for, settings):
    settings.BEDROCK_REASONING_BUDGET = 2048
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(params={"max_tokens": 1000}))
    error = await socket.receive_json_from()

    assert error["code"] == "invalid_params"
    assert error["detail"].startswith("'max_tokens' (1000) must be more than the reasoning budget (2048)")
    assert claude.requests == []


async def test_the_local_model_does_not_reason(bedrock, alice, socket_for):
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(model="local", params={"reasoning_budget": 1024}))
    error = await socket.receive_json_from()
    assert error["code"] == "invalid_params" and error["detail"].startswith("'reasoning_budget' is not supported by")


async def test_zero_is_off_on_any_model(claude, alice, socket_for):
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(model=TEST_MODEL_ID, params={"reasoning_budget": 0, "temperature": 0.5}))
    frames = await receive_until_done(socket)

    assert frames[-1]["status"] == "complete"
    assert "additionalModelRequestFields" not in claude.requests[0].body
    assert (await Message.objects.aget(pk=frames[0]["message"])).params == {"max_tokens": 4000, "temperature": 0.5}


async def test_a_valid_budget_is_sent_and_saved(claude, alice, socket_for):
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(params={"reasoning_budget": 1024, "max_tokens": 1025, "stop_sequences": ["END"]}))
    frames = await receive_until_done(socket)

    assert frames[-1]["status"] == "complete"
    body = claude.requests[0].body
    assert body["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert body["inferenceConfig"] == {"maxTokens": 1025, "stopSequences": ["END"]}
    assert (await Message.objects.aget(pk=frames[0]["message"])).params == {
        "max_tokens": 1025, "stop_sequences": ["END"], "reasoning_budget": 1024}


def test_the_models_api_says_which_models_reason(client, alice, settings):
    settings.BEDROCK_MODEL_ID = SONNET_4
    settings.BEDROCK_MODEL_IDS = [TEST_MODEL_ID]
    settings.BEDROCK_REASONING_BUDGET = 2048
    client.force_login(alice)
    models = {m["key"]: m for m in client.get("/api/models/").json()["models"]}

    assert models[SONNET_4]["reasoning"] == {"supported": True, "default_budget": 2048}
    assert models[TEST_MODEL_ID]["reasoning"] == {"supported": False, "default_budget": 0}
    assert models["local"]["reasoning"] == {"supported": False, "default_budget": 0}
