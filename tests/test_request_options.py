"""What each model is asked for: the request body (and InvokeModel's headers) the Bedrock server receives
carries the guardrail, performance, service tier, cache points, request metadata and reasoning exactly as
configured in settings or admin, and none of them when nothing is configured."""

import json

import pytest

from chat.models import CatalogEntry, Message
from tests.bedrock_server import InvokeStream
from tests.conftest import TEST_MODEL_ID
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)

SONNET_37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"  # caches prompts and reasons
SONNET_4 = "anthropic.claude-sonnet-4-20250514-v1:0"
NOVA_2 = "us.amazon.nova-2-lite-v1:0"
CACHE_POINT = {"cachePoint": {"type": "default"}}


async def ask(socket, text="Hello there", request_id="req-1", **fields) -> list[dict]:
    await socket.send_json_to(prompt_frame(text, request_id=request_id, **fields))
    frames = await receive_until_done(socket)
    assert frames[-1]["status"] == "complete", frames[-1]
    return frames


async def ask_turns(socket, count: int, request_prefix: str = "t", **fields) -> list[dict]:
    """`count` prompts in one new conversation; the frames of each."""
    turns = [await ask(socket, "turn 1", f"{request_prefix}1", **fields)]
    conversation = turns[0][0]["conversation"]
    for n in range(2, count + 1):
        turns.append(await ask(socket, f"turn {n}", f"{request_prefix}{n}", conversation=conversation, **fields))
    return turns


def has_cache_point(value) -> bool:
    return "cachePoint" in json.dumps(value)


async def test_a_plain_request_carries_only_the_request_metadata(bedrock, alice, socket_for):
    socket = await socket_for(alice)
    frames = await ask(socket, params={"system": "Be brief."})

    [request] = bedrock.requests
    assert set(request.body) == {"messages", "inferenceConfig", "system", "requestMetadata"}
    assert request.body["system"] == [{"text": "Be brief."}]
    assert request.body["messages"] == [{"role": "user", "content": [{"text": "Hello there"}]}]
    message = await Message.objects.aget(pk=frames[0]["message"])
    # Bedrock's invocation logs join our rows by these.
    assert request.body["requestMetadata"] == {
        "user_id": str(alice.pk), "conversation_id": str(message.conversation_id), "message_id": str(message.pk)}


async def test_guardrail_performance_and_tier_from_settings(bedrock, alice, socket_for, settings):
    settings.BEDROCK_GUARDRAIL_ID = "gr7abc"
    settings.BEDROCK_GUARDRAIL_VERSION = "3"
    settings.BEDROCK_GUARDRAIL_TRACE = False
    settings.BEDROCK_GUARDRAIL_STREAM_MODE = "async"
    settings.BEDROCK_PERFORMANCE_LATENCY = "optimized"
    settings.BEDROCK_SERVICE_TIER = "priority"
    socket = await socket_for(alice)
    await ask(socket)

    body = bedrock.requests[0].body
    assert body["guardrailConfig"] == {
        "guardrailIdentifier": "gr7abc", "guardrailVersion": "3", "trace": "disabled", "streamProcessingMode": "async"}
    assert body["performanceConfig"] == {"latency": "optimized"}
    assert body["serviceTier"] == {"type": "priority"}
    assert "additionalModelRequestFields" not in body


async def test_a_staff_entry_overrides_the_settings(bedrock, alice, socket_for, settings):
    settings.BEDROCK_GUARDRAIL_ID, settings.BEDROCK_GUARDRAIL_VERSION = "gr7abc", "3"
    settings.BEDROCK_SERVICE_TIER = "priority"
    arn = "arn:aws:bedrock:eu-west-1:123456789012:guardrail/q8xyz"
    await CatalogEntry.objects.acreate(
        key="checked", label="Checked", provider="bedrock-converse", model_id=TEST_MODEL_ID,
        guardrail_identifier=arn, guardrail_version="DRAFT", guardrail_trace=True,
        performance_latency="standard", service_tier="flex")
    socket = await socket_for(alice)
    await ask(socket, model="checked")

    body = bedrock.requests[0].body
    assert body["guardrailConfig"] == {
        "guardrailIdentifier": arn, "guardrailVersion": "DRAFT", "trace": "enabled", "streamProcessingMode": "sync"}
    assert body["performanceConfig"] == {"latency": "standard"}
    assert body["serviceTier"] == {"type": "flex"}


