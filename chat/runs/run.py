"""A generation run: reads a provider's stream, relays each chunk, and saves the outcome once."""

import asyncio
import logging
import random
import time
from contextlib import aclosing

from channels.db import database_sync_to_async
from django.conf import settings

from chat import relay
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
from chat.runs import control
from chat.runs.checkpoints import ensure_checkpointer
from chat.runs.live import RUNS

log = logging.getLogger(__name__)

# Worth another try, but only before the first word: after it, a retry would repeat the answer.
RETRYABLE = {"throttled", "service_unavailable"}


class Run:
    def __init__(self, message: Message, request: GenerationRequest):
        self.message = message
        self.request = request
        self.parts: list[str] = []  # parts[i] is the text of delta seq i + 1
        self.input_tokens = None
        self.output_tokens = None
        self.stop_reason = ""
        self.upstream_request_id = ""
        self.ttft_ms = None
        self.done_frame: dict | None = None  # set just before `done` is published
        self.task: asyncio.Task | None = None
        self._stop_requested = False
        self._running = False  # a task cancelled before its first step could not save its outcome
        self._finishing = False
        self.checkpointed_at = 0.0  # time.monotonic() of the start or the last checkpoint
        # Whether a socket of another process watches: only then do frames go over Redis. Such a socket
        # subscribes before it asks this process for a snapshot or a stop, and the ask sets this.
        self.watched_elsewhere = False

    @property
    def seq(self) -> int:
        return len(self.parts)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def snapshot(self, after: int | None = None) -> dict:
        """The text so far as a `snapshot` frame; with `after`, only the text of the deltas after it."""
        after = after if after and after <= self.seq else 0
        return {
            "type": "snapshot",
            "message": self.message.pk,
            "seq": self.seq,
            "text": "".join(self.parts[after:]),
            "status": self.done_frame["status"] if self.done_frame else Message.Status.STREAMING,
            "after": after,
        }

    def start(self) -> "Run":
        self.task = asyncio.get_running_loop().create_task(self._execute(), name=f"run-{self.message.pk}")
        self.task.add_done_callback(lambda _task: RUNS.pop(self.message.pk, None))
        return self

    def stop(self) -> None:
        """Cancel the stream; the partial text is saved as `stopped`."""
        if self._stop_requested or self._finishing:
            return
        self._stop_requested = True
        if self._running:
            self.task.cancel()
        # Not running yet: _generate sees the request before it calls the model.

    async def _execute(self):
        self._running = True
        started = self.checkpointed_at = time.monotonic()
        ensure_checkpointer()
        try:
            outcome = await self._generate(started)
        finally:
            self._finishing = True  # from here a stop has nothing left to stop, and checkpoints skip it
        duration_ms = round((time.monotonic() - started) * 1000)
        await self._save(duration_ms=duration_ms, **outcome)
        self.done_frame = self.message.done_frame()
        await self._publish(self.done_frame)
        await control.withdraw(self.message.pk)

    async def _generate(self, started: float) -> dict:
        """Stream to the end and return the outcome; retries a throttled or unavailable start."""
        attempt, backoff = 0, 0.0
        while True:
            try:
                if self._stop_requested:
                    raise asyncio.CancelledError
                if backoff:
                    await asyncio.sleep(backoff)
                await self._consume(provider_for(self.message.provider).stream(self.request), started)
                return {"status": Message.Status.COMPLETE}
            except asyncio.CancelledError:
                if not self._stop_requested:
                    raise  # the process is shutting down; recovery marks the message interrupted
                if asyncio.current_task().cancelling():
                    asyncio.current_task().uncancel()
                return {"status": Message.Status.STOPPED, "stop_reason": "stopped_by_user"}
            except TimeoutError:
                log.warning("Run for message %s received nothing for %ss", self.message.pk, settings.STREAM_IDLE_TIMEOUT)
                return self._failure("timeout", ERROR_MESSAGES["timeout"])
            except ProviderError as error:
                self.upstream_request_id = error.request_id or self.upstream_request_id
                if error.code in RETRYABLE and self.seq == 0 and attempt < settings.STREAM_RETRIES:
                    attempt += 1
                    backoff = settings.STREAM_RETRY_BASE_SECONDS * 2 ** (attempt - 1) * random.uniform(1, 1.25)
                    log.info("Retrying message %s in %.2fs after %s (attempt %s)", self.message.pk, backoff, error.code, attempt)
                    continue
                return self._failure(error.code, error.message)
            except Exception:
                log.exception("Run for message %s failed", self.message.pk)
                return self._failure("internal", ERROR_MESSAGES["internal"])

    @staticmethod
    def _failure(code: str, detail: str) -> dict:
        return {"status": Message.Status.ERROR, "error_code": code, "error_detail": detail}

    async def _consume(self, stream, started: float):
        idle = settings.STREAM_IDLE_TIMEOUT
        loop = asyncio.get_running_loop()
        # aclosing: a stop or the watchdog closes the upstream at once, even mid-publish.
        async with aclosing(stream) as events, asyncio.timeout(idle) as watchdog:
            armed_at = loop.time()
            async for event in events:
                # Waiting in line for the local model is not silence; anything else re-arms the watchdog,
                # at most every tenth of the timeout (re-arming moves a timer in the loop's heap: not per delta).
                if isinstance(event, Queued):
                    watchdog.reschedule(None)
                    armed_at = None
                elif armed_at is None or loop.time() - armed_at >= idle / 10:
                    armed_at = loop.time()
                    watchdog.reschedule(armed_at + idle)
                if isinstance(event, TextDelta):
                    # PostgreSQL's text cannot hold NUL: one would fail every later save of this answer.
                    text = event.text.replace("\x00", "") if "\x00" in event.text else event.text
                    if not text:
                        continue
                    if self.ttft_ms is None:
                        self.ttft_ms = round((time.monotonic() - started) * 1000)
                    self.parts.append(text)
                    await self._publish({"type": "delta", "message": self.message.pk, "seq": self.seq, "text": text})
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
            seq=self.seq,
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
        await relay.publish(self.message.pk, frame, everywhere=self.watched_elsewhere)

    def checkpoint_due(self, now: float) -> bool:
        return (self._running and not self._finishing
                and now - self.checkpointed_at >= settings.STREAM_CHECKPOINT_SECONDS * 0.99)


def create_run(message: Message, request: GenerationRequest) -> Run:
    """Register a run before it starts, so a socket attaching in between finds it (at seq 0)."""
    run = RUNS[message.pk] = Run(message, request)
    return run
