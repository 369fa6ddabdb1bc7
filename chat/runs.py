"""A generation run: reads a provider's stream, relays each chunk, and saves the outcome.

A run is its own asyncio task, never awaited inside a consumer's receive handler (a consumer handles
one message at a time, so an inline stream would block the stop frame: django/channels #1119). It
belongs to no socket: closing a socket does not end it. Its frames go to the channel-layer group of
its message, which every socket watching that message joins.
"""

import asyncio
import logging
import time
from contextlib import aclosing

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from chat.models import Message
from chat.providers import (
    ERROR_MESSAGES,
    GenerationRequest,
    ProviderError,
    Queued,
    Started,
    StopReason,
    TextDelta,
    Usage,
    provider_for,
)

log = logging.getLogger(__name__)

# The runs living in this process, by message id.
RUNS: dict[int, "Run"] = {}


def group_name(message_id: int) -> str:
    return f"message.{message_id}"


class Run:
    def __init__(self, message: Message, request: GenerationRequest):
        self.message = message
        self.request = request
        self.parts: list[str] = []
        self.seq = 0
        self.input_tokens = None
        self.output_tokens = None
        self.stop_reason = ""
        self.upstream_request_id = ""
        self.ttft_ms = None
        self.task: asyncio.Task | None = None
        self._stop_requested = False
        self._finishing = False

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def start(self) -> "Run":
        RUNS[self.message.pk] = self
        self.task = asyncio.get_running_loop().create_task(self._execute(), name=f"run-{self.message.pk}")
        self.task.add_done_callback(lambda _task: RUNS.pop(self.message.pk, None))
        return self

    def stop(self) -> None:
        """Cancel the stream; the partial text is saved as `stopped`."""
        if self.task is not None and not self.task.done() and not (self._stop_requested or self._finishing):
            self._stop_requested = True
            self.task.cancel()

    async def _execute(self):
        started = time.monotonic()
        outcome = {"status": Message.Status.COMPLETE}
        try:
            await self._consume(provider_for(self.message.provider).stream(self.request), started)
        except asyncio.CancelledError:
            if not self._stop_requested:
                raise  # the process is shutting down; start-up recovery marks the message interrupted
            asyncio.current_task().uncancel()
            outcome = {"status": Message.Status.STOPPED, "stop_reason": "stopped_by_user"}
        except ProviderError as error:
            outcome = {"status": Message.Status.ERROR, "error_code": error.code, "error_detail": error.message}
            self.upstream_request_id = error.request_id or self.upstream_request_id
        except Exception:
            log.exception("Run for message %s failed", self.message.pk)
            outcome = {"status": Message.Status.ERROR, "error_code": "internal", "error_detail": ERROR_MESSAGES["internal"]}
        duration_ms = round((time.monotonic() - started) * 1000)
        self._finishing = True  # from here a stop has nothing left to stop
        await self._save(duration_ms=duration_ms, **outcome)
        await self._publish(self.message.done_frame())

    async def _consume(self, stream, started: float):
        # aclosing: a stop that lands while a frame is being published still closes the upstream at once.
        async with aclosing(stream) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    if self.ttft_ms is None:
                        self.ttft_ms = round((time.monotonic() - started) * 1000)
                    self.parts.append(event.text)
                    self.seq += 1
                    await self._publish({"type": "delta", "message": self.message.pk, "seq": self.seq, "text": event.text})
                elif isinstance(event, Usage):
                    self.input_tokens, self.output_tokens = event.input_tokens, event.output_tokens
                elif isinstance(event, StopReason):
                    self.stop_reason = event.reason
                elif isinstance(event, Started):
                    self.upstream_request_id = event.request_id
                elif isinstance(event, Queued):
                    await self._publish({"type": "queued", "message": self.message.pk, "position": event.position})

    @database_sync_to_async
    def _save(self, *, status, duration_ms, stop_reason="", error_code="", error_detail=""):
        self.message.finish(
            status=status,
            response=self.text,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            ttft_ms=self.ttft_ms,
            duration_ms=duration_ms,
            stop_reason=stop_reason or self.stop_reason,
            error_code=error_code,
            error_detail=error_detail,
            upstream_request_id=self.upstream_request_id,
        )

    async def _publish(self, frame: dict):
        await get_channel_layer().group_send(group_name(self.message.pk), {"type": "run.frame", "frame": frame})


def start_run(message: Message, request: GenerationRequest) -> Run:
    return Run(message, request).start()


def find_run(message_id: int) -> Run | None:
    return RUNS.get(message_id)


async def wait_for_runs(timeout: float = 10.0) -> None:
    """Wait for every run in this process to finish (tests and shutdown)."""
    tasks = [run.task for run in list(RUNS.values()) if run.task is not None]
    if tasks:
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout)
