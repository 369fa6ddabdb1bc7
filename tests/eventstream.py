"""Amazon Bedrock's streaming responses, byte for byte: AWS's binary event-stream encoding (prelude,
headers, CRC32s), the ConverseStream frames, and the HTTP around them (see ../shared/BEDROCK-WIRE.md).

One encoder for the two Bedrock-compatible servers: tests/bedrock_server.py (scripted answers for the
tests) and bench/load_bedrock.py (the load benchmark's upstream). A 200 answer is an event stream sent
with chunked transfer encoding, one HTTP chunk per event-stream message; an error before the stream is
an HTTP status with an `x-amzn-ErrorType` header and a JSON `{"message": ...}` body.
"""

from __future__ import annotations

import base64
import json
import struct
import uuid
import zlib
from http import HTTPStatus

EVENTSTREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
INPUT_TOKENS = 7  # the prompt's token count every scripted answer reports unless told otherwise
LAST_CHUNK = b"0\r\n\r\n"  # ends a chunked HTTP body
_HEADER_TYPE_STRING = 7


def encode_headers(headers: dict[str, str]) -> bytes:
    """Event-stream headers whose values are all strings (type 7)."""
    encoded = bytearray()
    for name, value in headers.items():
        name_bytes, value_bytes = name.encode("utf-8"), value.encode("utf-8")
        encoded += struct.pack("!B", len(name_bytes)) + name_bytes
        encoded += struct.pack("!BH", _HEADER_TYPE_STRING, len(value_bytes)) + value_bytes
    return bytes(encoded)


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """Encode one AWS event-stream message whose headers are all strings."""
    return _message(encode_headers(headers), payload)


def _message(encoded_headers: bytes, payload: bytes) -> bytes:
    # 12-byte prelude (total length, headers length, their CRC) + headers + payload + 4-byte message CRC.
    total_length = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack("!II", total_length, len(encoded_headers))
    prelude += struct.pack("!I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + encoded_headers + payload
    return message + struct.pack("!I", zlib.crc32(message) & 0xFFFFFFFF)


def _event_headers(event_type: str) -> dict[str, str]:
    return {":message-type": "event", ":event-type": event_type, ":content-type": "application/json"}


def event_frame(event_type: str, payload: dict) -> bytes:
    """An `event` message; boto3 yields it as `{event_type: payload}`."""
    return encode_message(_event_headers(event_type), json.dumps(payload).encode("utf-8"))


def exception_frame(exception_type: str, message: str) -> bytes:
    """An in-stream `exception` message; boto3 raises EventStreamError on it."""
    headers = {":message-type": "exception", ":exception-type": exception_type, ":content-type": "application/json"}
    return encode_message(headers, json.dumps({"message": message}).encode("utf-8"))


# ConverseStream's frames.

_DELTA_HEADERS = encode_headers(_event_headers("contentBlockDelta"))  # the same for every delta


def message_start_frame() -> bytes:
    return event_frame("messageStart", {"role": "assistant"})


def delta_frame(text: str, index: int = 0) -> bytes:
    """event_frame("contentBlockDelta", ...), without encoding its constant headers again for every delta
    (the load benchmark sends tens of thousands a second)."""
    payload = json.dumps({"delta": {"text": text}, "contentBlockIndex": index}).encode("utf-8")
    return _message(_DELTA_HEADERS, payload)


def reasoning_frame(*, text: str | None = None, signature: str | None = None, redacted: bytes | None = None,
                    index: int = 0) -> bytes:
    """A `reasoningContent` delta: one of reasoning text, its signature, or redacted (encrypted) bytes,
    which travel base64-encoded in the JSON, as every blob does (boto3 decodes them to bytes)."""
    if text is not None:
        delta = {"text": text}
    elif signature is not None:
        delta = {"signature": signature}
    else:
        delta = {"redactedContent": base64.b64encode(redacted).decode("ascii")}
    payload = {"delta": {"reasoningContent": delta}, "contentBlockIndex": index}
    return _message(_DELTA_HEADERS, json.dumps(payload).encode())


def citation_frame(citation: dict, index: int = 0) -> bytes:
    """A `citation` delta (CitationsDelta: title, source, sourceContent, location) inside a text block."""
    return _message(_DELTA_HEADERS, json.dumps({"delta": {"citation": citation}, "contentBlockIndex": index}).encode())


def block_stop_frame(index: int) -> bytes:
    return event_frame("contentBlockStop", {"contentBlockIndex": index})


def message_stop_frame(stop_reason: str = "end_turn") -> bytes:
    return event_frame("messageStop", {"stopReason": stop_reason})


def metadata_frame(output_tokens: int, *, input_tokens: int = INPUT_TOKENS, latency_ms: int = 0,
                   cache_read_input_tokens: int | None = None, cache_write_input_tokens: int | None = None,
                   trace: dict | None = None) -> bytes:
    """The last event of an answer: its usage (with the cache figures when given), Bedrock's own latency,
    and the trace (guardrail assessments, the model a prompt router picked) when given."""
    usage = {"inputTokens": input_tokens, "outputTokens": output_tokens}
    cache = {"cacheReadInputTokens": cache_read_input_tokens, "cacheWriteInputTokens": cache_write_input_tokens}
    usage |= {name: value for name, value in cache.items() if value is not None}
    usage["totalTokens"] = input_tokens + output_tokens + sum(value for value in cache.values() if value)
    metadata = {"usage": usage, "metrics": {"latencyMs": latency_ms}}
    if trace is not None:
        metadata["trace"] = trace
    return event_frame("metadata", metadata)


def end_frames(output_tokens: int, *, stop_reason: str = "end_turn", input_tokens: int = INPUT_TOKENS,
               latency_ms: int = 0) -> list[bytes]:
    """What ends a ConverseStream answer: contentBlockStop, messageStop, and the usage metadata."""
    return [
        block_stop_frame(0),
        message_stop_frame(stop_reason),
        metadata_frame(output_tokens, input_tokens=input_tokens, latency_ms=latency_ms),
    ]


# HTTP.

def http_chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk; a frame is always written whole, in one chunk."""
    return b"%X\r\n%s\r\n" % (len(data), data)


def stream_head() -> bytes:
    """The status line and headers of a 200 event-stream answer, before its chunks."""
    return (b"HTTP/1.1 200 OK\r\nx-amzn-RequestId: %s\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
            % (str(uuid.uuid4()).encode(), EVENTSTREAM_CONTENT_TYPE.encode()))


def error_response(status: int, error_type: str, message: str) -> bytes:
    """A whole error answer: boto3 raises ClientError with Error.Code = error_type."""
    body = json.dumps({"message": message}).encode("utf-8")
    return (b"HTTP/1.1 %d %s\r\nx-amzn-RequestId: %s\r\nx-amzn-ErrorType: %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s"
            % (status, HTTPStatus(status).phrase.encode(), str(uuid.uuid4()).encode(), error_type.encode(), len(body),
               body))