async def test_cache_points_follow_the_system_prompt_and_the_last_two_answers(bedrock, alice, socket_for, settings):
    settings.BEDROCK_MODEL_ID = SONNET_37
    socket = await socket_for(alice)
    await ask_turns(socket, 4, params={"system": "Be brief."})

    first, last = bedrock.requests[0].body, bedrock.requests[-1].body
    assert first["system"] == [{"text": "Be brief."}, CACHE_POINT]
    assert first["messages"] == [{"role": "user", "content": [{"text": "turn 1"}]}]
    answer = {"text": "Hello from the test model."}
    assert last["system"] == [{"text": "Be brief."}, CACHE_POINT]
    assert [m["content"] for m in last["messages"]] == [
        [{"text": "turn 1"}], [answer],
        [{"text": "turn 2"}], [answer, CACHE_POINT],  # where turn 3's request put its last one: read from the cache
        [{"text": "turn 3"}], [answer, CACHE_POINT],  # cached for turn 5
        [{"text": "turn 4"}],
    ]


async def test_no_cache_points_when_caching_is_off_or_unknown(bedrock, alice, socket_for, settings):
    settings.BEDROCK_MODEL_ID = SONNET_37
    settings.BEDROCK_PROMPT_CACHING = False
    socket = await socket_for(alice)
    await ask_turns(socket, 2, params={"system": "Be brief."})
    settings.BEDROCK_PROMPT_CACHING = True
    settings.BEDROCK_MODEL_ID = TEST_MODEL_ID  # not a model known to cache
    await ask_turns(socket, 2, params={"system": "Be brief."}, request_prefix="u")

    assert [has_cache_point(r.body) for r in bedrock.requests] == [False] * 4


async def test_staff_turn_caching_on_for_a_model_id_we_do_not_know(bedrock, alice, socket_for):
    profile = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"
    await CatalogEntry.objects.acreate(key="profile", label="Profile", provider="bedrock-converse",
                                       model_id=profile, prompt_caching="on")
    socket = await socket_for(alice)
    await ask_turns(socket, 2, model="profile")

    last = bedrock.requests[-1]
    assert last.model_id == profile
    assert [m["content"][-1] == CACHE_POINT for m in last.body["messages"]] == [False, True, False]


@pytest.mark.parametrize(("model_id", "params", "fields"), [
    pytest.param(SONNET_4, {"reasoning_budget": 2048},
                 {"thinking": {"type": "enabled", "budget_tokens": 2048}}, id="claude"),
    pytest.param(NOVA_2, {"reasoning_budget": 2048},
                 {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"}}, id="nova-low"),
    pytest.param(NOVA_2, {"reasoning_budget": 8000, "max_tokens": 10000},
                 {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "medium"}}, id="nova-medium"),
    pytest.param(NOVA_2, {"reasoning_budget": 20000, "max_tokens": 30000},
                 {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "high"}}, id="nova-high"),
])
async def test_reasoning_goes_in_the_models_own_field(bedrock, alice, socket_for, settings, model_id, params, fields):
    settings.BEDROCK_MODEL_ID = model_id
    socket = await socket_for(alice)
    await ask(socket, params=params)

    body = bedrock.requests[0].body
    assert body["additionalModelRequestFields"] == fields
    # The seed's default temperature is not sent while the model reasons.
    assert body["inferenceConfig"] == {"maxTokens": params.get("max_tokens", 4000)}


