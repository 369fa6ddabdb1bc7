"""A generation run: reads a provider's stream, relays each chunk, and saves the outcome once."""

import asyncio
import logging
import random
import time
from collections.abc import Callable
from contextlib import aclosing

from django.conf import settings

from chat import relay
from chat.models import Message
from chat.providers import (
    ERROR_MESSAGES,
    Citation,
    GenerationRequest,
    ProviderError,
    Queued,
    ReasoningDelta,
    ReasoningSignature,
    Started,
    StopReason,
    TextDelta,
    Trace,
    Usage,
    provider_for,
)
from chat.runs import control, finishing
from chat.runs.checkpoints import ensure_checkpointer
from chat.runs.live import RUNS
from chat.runs.outcome import Outcome

log = logging.getLogger(__name__)

# Worth another try, but only before the first word: after it, a retry would repeat the answer.
RETRYABLE = {"throttled", "service_unavailable"}


class Run:
    def __init__(self, message: Message, request: GenerationRequest):
        self.message = message
        self.request = request
        # Reasoning and answer deltas share one seq: delta seq i + 1 is reasoning if is_reasoning[i], and
        # each part's texts are kept in order in its own list (joined at checkpoints as fast as one list).
        self.answer_parts: list[str] = []
        self.reasoning_parts: list[str] = []
        self.is_reasoning = bytearray()
        self.outcome = Outcome()  # all else the stream tells: usage, stop reason, trace, citations…
        self.upstream_request_id = ""
        self.done_frame: dict | None = None  # set just before `done` is published
        self.task: asyncio.Task | None = None
        self._stop_requested = False
        self._running = False  # a task cancelled before its first step could not save its outcome
        self._finishing = False
        self.checkpointed_at = 0.0  # time.monotonic() of the start or the last checkpoint
        # Whether a socket of another process watches: only then do frames go over Redis. Such a socket
        # subscribes before it asks this process for a snapshot or a stop, and the ask sets this.
        self.watched_elsewhere = False
        self.announcing: asyncio.Future | None = None  # making it reachable from other processes (announce)
        self.model_answered: Callable[[], None] = lambda: None  # see start()

    @property
    def seq(self) -> int:
        return len(self.is_reasoning)

    @property
    def text(self) -> str:
        return "".join(self.answer_parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    def snapshot(self, after: int | None = None) -> dict:
        """The text and reasoning so far as a `snapshot` frame; with `after`, only those of the deltas after it."""
        after = after if after and after <= self.seq else 0
        reasoning_before = self.is_reasoning.count(1, 0, after)
        return {
            "type": "snapshot",
            "message": self.message.pk,
            "seq": self.seq,
            "text": "".join(self.answer_parts[after - reasoning_before:]),
            "reasoning": "".join(self.reasoning_parts[reasoning_before:]),
            "status": self.done_frame["status"] if self.done_frame else Message.Status.STREAMING,
            "after": after,
        }

    def start(self, model_answered: Callable[[], None] = lambda: None) -> "Run":
        """`model_answered`: called once the model has first answered or the run ended (chat.intake: runs'
        ends wait for that)."""
        self.model_answered = model_answered
        self.task = asyncio.get_running_loop().create_task(self._execute(), name=f"run-{self.message.pk}")
        self.task.add_done_callback(lambda _task: RUNS.pop(self.message.pk, None))
        self.task.add_done_callback(lambda _task: self.model_answered())  # cancelled before its first step
        return self

    def announce(self) -> None:
        """Make the run reachable from other processes (stop, snapshot), in the background once it has
        started: neither the model nor the socket's next frame waits for Redis. Its end waits for this, so
        a withdraw never comes first."""
        self.announcing = asyncio.ensure_future(self._announce())

    async def _announce(self) -> None:
        try:
            await control.announce(self)
        except Exception:
            # Its own process still stops and snapshots it; other processes settle it from the database.
            log.exception("Announcing the run of message %s to other processes failed", self.message.pk)

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
            self.model_answered()
            self._finishing = True  # from here a stop has nothing left to stop, and checkpoints skip it
        duration_ms = round((time.monotonic() - started) * 1000)
        await self._save(duration_ms=duration_ms, **outcome)
        self.done_frame = self.message.done_frame()
        await self._publish(self.done_frame)
        if self.announcing is not None:
            await asyncio.gather(self.announcing, return_exceptions=True)
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
                return {"status": self.outcome.status_of_whole_answer()}
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
                self.model_answered()  # with an error: a retry's backoff keeps no end waiting
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
                self.model_answered()  # Started (boto3's call returned), or the first word
                # Waiting in line for the local model is not silence; anything else re-arms the watchdog,
                # at most every tenth of the timeout (re-arming moves a timer in the loop's heap: not per delta).
                if isinstance(event, Queued):
                    watchdog.reschedule(None)
                    armed_at = None
                elif armed_at is None or loop.time() - armed_at >= idle / 10:
                    armed_at = loop.time()
                    watchdog.reschedule(armed_at + idle)
                if isinstance(event, (TextDelta, ReasoningDelta)):
                    await self._relay(event, started)
                elif isinstance(event, Started):
                    self.upstream_request_id = event.request_id
                elif isinstance(event, Queued):
                    await self._publish({"type": "queued", "message": self.message.pk, "position": event.position})
                elif isinstance(event, (Usage, StopReason, ReasoningSignature, Citation, Trace)):
                    self.outcome.take(event)

    async def _relay(self, event: TextDelta | ReasoningDelta, started: float):
        # PostgreSQL's text cannot hold NUL: one would fail every later save of this answer.
        text = event.text.replace("\x00", "") if "\x00" in event.text else event.text
        if not text:
            return
        reasoning = isinstance(event, ReasoningDelta)
        self.outcome.first_delta(reasoning, round((time.monotonic() - started) * 1000))
        (self.reasoning_parts if reasoning else self.answer_parts).append(text)
        self.is_reasoning.append(reasoning)
        frame = {"type": "delta", "message": self.message.pk, "seq": self.seq, "text": text}
        if reasoning:
            frame["part"] = "reasoning"
        await self._publish(frame)

    async def _save(self, **outcome):
        """Saved with the other runs' ends waiting in this process, after the prompts waiting (chat.runs.finishing)."""
        await finishing.finisher().save(lambda: self._save_now(**outcome))

    def _save_now(self, *, status, duration_ms, stop_reason="", error_code="", error_detail=""):
        self.message.finish(
            status=status,
            response=self.text,
            reasoning=self.reasoning,
            seq=self.seq,
            duration_ms=duration_ms,
            error_code=error_code,
            error_detail=error_detail,
            upstream_request_id=self.upstream_request_id,
            **self.outcome.fields(self.message.model_key, status, stop_reason),
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
