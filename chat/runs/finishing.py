"""Runs' final saves, together and after the prompts waiting to be saved (issue #16).

A run's end is saved once (Message.finish: the outcome, the usage rollup, the budget settlement), on the
same database thread as the prompts. Each used to be a trip of its own, queued in arrival order: in a
burst, the first answers' ends (short answers end within the burst) went between the later prompts'
batches, and those prompts' models were called that much later. Here the ends waiting in a process are
saved in one trip and one transaction (a savepoint each: one end's failure is its own; each model's
prices read once), and wait while prompts are waiting to be saved or their runs are calling their models
(chat.intake: at 2–3 ms of CPU each, ends took the interpreter lock from a burst's last calls), at most
DEFER_SECONDS: a prompt is kept from its first word by the wait, an end only delays its `done`. The wait
is short beside STREAM_STALE_SECONDS (a finishing run has no heartbeat), and the ends of a sustained burst
are saved at least that often.
"""

import asyncio
import logging
import weakref
from collections.abc import Callable

from channels.db import database_sync_to_async
from django.db import transaction

from chat import pricing

log = logging.getLogger(__name__)

DEFER_SECONDS = 0.5


class Finisher:
    """The ends of one event loop's runs waiting to be saved, and the task saving them."""

    def __init__(self):
        self.waiting: list[tuple[Callable[[], None], asyncio.Future]] = []
        self.worker: asyncio.Task | None = None

    async def save(self, save_end: Callable[[], None]) -> None:
        """Run `save_end()` (a run's Message.finish) in the database thread with the other ends waiting;
        raises what it raised."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.waiting.append((save_end, future))
        if self.worker is None or self.worker.done():
            self.worker = loop.create_task(self._save_while_waiting(), name="run-ends")
        await future

    async def _save_while_waiting(self):
        from chat import intake

        while self.waiting:
            await intake.intake().idle(DEFER_SECONDS)
            batch, self.waiting = self.waiting, []
            try:
                outcomes = await database_sync_to_async(save_ends)([save_end for save_end, _ in batch])
            except BaseException as error:  # noqa: BLE001 - every waiting run must hear of it
                outcomes = [error] * len(batch)
                if isinstance(error, asyncio.CancelledError):
                    for _, future in [*batch, *self.waiting]:
                        future.cancel()
                    raise
            for (_, future), outcome in zip(batch, outcomes):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(None)


def save_ends(batch: list[Callable[[], None]]) -> list:
    """In the database thread: None for each end saved, or the exception it raised."""
    outcomes: list = []
    try:
        with pricing.read_once(), transaction.atomic():
            for save_end in batch:
                try:
                    with transaction.atomic():  # a savepoint: this end's failure leaves the others alone
                        save_end()
                    outcomes.append(None)
                except Exception as error:  # noqa: BLE001 - raised again in its own run
                    outcomes.append(error)
    except Exception as error:  # the commit itself failed: none was saved
        log.exception("Saving the ends of %s answers failed", len(batch))
        return [error] * len(batch)
    return outcomes


_finishers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Finisher]" = weakref.WeakKeyDictionary()


def finisher() -> Finisher:
    """This event loop's line of run ends (tests run one loop per test)."""
    loop = asyncio.get_running_loop()
    line = _finishers.get(loop)
    if line is None:
        line = _finishers[loop] = Finisher()
    return line
