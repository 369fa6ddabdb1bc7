"""A local Amazon Bedrock Runtime look-alike for tests.

The real boto3 ``bedrock-runtime`` client talks to it over HTTP (point ``endpoint_url`` or the
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` environment variable at ``server.url``), so tests exercise
botocore's real request signing, event-stream parsing and error mapping instead of a Stubber.

Wire format (see ../shared/BEDROCK-WIRE.md, encoded by tests/eventstream.py): 200 responses are an AWS
binary event stream sent with chunked transfer encoding, one HTTP chunk per event-stream message; errors
before the stream are an HTTP status with an ``x-amzn-ErrorType`` header and a JSON ``{"message": ...}`` body.

Usage::

    server = BedrockTestServer()
    server.start()
    server.queue(Stream(deltas=["Hi"]), HttpError(429, "ThrottlingException"))
    ...
    server.stop()
"""

from __future__ import annotations

import json
import re
import select
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

try:
    from .bedrock_answers import HOLD, RESET, STALL, HttpError, InvokeStream, Stream, converse_frames, invoke_frames
    from .eventstream import LAST_CHUNK, error_response, http_chunk, stream_head
except ImportError:  # run as a script
    from bedrock_answers import HOLD, RESET, STALL, HttpError, InvokeStream, Stream, converse_frames, invoke_frames
    from eventstream import LAST_CHUNK, error_response, http_chunk, stream_head

__all__ = ["Stream", "InvokeStream", "HttpError", "RecordedRequest", "BedrockTestServer"]

# Sleeps are cut into slices this long so stop() is noticed quickly even during a long stall.
_SLEEP_SLICE = 0.05
# The client closing the socket shows up as one of these on write.
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


@dataclass
class RecordedRequest:
    operation: str  # "converse-stream" or "invoke-with-response-stream"
    model_id: str  # URL-decoded
    headers: dict
    body: dict
    received_at: float  # time.monotonic()


# --------------------------------------------------------------------------------------------
# HTTP server
# --------------------------------------------------------------------------------------------

_PATH_RE = re.compile(r"^/model/(?P<model>[^/]+)/(?P<op>converse-stream|invoke-with-response-stream)$")


class _Stopping(Exception):
    """Raised internally when the server is stopping while a handler sleeps."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # needed for chunked transfer encoding and keep-alive
    # TCP_NODELAY, as real servers set it: else a frame written just after the headers waits for the
    # client's delayed ACK (~40 ms) and every time to first token includes that wait.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        pass  # keep test output clean

    # -- request ---------------------------------------------------------------------------

    def do_POST(self):
        received_at = time.monotonic()
        body_bytes = self._read_body()
        match = _PATH_RE.match(self.path.split("?", 1)[0])
        if match is None:
            self._send_error(HttpError(404, "UnknownOperationException", f"no route for {self.path}"))
            return

        try:
            body = json.loads(body_bytes) if body_bytes else {}
        except ValueError:
            body = {}
        operation = match["op"]
        owner = self.server.owner
        request = RecordedRequest(
            operation=operation,
            model_id=unquote(match["model"]),
            headers=dict(self.headers.items()),
            body=body,
            received_at=received_at,
        )
        owner._record(request)

        answer = owner._next_answer(request)
        if isinstance(answer, HttpError):
            self._send_error(answer)
        elif isinstance(answer, Stream):
            self._serve_converse(answer, received_at)
        elif isinstance(answer, InvokeStream):
            self._serve_invoke(answer)
        else:
            self._send_error(HttpError(500, "InternalServerException", f"bad queued answer {answer!r}"))

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # -- responses -------------------------------------------------------------------------

    def _send_error(self, error: HttpError) -> None:
        try:
            self.wfile.write(error_response(error.status, error.error_type, error.message))
        except _CLIENT_GONE:
            self.close_connection = True

    def _serve_converse(self, stream: Stream, received_at: float) -> None:
        self._stream(stream, converse_frames(stream, received_at), stream.delay, stream.first_delay)

    def _serve_invoke(self, stream: InvokeStream) -> None:
        self._stream(stream, invoke_frames(stream), stream.delay, None)

    def _stream(self, answer, frames, delay: float, first_delay: float | None) -> None:
        """Send a 200 event-stream response: headers now, then each frame after its delay."""
        try:
            self.wfile.write(stream_head())
            for index, (frame, is_delta) in enumerate(frames):
                self._sleep(first_delay if index == 0 and first_delay is not None else delay)
                if frame is RESET:
                    return self._reset()
                if frame is STALL:
                    self._sleep(answer.stall_seconds)
                    break  # no messageStop: the response just ends
                if frame is HOLD:
                    while not answer.release.is_set():
                        self._sleep(_SLEEP_SLICE)
                    continue
                if callable(frame):
                    frame = frame()  # a stamped delta: its send time is now
                self.wfile.write(http_chunk(frame))  # one write per frame: never split by us
                answer.frames_sent += 1
                if is_delta:
                    answer.sent_at.append(time.monotonic())
            self.wfile.write(LAST_CHUNK)
        except _CLIENT_GONE:
            answer.closed_at = time.monotonic()
            answer.connection_closed.set()
            self.close_connection = True
        except _Stopping:
            self.close_connection = True

    def _reset(self) -> None:
        """Reset the connection, as a dropped network path or a crashed proxy does: a zero linger time makes
        close() send a TCP RST instead of a FIN, so the client's next read fails with ECONNRESET."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def _sleep(self, seconds: float) -> None:
        """Sleep in small slices; raise _Stopping as soon as the server is being stopped, and notice a
        client that hung up even while nothing is being written (as during a stall)."""
        deadline = time.monotonic() + max(seconds, 0.0)
        stopping = self.server.owner._stopping
        while True:
            if stopping.is_set():
                raise _Stopping
            if self._client_hung_up():
                raise BrokenPipeError("the client closed the connection")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            stopping.wait(min(remaining, _SLEEP_SLICE))

    def _client_hung_up(self) -> bool:
        # The client sends nothing after its request, so a readable socket means EOF (or a reset).
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # never block interpreter exit or stop() on a handler thread
    allow_reuse_address = True
    owner: BedrockTestServer

    def handle_error(self, request, client_address):
        # A client hanging up between requests is normal here; anything else still gets reported.
        if isinstance(sys.exc_info()[1], _CLIENT_GONE):
            return
        super().handle_error(request, client_address)


