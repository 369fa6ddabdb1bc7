"""InvokeModelWithResponseStream: each model family's body and chunks, through real boto3 and the test server."""

import asyncio

import pytest

from chat.providers import Alive, GenerationRequest, ProviderError, Started, StopReason, TextDelta, Usage
from chat.providers.bedrock_invoke import AnthropicMessages, BedrockInvokeProvider, MetaLlama, adapter_for
from tests.bedrock_server import HttpError, InvokeStream

CONVERSATION = [
    {"role": "user", "text": "What is 2+2?"},
    {"role": "assistant", "text": "4."},
    {"role": "user", "text": "And 3+3?"},
]
PARAMS = {"max_tokens": 200, "temperature": 0.5, "top_p": 0.9, "top_k": 40, "stop_sequences": ["User:"]}
METRICS = {
    "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": 21,
        "outputTokenCount": 3,
        "invocationLatency": 250,
        "firstByteLatency": 90,
    }
}


def anthropic_chunks():
    return [
        {
            "type": "message_start",
            "message": {
                "id": "msg_bdrk_01",
                "type": "message",
                "role": "assistant",
                "model": "claude-3-haiku-20240307",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 21, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "3+3"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " is 6."}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 3},
        },
        {"type": "message_stop", **METRICS},
    ]


FAMILIES = [
    pytest.param(
        "cohere.command-text-v14",
        [
            {"text": "3+3", "is_finished": False},
            {"text": " is 6.", "is_finished": False},
            {"is_finished": True, "finish_reason": "COMPLETE", **METRICS},
        ],
        "COMPLETE",
        {
            "prompt": "Be brief.\nUser: What is 2+2?\nChatbot: 4.\nUser: And 3+3?",
            "max_tokens": 200,
            "temperature": 0.5,
            "p": 0.9,
            "k": 40,
            "stop_sequences": ["User:"],
            "return_likelihoods": "NONE",
            "stream": True,
        },
        id="cohere",
    ),
    pytest.param(
        "anthropic.claude-3-haiku-20240307-v1:0",
        anthropic_chunks(),
        "end_turn",
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 200,
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "4."}]},
                {"role": "user", "content": [{"type": "text", "text": "And 3+3?"}]},
            ],
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 40,
            "stop_sequences": ["User:"],
        },
        id="anthropic",
    ),
    pytest.param(
        "amazon.titan-text-express-v1",
        [
            {"outputText": "3+3", "index": 0, "totalOutputTextTokenCount": 1, "completionReason": None,
             "inputTextTokenCount": 21},
            {"outputText": " is 6.", "index": 0, "totalOutputTextTokenCount": 3, "completionReason": "FINISH",
             "inputTextTokenCount": None, **METRICS},
        ],
        "FINISH",
        {
            "inputText": "Be brief.\nUser: What is 2+2?\nBot: 4.\nUser: And 3+3?\nBot:",
            "textGenerationConfig": {"maxTokenCount": 200, "temperature": 0.5, "topP": 0.9, "stopSequences": ["User:"]},
        },
        id="titan",
    ),
    pytest.param(
        "meta.llama3-8b-instruct-v1:0",
        [
            {"generation": "3+3", "prompt_token_count": 21, "generation_token_count": 1, "stop_reason": None},
            {"generation": " is 6.", "prompt_token_count": None, "generation_token_count": 3, "stop_reason": None},
            {"generation": "", "prompt_token_count": None, "generation_token_count": 3, "stop_reason": "stop",
             **METRICS},
        ],
        "stop",
        {
            "prompt": "<|begin_of_text|>"
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n4.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nAnd 3+3?<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            "max_gen_len": 200,
            "temperature": 0.5,
            "top_p": 0.9,
        },
        id="llama",
    ),
    pytest.param(
        "mistral.mistral-7b-instruct-v0:2",
        [
            {"outputs": [{"text": "3+3", "stop_reason": None}]},
            {"outputs": [{"text": " is 6.", "stop_reason": None}]},
            {"outputs": [{"text": "", "stop_reason": "stop"}], **METRICS},
        ],
        "stop",
        {
            "prompt": "<s>[INST] Be brief.\n\nWhat is 2+2? [/INST] 4.</s>[INST] And 3+3? [/INST]",
            "max_tokens": 200,
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 40,
            "stop": ["User:"],
        },
        id="mistral",
    ),
]


