"""The test server's richer answers (reasoning, citations, cache usage, traces, early ends, resets) as the
REAL boto3 client sees them: the shapes botocore's service model gives, and what its iterator raises.
They need no database."""

from __future__ import annotations

import boto3
import botocore.config
import pytest
import urllib3.exceptions

from tests.bedrock_server import InvokeStream, Stream

MESSAGES = [{"role": "user", "content": [{"text": "Hi"}]}]


@pytest.fixture
def client(bedrock_server):
    bedrock_server.reset()
    return boto3.session.Session().client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url=bedrock_server.url, aws_access_key_id="test",
        aws_secret_access_key="test", config=botocore.config.Config(retries={"total_max_attempts": 1}))


def events(client) -> list[dict]:
    return list(client.converse_stream(modelId="m", messages=MESSAGES)["stream"])


def test_reasoning_then_signature_then_the_answer_on_the_next_block(bedrock_server, client):
    answer = Stream(reasoning=["r0 ", "r1"], signature="sig", redacted=b"\x00secret", deltas=["a"], delay=0)
    bedrock_server.queue(answer)
    got = events(client)

    deltas = [(e["contentBlockDelta"]["contentBlockIndex"], e["contentBlockDelta"]["delta"])
              for e in got if "contentBlockDelta" in e]
    assert deltas == [
        (0, {"reasoningContent": {"text": "r0 "}}), (0, {"reasoningContent": {"text": "r1"}}),
        (0, {"reasoningContent": {"signature": "sig"}}),
        (0, {"reasoningContent": {"redactedContent": b"\x00secret"}}),  # botocore decodes the blob
        (1, {"text": "a"}),
    ]
    assert [list(e)[0] for e in got if "contentBlockDelta" not in e] == [
        "messageStart", "contentBlockStop", "contentBlockStop", "messageStop", "metadata"]
    assert len(answer.sent_at) == 3  # a send time for each text delta, reasoning or answer


def test_citations_cache_usage_and_trace(bedrock_server, client):
    citation = {"title": "T", "sourceContent": [{"text": "x"}], "location": {"web": {"url": "https://a.example"}}}
    trace = {"guardrail": {"actionReason": "r"}, "promptRouter": {"invokedModelId": "m2"}}
    bedrock_server.queue(Stream(deltas=["a"], citations=[citation], stop_reason="guardrail_intervened", trace=trace,
                        cache_read_input_tokens=30, cache_write_input_tokens=4, latency_ms=99, delay=0))
    got = events(client)

    assert {"contentBlockDelta": {"delta": {"citation": citation}, "contentBlockIndex": 0}} in got
    assert got[-2] == {"messageStop": {"stopReason": "guardrail_intervened"}}
    metadata = got[-1]["metadata"]
    assert metadata["usage"] == {"inputTokens": 7, "outputTokens": 1, "cacheReadInputTokens": 30,
                                 "cacheWriteInputTokens": 4, "totalTokens": 42}
    assert (metadata["metrics"], metadata["trace"]) == ({"latencyMs": 99}, trace)


def test_a_clean_early_end_raises_nothing(bedrock_server, client):
    bedrock_server.queue(Stream(deltas=["a", "b", "c"], end_after=2, delay=0))
    assert [list(e)[0] for e in events(client)] == ["messageStart", "contentBlockDelta", "contentBlockDelta"]


def test_a_reset_raises_urllib3s_protocol_error_through_the_iterator(bedrock_server, client):
    answer = Stream(deltas=["a", "b", "c"], reset_after=1, delay=0)
    bedrock_server.queue(answer)
    stream = client.converse_stream(modelId="m", messages=MESSAGES)["stream"]
    got = []
    with pytest.raises(urllib3.exceptions.ProtocolError) as raised:
        for event in stream:
            got.append(event)
    assert isinstance(raised.value.__context__, ConnectionResetError)  # not wrapped by botocore
    assert [list(e)[0] for e in got] == ["messageStart", "contentBlockDelta"] and len(answer.sent_at) == 1


def test_an_invoke_stream_reset_too(bedrock_server, client):
    bedrock_server.queue(InvokeStream(chunks=[{"n": 1}, {"n": 2}], reset_after=1, delay=0))
    body = client.invoke_model_with_response_stream(modelId="m", body=b"{}")["body"]
    with pytest.raises(urllib3.exceptions.ProtocolError):
        assert next(iter(body)) == {"chunk": {"bytes": b'{"n": 1}'}}
        list(body)
