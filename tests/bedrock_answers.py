"""The answers tests script for the Bedrock look-alike (tests/bedrock_server.py), and the event-stream
frames each one sends (encoded by tests/eventstream.py).

The frames come as (frame, is a delta) pairs (a frame may be a function that builds it, called when it is
written: a stamped delta); three markers among them tell the server what to do instead of writing a frame:
STALL (go silent for `stall_seconds`, then end the body), HOLD (wait until the test sets `release`, then go
on) and RESET (reset the connection).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from functools import partial
from dataclasses import dataclass, field

try:
    from .eventstream import (
        INPUT_TOKENS, block_stop_frame, citation_frame, delta_frame, event_frame, exception_frame,
        message_start_frame, message_stop_frame, metadata_frame, reasoning_frame,
    )
except ImportError:  # run as a script
    from eventstream import (
        INPUT_TOKENS, block_stop_frame, citation_frame, delta_frame, event_frame, exception_frame,
        message_start_frame, message_stop_frame, metadata_frame, reasoning_frame,
    )

__all__ = ["Stream", "InvokeStream", "HttpError", "STALL", "HOLD", "RESET", "converse_frames", "invoke_frames"]

STALL, HOLD, RESET = object(), object(), object()
_END = object()  # where the end of an answer starts: interruptions are checked there too


@dataclass
class Stream:
    """A ConverseStream answer: reasoning (block 0), then the answer's text and citations (the next block),
    messageStop and metadata. "Deltas" below counts the reasoning and answer text deltas together."""

    deltas: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " test", " model."])
    delay: float = 0.02  # slept before each frame, so frames arrive spaced out
    first_delay: float | None = None  # replaces `delay` before the first frame (time to first event)
    reasoning: list[str] = field(default_factory=list)  # reasoningContent text deltas, before the answer
    signature: str = ""  # sent after the reasoning text, as Anthropic models do
    redacted: bytes = b""  # a redactedContent delta, as Claude 3.7 Sonnet sends for redacted thinking
    citations: list[dict] = field(default_factory=list)  # CitationsDelta payloads, after the answer's text
    stop_reason: str = "end_turn"
    input_tokens: int = INPUT_TOKENS
    output_tokens: int | None = None  # None -> the number of deltas
    cache_read_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None
    latency_ms: int | None = None  # metadata.metrics.latencyMs; None -> the time the answer took
    trace: dict | None = None  # metadata.trace as sent: {"guardrail": {...}, "promptRouter": {...}}
    metadata: bool = True  # False: the body ends cleanly after messageStop, with no metadata
    error_after: int | None = None  # after this many deltas: exception frame, then end
    error_type: str = "modelStreamErrorException"
    error_message: str = "The model stopped unexpectedly."
    stall_after: int | None = None  # after this many deltas: silence, then end without messageStop
    stall_seconds: float = 30.0
    end_after: int | None = None  # after this many deltas: the body ends cleanly, no messageStop or metadata
    reset_after: int | None = None  # after this many deltas: the connection is reset (TCP RST)
    hold_after: int | None = None  # after this many deltas: wait until `release` is set, then go on to the end
    release: threading.Event = field(default_factory=threading.Event)
    # Stamped deltas (bench/page.py): a wall-clock epoch (time.time()); each "{stamp}" in a delta's text becomes
    # the milliseconds since it at the moment the delta is written, so a page can tell how long each took to show.
    stamp_epoch: float | None = None
    # Filled in by the server while serving.
    frames_sent: int = 0
    sent_at: list[float] = field(default_factory=list)  # time.monotonic() as each delta was written
    connection_closed: threading.Event = field(default_factory=threading.Event)
    closed_at: float | None = None  # time.monotonic() when the failed write was detected


def stamped_delta_frame(text: str, index: int, epoch: float) -> bytes:
    """A text delta built as it is written: its "{stamp}"s carry the send time (ms since `epoch`)."""
    return delta_frame(text.replace("{stamp}", f"{(time.time() - epoch) * 1000:.1f}"), index)


@dataclass
class InvokeStream:
    """An InvokeModelWithResponseStream answer: each chunk is the model family's JSON object."""

    chunks: list[dict]
    delay: float = 0.02
    reset_after: int | None = None  # after this many chunks: the connection is reset (TCP RST)
    # Filled in by the server while serving.
    frames_sent: int = 0
    sent_at: list[float] = field(default_factory=list)  # time.monotonic() as each chunk was written
    connection_closed: threading.Event = field(default_factory=threading.Event)
    closed_at: float | None = None


@dataclass
class HttpError:
    """An error returned before any stream starts."""

    status: int
    error_type: str  # sent as x-amzn-ErrorType; boto3 maps it to Error.Code
    message: str = "error from test server"


def _converse_events(stream: Stream, received_at: float):
    """Every frame of a whole answer; the end frames are built when reached (they carry the latency)."""
    yield message_start_frame(), False
    index = 0
    if stream.reasoning or stream.signature or stream.redacted:
        yield from ((reasoning_frame(text=text), True) for text in stream.reasoning)
        if stream.signature:
            yield reasoning_frame(signature=stream.signature), False
        if stream.redacted:
            yield reasoning_frame(redacted=stream.redacted), False
        yield block_stop_frame(0), False
        index = 1
    if stream.stamp_epoch is None:
        yield from ((delta_frame(text, index), True) for text in stream.deltas)
    else:  # built when written (the server calls it after the delay)
        yield from ((partial(stamped_delta_frame, text, index, stream.stamp_epoch), True) for text in stream.deltas)
    yield from ((citation_frame(citation, index), False) for citation in stream.citations)
    yield _END, False
    yield block_stop_frame(index), False
    yield message_stop_frame(stream.stop_reason), False
    if stream.metadata:
        output_tokens = stream.output_tokens
        if output_tokens is None:
            output_tokens = len(stream.reasoning) + len(stream.deltas)
        latency_ms = int((time.monotonic() - received_at) * 1000) if stream.latency_ms is None else stream.latency_ms
        yield metadata_frame(
            output_tokens, input_tokens=stream.input_tokens, latency_ms=latency_ms, trace=stream.trace,
            cache_read_input_tokens=stream.cache_read_input_tokens,
            cache_write_input_tokens=stream.cache_write_input_tokens,
        ), False


def converse_frames(stream: Stream, received_at: float):
    """The answer's frames, cut short where the script says (an error, a stall, a clean early end, a reset)."""
    total, sent = len(stream.reasoning) + len(stream.deltas), 0
    for frame, is_delta in _converse_events(stream, received_at):
        # Interruptions are checked at every delta boundary, including after the last delta.
        if is_delta or frame is _END:
            if stream.error_after is not None and sent == min(stream.error_after, total):
                yield exception_frame(stream.error_type, stream.error_message), False
                return
            if stream.stall_after is not None and sent == min(stream.stall_after, total):
                yield STALL, False
                return
            if stream.end_after is not None and sent == min(stream.end_after, total):
                return  # the body ends cleanly: no messageStop, no metadata
            if stream.reset_after is not None and sent == min(stream.reset_after, total):
                yield RESET, False
                return
            if stream.hold_after is not None and sent == min(stream.hold_after, total) and not stream.release.is_set():
                yield HOLD, False
        if frame is not _END:
            sent += is_delta
            yield frame, is_delta


def invoke_frames(stream: InvokeStream):
    for index, chunk in enumerate(stream.chunks):
        if index == stream.reset_after:
            yield RESET, False
            return
        encoded = base64.b64encode(json.dumps(chunk).encode("utf-8")).decode("ascii")
        yield event_frame("chunk", {"bytes": encoded}), True
