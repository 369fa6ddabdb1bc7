"""A generation run: reads a provider's stream, relays each chunk, checkpoints, and saves the outcome.

A run is its own asyncio task, never awaited inside a consumer's receive handler (a consumer handles
one message at a time, so an inline stream would block the stop frame: django/channels #1119). It
belongs to no socket: closing a socket does not end it. Its frames go through chat.relay to every
socket watching its message, in this process or (with Redis) in another.
"""

import asyncio
import logging
import random
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from datetime import timedelta

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

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

log = logging.getLogger(__name__)

# The runs living in this process, by message id.
RUNS: dict[int, "Run"] = {}
# Worth another try, but only before the first word: after it, a retry would repeat the answer.
RETRYABLE = {"throttled", "service_unavailable"}


def control_group(message_id: int) -> str:
    """The process running a message's answer: stop and snapshot requests from any process go here."""
    return f"run.{message_id}"


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
        if multi_process():
            await control_layer().group_discard(control_group(self.message.pk), await control_channel())

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


def multi_process() -> bool:
    """With Redis, several processes share the users: a run may live in another one."""
    return bool(settings.REDIS_URL)


async def announce(run: Run) -> None:
    """Make the run reachable from other processes (stop, snapshot) through this process's channel."""
    if multi_process():
        await control_layer().group_add(control_group(run.message.pk), await control_channel())


# Cross-process control. Each process listens on one channel of its own; it joins the control group
# of each run it hosts. A socket in another process sends `run.stop` or `run.snapshot_request` there.

def control_layer():
    """A channel layer instance of its own for control requests: channels_redis shares one receive
    loop among the process-local channels of an instance, and a listener that waits forever on it
    starved the consumers' deliveries."""
    return get_channel_layer("control")


_control: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[str, asyncio.Task]]" = weakref.WeakKeyDictionary()


async def control_channel() -> str:
    loop = asyncio.get_running_loop()
    listening = _control.get(loop)
    if listening is None or listening[1].done():
        layer = control_layer()
        channel = await layer.new_channel("runs.")
        listening = _control[loop] = (channel, loop.create_task(_obey(layer, channel), name="run-control"))
    return listening[0]


async def _obey(layer, channel: str):
    while True:
        try:
            request = await layer.receive(channel)
            await answer_control(layer, request)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Run control request failed")
            await asyncio.sleep(0.5)


async def answer_control(layer, request: dict) -> None:
    run = RUNS.get(request.get("message"))
    if run is not None and request["type"] in ("run.stop", "run.snapshot_request"):
        run.watched_elsewhere = True  # the asker's process is subscribed: publish from now on
    if request["type"] == "run.stop":
        if run is not None:
            run.stop()
    elif request["type"] == "run.snapshot_request":
        # None means "not here any more": the asker falls back to the database at once.
        reply = {"type": "run.snapshot", "message": request["message"], "socket": request["socket"],
                 "token": request.get("token"), "frame": None, "done": None}
        if run is not None:
            reply |= {"frame": run.snapshot(request.get("after")), "done": run.done_frame}
        await layer.send(request["reply_to"], reply)
    elif request["type"] == "run.snapshot":
        socket = relay.socket(request["socket"])
        if socket is not None:
            # In the socket's background: settling from the database must not hold up this channel.
            socket.in_background(socket.run_snapshot(request))


def find_run(message_id: int) -> Run | None:
    return RUNS.get(message_id)


async def wait_for_runs(timeout: float = 10.0) -> None:
    """Wait for every run in this process to finish (tests and shutdown)."""
    tasks = [run.task for run in list(RUNS.values()) if run.task is not None]
    if tasks:
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout)


# Crash safety: a streaming message whose run died with its process is closed as `interrupted`.

def stale_before():
    return timezone.now() - timedelta(seconds=settings.STREAM_STALE_SECONDS)


def orphans_among(messages):
    """The streaming messages among these whose run is gone. With one process (no Redis) that is every
    one without a run here; with several, those whose heartbeat is stale (others run elsewhere)."""
    streaming = messages.streaming()
    return streaming.orphaned(stale_before()) if multi_process() else streaming