class BedrockTestServer:
    """A Bedrock Runtime look-alike serving queued answers FIFO, one per request."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, default_answer=None):
        # default_answer(request) -> answer, used when nothing is queued (the demo below echoes the prompt).
        self.default_answer = default_answer
        self.host = host
        self.port = port
        self.url: str = ""
        self.requests: list[RecordedRequest] = []
        self._answers: deque = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._httpd = _Server((self.host, self.port), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]  # the real port when 0 was asked for
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"bedrock-test-server:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping in a delay or stall
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def queue(self, *answers: Stream | InvokeStream | HttpError) -> None:
        with self._lock:
            self._answers.extend(answers)

    def reset(self) -> None:
        with self._lock:
            self._answers.clear()
            self.requests.clear()

    # -- used by the handler ---------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_answer(self, request: RecordedRequest) -> Stream | InvokeStream | HttpError:
        with self._lock:
            if self._answers:
                return self._answers.popleft()
        if self.default_answer is not None:
            return self.default_answer(request)
        if request.operation == "converse-stream":
            return Stream()
        return HttpError(400, "ValidationException", "no answer queued for invoke-with-response-stream")

    def __enter__(self) -> BedrockTestServer:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def echo_answer(request: RecordedRequest) -> Stream:
    """A demo answer that quotes the last user message back, word by word, at a reading pace."""
    messages = request.body.get("messages") or [{"content": [{"text": ""}]}]
    prompt = " ".join(part.get("text", "") for part in messages[-1].get("content", []))
    words = f"You asked: {prompt!r}. This answer comes from the local Bedrock-compatible test server, " \
            "streamed one word at a time over AWS's binary event-stream protocol, so you can watch it arrive."
    return Stream(deltas=[word + " " for word in words.split()], delay=0.08)


if __name__ == "__main__":
    # A stand-in Bedrock for trying the app by hand:
    #   python -m tests.bedrock_server --port 8765
    #   BEDROCK_MODEL_ID=demo AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:8765 \
    #   AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x make run
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    port = parser.parse_args().port
    server = BedrockTestServer(port=port, default_answer=echo_answer)
    server.start()
    print(f"Bedrock-compatible test server on {server.url} (Ctrl+C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