async def collect(request: GenerationRequest) -> list:
    return [event async for event in BedrockInvokeProvider().stream(request)]


@pytest.mark.parametrize(("model_id", "chunks", "stop_reason", "body"), FAMILIES)
async def test_family_body_and_chunks(bedrock, model_id, chunks, stop_reason, body):
    bedrock.queue(InvokeStream(chunks=chunks, delay=0))

    events = await collect(GenerationRequest(model_id, CONVERSATION, PARAMS, system="Be brief."))

    assert isinstance(events[0], Started) and events[0].request_id  # the server's x-amzn-RequestId
    # Chunks with nothing for us (Anthropic's message_start, content_block_stop…) only say the stream is alive.
    assert [e for e in events[1:] if not isinstance(e, Alive)] == [
        TextDelta("3+3"), TextDelta(" is 6."), StopReason(stop_reason), Usage(21, 3, server_latency_ms=250)]
    sent = bedrock.requests[0]
    assert (sent.operation, sent.model_id) == ("invoke-with-response-stream", model_id)
    assert sent.body == body


async def test_cohere_with_the_seeds_parameters(bedrock):
    bedrock.queue(InvokeStream(chunks=[{"is_finished": True, "finish_reason": "COMPLETE", **METRICS}], delay=0))
    params = {"max_tokens": 4000, "temperature": 0, "top_p": 0.01, "top_k": 0}
    request = GenerationRequest("cohere.command-text-v14", [{"role": "user", "text": "Hi"}], params)

    await collect(request)

    assert bedrock.requests[0].body == {
        "prompt": "Hi",  # a lone prompt goes unchanged, as the seed sent it
        "max_tokens": 4000,
        "temperature": 0,
        "p": 0.01,
        "k": 0,
        "return_likelihoods": "NONE",
        "stream": True,
    }


async def test_inference_profile_id_picks_the_anthropic_adapter(bedrock):
    model_id = "us.anthropic.claude-3-haiku-20240307-v1:0"
    bedrock.queue(InvokeStream(chunks=anthropic_chunks(), delay=0))

    events = await collect(GenerationRequest(model_id, [{"role": "user", "text": "Hi"}]))

    assert [e.text for e in events if isinstance(e, TextDelta)] == ["3+3", " is 6."]
    assert bedrock.requests[0].model_id == model_id
    assert bedrock.requests[0].body["anthropic_version"] == "bedrock-2023-05-31"


@pytest.mark.parametrize(
    ("model_id", "adapter"),
    [
        ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", AnthropicMessages),
        ("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.meta.llama3-2-3b-instruct-v1:0", MetaLlama),
        ("global.anthropic.claude-sonnet-4-20250514-v1:0", AnthropicMessages),
    ],
)
def test_arns_and_geo_prefixes_are_looked_through(model_id, adapter):
    assert isinstance(adapter_for(model_id), adapter)


async def test_unknown_family_is_a_validation_error_before_any_call(bedrock):
    with pytest.raises(ProviderError) as excinfo:
        await collect(GenerationRequest("cohere.command-r-v1:0", [{"role": "user", "text": "Hi"}]))

    assert excinfo.value.code == "validation"
    assert "cohere.command-r-v1:0" in excinfo.value.message
    assert bedrock.requests == []


async def test_throttling_is_a_throttled_error(bedrock):
    bedrock.queue(HttpError(429, "ThrottlingException", "Too many requests"))

    with pytest.raises(ProviderError) as excinfo:
        await collect(GenerationRequest("cohere.command-text-v14", [{"role": "user", "text": "Hi"}]))

    assert excinfo.value.code == "throttled"
    assert excinfo.value.request_id


async def test_closing_the_stream_early_closes_the_upstream_connection(bedrock):
    answer = InvokeStream(chunks=[{"text": f"w{i} ", "is_finished": False} for i in range(100)], delay=0.05)
    bedrock.queue(answer)
    stream = BedrockInvokeProvider().stream(
        GenerationRequest("cohere.command-text-v14", [{"role": "user", "text": "Talk for a while"}])
    )

    async for event in stream:
        if isinstance(event, TextDelta):
            break
    await stream.aclose()

    assert await asyncio.to_thread(answer.connection_closed.wait, 1)
    assert answer.frames_sent < 100