def interrupt_orphans(live_here: list[int]) -> int:
    """Mark streaming messages with an old heartbeat as interrupted (none of this process's live runs)."""
    count = Message.objects.orphaned(stale_before()).exclude(pk__in=live_here).mark_interrupted()
    if count:
        log.warning("Marked %s streaming message(s) with no live run as interrupted", count)
    return count


_sweepers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = weakref.WeakKeyDictionary()


def _ensure_task(tasks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]", forever, name: str):
    """Start `forever()` once per event loop (again if it ended), keeping its task in `tasks`."""
    loop = asyncio.get_running_loop()
    task = tasks.get(loop)
    if task is None or task.done():
        tasks[loop] = loop.create_task(forever(), name=name)


def ensure_sweeper() -> None:
    """Start this process's heartbeat check, once per event loop."""
    _ensure_task(_sweepers, _sweep_forever, "interrupt-orphans")


async def stop_background_tasks() -> None:
    """End this loop's heartbeat check, checkpoints, control and relay listeners (tests, which use one
    loop per test)."""
    loop = asyncio.get_running_loop()
    tasks = [_sweepers.pop(loop, None), _checkpointers.pop(loop, None), (_control.pop(loop, None) or (None, None))[1]]
    for task in filter(None, tasks):
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await relay.stop_listening()


# Checkpoints: each live run's partial text and a heartbeat are saved every STREAM_CHECKPOINT_SECONDS,
# never per chunk: if the process dies, the answers so far survive, and the missing heartbeat tells other
# processes the runs are gone. One task per process saves all runs that are due in one transaction; it
# looks four times per interval, so each run is saved once per interval (give or take a quarter), counted
# from its own start, not once per tick of a clock it shares with the others.

_checkpointers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = weakref.WeakKeyDictionary()


def ensure_checkpointer() -> None:
    _ensure_task(_checkpointers, _checkpoint_forever, "checkpoints")


async def _checkpoint_forever():
    while True:
        await asyncio.sleep(settings.STREAM_CHECKPOINT_SECONDS / 4)
        now = time.monotonic()
        due = [run for run in list(RUNS.values()) if run.checkpoint_due(now)]
        # Taken on the event loop, so each (text, seq) pair is consistent.
        batch = [(run.message.pk, run.text, run.seq) for run in due]
        if batch:
            try:
                await asyncio.get_running_loop().run_in_executor(_checkpoint_thread, write_checkpoints, batch)
            except Exception:
                log.exception("Saving checkpoints failed")
                continue  # tried again at the next look, not an interval later
            for run in due:
                run.checkpointed_at = now


# Checkpoints have a thread (and database connection) of their own: in the database thread they waited
# behind a burst of prompts (1,000 arriving at once took it 17 s), so answers went that long unsaved.
_checkpoint_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoints")


def write_checkpoints(batch) -> None:
    close_old_connections()  # as database_sync_to_async does around each call
    try:
        try:
            with transaction.atomic():
                Message.checkpoint_many(batch)
        except Exception:
            # One row the database refuses must not cost the other answers their heartbeat (without it,
            # other processes would close them as interrupted): save them one by one.
            log.exception("Saving %s checkpoints at once failed; saving them one by one", len(batch))
            for row in batch:
                try:
                    with transaction.atomic():
                        Message.checkpoint_many([row])
                except Exception:
                    log.exception("Saving the checkpoint of message %s failed", row[0])
    finally:
        close_old_connections()


async def _sweep_forever():
    while True:
        try:
            await database_sync_to_async(interrupt_orphans)(list(RUNS))
            watched = relay.remote_watched()
            if watched:
                await relay.settle_finished(await database_sync_to_async(ended_long_ago)(watched))
        except Exception:
            log.exception("Heartbeat check failed")
        await asyncio.sleep(settings.STREAM_STALE_SECONDS / 2)


# A `done` published by the running process reaches the watchers of other processes well within this;
# only one that went missing is delivered from the database, never one racing the answer's last deltas.
DONE_GRACE_SECONDS = 2.0


def ended_long_ago(message_ids: list[int]) -> dict[int, dict]:
    """The `done` frames of these messages that ended more than DONE_GRACE_SECONDS ago."""
    ended_before = timezone.now() - timedelta(seconds=DONE_GRACE_SECONDS)
    ended = Message.objects.filter(pk__in=message_ids, finished__lt=ended_before).exclude(status=Message.Status.STREAMING)
    return {message.pk: message.done_frame() for message in ended}
