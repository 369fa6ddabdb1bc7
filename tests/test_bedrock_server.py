"""Prove the Bedrock test server speaks the wire format the REAL boto3 client expects.

No Stubber and no patching: boto3 signs real HTTP requests and parses the server's binary event
stream, so anything that passes here will also hold for code under test using the same client.
These tests need neither Django settings nor the database.
"""

from __future__ import annotations

import json
import threading
import time

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError, EventStreamError

try:
    from .bedrock_server import BedrockTestServer, HttpError, InvokeStream, Stream
    from .eventstream import delta_frame, event_frame
except ImportError:  # collected without the tests package
    from bedrock_server import BedrockTestServer, HttpError, InvokeStream, Stream
    from eventstream import delta_frame, event_frame

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "Hi"}]}]


@pytest.fixture(scope="module")
def server():
    srv = BedrockTestServer()
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _fresh_server(server):
    server.reset()
    yield
    server.reset()


def make_client(endpoint_url: str | None, retries: dict | None = None):
    # Note: botocore's "max_attempts" counts RETRIES (total attempts = max_attempts + 1), so this
    # default client retries a throttled request once; "total_max_attempts": 1 disables retries.
    return boto3.session.Session().client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(retries=retries or {"max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture
def client(server):
    return make_client(server.url)


def converse(client, model_id=MODEL_ID, **kwargs):
    return client.converse_stream(modelId=model_id, messages=MESSAGES, **kwargs)


def test_converse_stream_event_sequence(server, client):
    server.queue(Stream(deltas=["Hello", " world"], stop_reason="max_tokens", input_tokens=11))

    events = list(converse(client)["stream"])

    assert events[0] == {"messageStart": {"role": "assistant"}}
    assert events[1:3] == [
        {"contentBlockDelta": {"delta": {"text": "Hello"}, "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"text": " world"}, "contentBlockIndex": 0}},
    ]
    assert events[3] == {"contentBlockStop": {"contentBlockIndex": 0}}
    assert events[4] == {"messageStop": {"stopReason": "max_tokens"}}
    metadata = events[5]["metadata"]
    assert metadata["usage"] == {"inputTokens": 11, "outputTokens": 2, "totalTokens": 13}
    assert metadata["metrics"]["latencyMs"] >= 0
    assert len(events) == 6


def test_empty_queue_serves_default_stream(server, client):
    events = list(converse(client)["stream"])

    texts = [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]
    assert "".join(texts) == "Hello from the test model."
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 5


def test_events_arrive_spaced_out(server, client):
    server.queue(Stream(deltas=["a", "b", "c"], delay=0.2))

    seen = []
    for event in converse(client)["stream"]:
        if "contentBlockDelta" in event:
            seen.append(time.monotonic())

    assert len(seen) == 3
    # Buffered delivery would put all deltas at the end, a few ms apart.
    assert seen[-1] - seen[0] >= 0.3


def test_first_delay_applies_before_first_frame(server, client):
    server.queue(Stream(deltas=["x"], delay=0.0, first_delay=0.3))

    stream = converse(client)["stream"]
    started = time.monotonic()
    first = next(iter(stream))

    assert first == {"messageStart": {"role": "assistant"}}
    assert time.monotonic() - started >= 0.25
    list(stream)


def test_a_frame_sent_at_once_is_not_held_for_the_clients_delayed_ack(server, client):
    # Without TCP_NODELAY the first frame after the headers waits ~40 ms for the client's delayed ACK.
    waits = []
    for _ in range(7):
        server.queue(Stream(deltas=["x"], delay=0.0, first_delay=0.0))
        started = time.monotonic()
        stream = converse(client)["stream"]
        next(iter(stream))
        waits.append(time.monotonic() - started)
        list(stream)

    assert sorted(waits)[3] < 0.025


def test_the_delta_shortcut_encodes_the_same_bytes_as_any_event():
    payload = {"delta": {"text": "héllo \"x\""}, "contentBlockIndex": 0}
    assert delta_frame('héllo "x"') == event_frame("contentBlockDelta", payload)


def test_in_stream_error_after_deltas(server, client):
    server.queue(Stream(deltas=["one", "two", "three"], error_after=2))

    texts = []
    with pytest.raises(EventStreamError) as excinfo:
        for event in converse(client)["stream"]:
            if "contentBlockDelta" in event:
                texts.append(event["contentBlockDelta"]["delta"]["text"])

    assert texts == ["one", "two"]
    assert excinfo.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert "The model stopped unexpectedly." in str(excinfo.value)


@pytest.mark.parametrize(
    "status, error_type",
    [
        (429, "ThrottlingException"),
        (403, "AccessDeniedException"),
        (400, "ValidationException"),
    ],
)
def test_http_errors_map_to_client_errors(server, client, status, error_type):
    # Queued twice because botocore retries throttling once with this client config.
    server.queue(HttpError(status, error_type, "nope"), HttpError(status, error_type, "nope"))

    with pytest.raises(ClientError) as excinfo:
        converse(client)

    error = excinfo.value.response
    assert error["Error"]["Code"] == error_type
    assert error["Error"]["Message"] == "nope"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error["ResponseMetadata"]["RequestId"]
    # The modeled exception class is what provider code would catch.
    assert isinstance(excinfo.value, getattr(client.exceptions, error_type))
    # Only throttling is retryable; access and validation errors fail on the first attempt.
    assert len(server.requests) == (2 if status == 429 else 1)


def test_throttling_without_retries(server):
    client = make_client(server.url, retries={"total_max_attempts": 1, "mode": "standard"})
    server.queue(HttpError(429, "ThrottlingException"))

    with pytest.raises(client.exceptions.ThrottlingException):
        converse(client)
    assert len(server.requests) == 1


def test_throttling_then_success_is_retried(server, client):
    # FIFO answers let a test script "throttled, then fine" across botocore's retry.
    server.queue(HttpError(429, "ThrottlingException"), Stream(deltas=["ok"], delay=0.0))

    response = converse(client)
    events = list(response["stream"])

    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert {"messageStop": {"stopReason": "end_turn"}} in events
    assert len(server.requests) == 2


def test_closing_stream_is_seen_by_server(server, client):
    answer = Stream(deltas=[f"w{i} " for i in range(200)], delay=0.02)
    server.queue(answer)

    stream = converse(client)["stream"]
    for event in stream:
        if "contentBlockDelta" in event:
            break
    stream.close()
    closed_by_client = time.monotonic()

    assert answer.connection_closed.wait(1.0)
    assert answer.closed_at - closed_by_client < 1.0
    assert answer.frames_sent < 200


def test_stall_ends_without_message_stop(server, client):
    server.queue(Stream(deltas=["a", "b", "c"], delay=0.0, stall_after=1, stall_seconds=0.4))

    started = time.monotonic()
    events = list(converse(client)["stream"])

    assert [e for e in events if "contentBlockDelta" in e] == [
        {"contentBlockDelta": {"delta": {"text": "a"}, "contentBlockIndex": 0}}
    ]
    assert not any("messageStop" in e for e in events)
    assert time.monotonic() - started >= 0.35


def test_invoke_model_with_response_stream(server, client):
    chunks = [
        {"text": "Hello there", "is_finished": False},
        {
            "is_finished": True,
            "finish_reason": "COMPLETE",
            "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": 3,
                "outputTokenCount": 2,
                "invocationLatency": 120,
                "firstByteLatency": 40,
            },
        },
    ]
    server.queue(InvokeStream(chunks=chunks))

    response = client.invoke_model_with_response_stream(
        modelId="cohere.command-text-v14",
        body=json.dumps({"prompt": "Hi", "stream": True}),
        contentType="application/json",
        accept="application/json",
    )
    events = list(response["body"])

    assert all(set(e) == {"chunk"} and isinstance(e["chunk"]["bytes"], bytes) for e in events)
    assert [json.loads(e["chunk"]["bytes"]) for e in events] == chunks
    assert server.requests[0].operation == "invoke-with-response-stream"
    assert server.requests[0].body == {"prompt": "Hi", "stream": True}


def test_invoke_with_empty_queue_is_validation_error(server, client):
    with pytest.raises(ClientError) as excinfo:
        client.invoke_model_with_response_stream(modelId="cohere.command-text-v14", body=b"{}")

    assert excinfo.value.response["Error"]["Code"] == "ValidationException"


def test_recorded_request_decodes_arn_model_id(server, client):
    arn = (
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
        "us.anthropic.claude-3-haiku-20240307-v1:0"
    )
    server.queue(Stream(deltas=["ok"], delay=0.0))

    list(
        converse(
            client,
            model_id=arn,
            system=[{"text": "Be brief."}],
            inferenceConfig={"maxTokens": 64, "temperature": 0.5},
        )["stream"]
    )

    assert len(server.requests) == 1
    recorded = server.requests[0]
    assert recorded.operation == "converse-stream"
    assert recorded.model_id == arn
    assert recorded.body == {
        "messages": MESSAGES,
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"maxTokens": 64, "temperature": 0.5},
    }
    assert recorded.headers["Authorization"].startswith("AWS4-HMAC-SHA256")


def test_endpoint_from_environment_variable(server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.url)
    server.queue(Stream(deltas=["env"], delay=0.0))

    events = list(converse(make_client(None))["stream"])

    assert {"contentBlockDelta": {"delta": {"text": "env"}, "contentBlockIndex": 0}} in events
    assert len(server.requests) == 1


def test_many_concurrent_streams(server):
    client = make_client(server.url)  # boto3 clients are thread-safe
    count = 12
    results: list[str | None] = [None] * count

    def run(i):
        parts = []
        for event in converse(client)["stream"]:
            if "contentBlockDelta" in event:
                parts.append(event["contentBlockDelta"]["delta"]["text"])
        results[i] = "".join(parts)

    # Empty queue: every request gets the default Stream (5 deltas, 0.02 s apart).
    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert results == ["Hello from the test model."] * count
    assert len(server.requests) == count
    # Served in parallel, not one after another (12 x ~0.16 s serially).
    assert time.monotonic() - started < 1.5


def test_stop_returns_promptly_during_stall():
    srv = BedrockTestServer()
    srv.start()
    srv.queue(Stream(deltas=["a"], delay=0.0, stall_after=1, stall_seconds=30.0))
    client = make_client(srv.url)
    stream = converse(client)["stream"]
    events = iter(stream)
    next(events)  # messageStart
    next(events)  # the delta; the handler is now stalling

    started = time.monotonic()
    srv.stop()

    assert time.monotonic() - started < 1.0
    stream.close()
