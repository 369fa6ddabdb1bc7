"""Checkpoints: each live run's partial text (answer and reasoning) and a heartbeat are saved every STREAM_CHECKPOINT_SECONDS.

Never per chunk: if the process dies, the answers so far survive, and the missing heartbeat tells other
processes the runs are gone. One task per process saves all runs that are due in one transaction; it
looks four times per interval, so each run is saved once per interval (give or take a quarter), counted
from its own start, not once per tick of a clock it shares with the others.
"""

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, transaction

from chat import loop_tasks
from chat.models import Message
from chat.runs.live import RUNS

log = logging.getLogger(__name__)

# Checkpoints have a thread (and database connection) of their own: in the database thread they waited
# behind a burst of prompts (1,000 arriving at once took it 17 s), so answers went that long unsaved.
_checkpoint_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoints")


def ensure_checkpointer() -> None:
    loop_tasks.ensure("checkpoints", _checkpoint_forever)


async def _checkpoint_forever():
    while True:
        await asyncio.sleep(settings.STREAM_CHECKPOINT_SECONDS / 4)
        now = time.monotonic()
        due = [run for run in list(RUNS.values()) if run.checkpoint_due(now)]
        # Taken on the event loop, so each (text, reasoning, seq) is consistent.
        batch = [(run.message.pk, run.text, run.reasoning, run.seq) for run in due]
        if batch:
            try:
                await asyncio.get_running_loop().run_in_executor(_checkpoint_thread, write_checkpoints, batch)
            except Exception:
                log.exception("Saving checkpoints failed")
                continue  # tried again at the next look, not an interval later
            for run in due:
                run.checkpointed_at = now


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
