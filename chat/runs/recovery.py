"""Crash safety: a streaming message whose run died with its process is closed as `interrupted`.

With one process (no Redis) a streaming message with no run here has lost its run for sure; with
several, once its heartbeat is stale (see chat.runs.checkpoints). The heartbeat check also delivers a
`done` that never came from another process (chat.relay.settle_finished).
"""

import asyncio
import logging
from datetime import timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from chat import loop_tasks, relay
from chat.models import Message, stale_before
from chat.runs.control import multi_process
from chat.runs.live import RUNS

log = logging.getLogger(__name__)

# A `done` published by the running process reaches the watchers of other processes well within this;
# only one that went missing is delivered from the database, never one racing the answer's last deltas.
DONE_GRACE_SECONDS = 2.0


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


def is_orphaned(message_id: int) -> bool:
    return Message.objects.filter(pk=message_id).orphaned(stale_before()).exists()


async def running_elsewhere(message: Message) -> bool:
    """Whether a streaming message with no run here has one in another process (with Redis, while its
    heartbeat is fresh)."""
    return multi_process() and not await database_sync_to_async(is_orphaned)(message.pk)


def settle_orphan(message: Message) -> Message:
    """A streaming message with no run in this process: closed as `interrupted` if its run is gone."""
    orphans_among(Message.objects.filter(pk=message.pk)).mark_interrupted()
    message.refresh_from_db()
    return message


def ended_long_ago(message_ids: list[int]) -> dict[int, dict]:
    """The `done` frames of these messages that ended more than DONE_GRACE_SECONDS ago."""
    ended_before = timezone.now() - timedelta(seconds=DONE_GRACE_SECONDS)
    ended = Message.objects.filter(pk__in=message_ids, finished__lt=ended_before).exclude(status=Message.Status.STREAMING)
    return {message.pk: message.done_frame() for message in ended}


def ensure_sweeper() -> None:
    """Start this process's heartbeat check, once per event loop."""
    loop_tasks.ensure("interrupt-orphans", _sweep_forever)


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