async def test_a_default_budget_from_settings_and_off_per_prompt(bedrock, alice, socket_for, settings):
    settings.BEDROCK_MODEL_ID = SONNET_4
    settings.BEDROCK_REASONING_BUDGET = 1500
    socket = await socket_for(alice)
    on = await ask(socket, "think", "r1")
    off = await ask(socket, "do not", "r2", params={"reasoning_budget": 0, "temperature": 0.4})

    assert bedrock.requests[0].body["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 1500}}
    assert "additionalModelRequestFields" not in bedrock.requests[1].body
    assert bedrock.requests[1].body["inferenceConfig"] == {"maxTokens": 4000, "temperature": 0.4}
    # Saved as used, so a review (and Regenerate) sees the budget.
    assert (await Message.objects.aget(pk=on[0]["message"])).params == {"max_tokens": 4000, "reasoning_budget": 1500}
    assert (await Message.objects.aget(pk=off[0]["message"])).params == {
        "max_tokens": 4000, "temperature": 0.4, "reasoning_budget": 0}


def anthropic_answer() -> InvokeStream:
    return InvokeStream(delay=0, chunks=[
        {"type": "message_start", "message": {"role": "assistant", "content": [], "usage": {"input_tokens": 5}}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi."}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": 5, "outputTokenCount": 2, "invocationLatency": 40, "firstByteLatency": 20}},
    ])


def lower_keys(headers: dict) -> dict:
    return {name.lower(): value for name, value in headers.items()}


async def test_invoke_model_gets_the_same_options_in_its_own_spelling(bedrock, alice, socket_for):
    await CatalogEntry.objects.acreate(
        key="invoked", label="Invoked", provider="bedrock-invoke", model_id=SONNET_4, defaults={"max_tokens": 3000},
        reasoning_budget=2048, guardrail_identifier="gr7abc", guardrail_version="12", guardrail_trace=True,
        guardrail_stream_mode="async", performance_latency="optimized", service_tier="reserved")
    bedrock.queue(anthropic_answer())
    socket = await socket_for(alice)
    frames = await ask(socket, model="invoked")

    [request] = bedrock.requests
    assert request.operation == "invoke-with-response-stream"
    headers = lower_keys(request.headers)
    assert headers["x-amzn-bedrock-guardrailidentifier"] == "gr7abc"
    assert headers["x-amzn-bedrock-guardrailversion"] == "12"
    assert headers["x-amzn-bedrock-trace"] == "ENABLED"
    assert headers["x-amzn-bedrock-performanceconfig-latency"] == "optimized"
    assert headers["x-amzn-bedrock-service-tier"] == "reserved"
    assert json.loads(headers["x-amzn-bedrock-request-metadata"]) == {
        "user_id": str(alice.pk), "conversation_id": str(frames[0]["conversation"]), "message_id": str(frames[0]["message"])}
    assert request.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert request.body["amazon-bedrock-guardrailConfig"] == {"streamProcessingMode": "ASYNCHRONOUS"}
    assert request.body["max_tokens"] == 3000 and "temperature" not in request.body


async def test_invoke_model_without_options_is_the_plain_body(bedrock, alice, socket_for):
    await CatalogEntry.objects.acreate(key="invoked", label="Invoked", provider="bedrock-invoke", model_id=SONNET_4,
                                       defaults={"max_tokens": 300, "temperature": 0.2})
    bedrock.queue(anthropic_answer())
    socket = await socket_for(alice)
    await ask(socket, model="invoked")

    [request] = bedrock.requests
    assert request.body == {
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 300, "temperature": 0.2,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}]}
    headers = lower_keys(request.headers)
    option_headers = {"x-amzn-bedrock-guardrailidentifier", "x-amzn-bedrock-guardrailversion", "x-amzn-bedrock-trace",
                      "x-amzn-bedrock-performanceconfig-latency", "x-amzn-bedrock-service-tier"}
    assert option_headers.isdisjoint(headers)
    assert "x-amzn-bedrock-request-metadata" in headers
