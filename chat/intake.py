"""A burst of prompts, saved in batches (issue #16).

Every prompt's row is saved before its model is called (crash safety), and all of a process's database
work used to queue on asgiref's one database thread: a prompt was one hop there, with its session check
another, each opening and closing a connection (on SQLite, closing the last connection to a WAL
database checkpoints it and waits for the disk) and committing on its own. At 50 prompts sent at once
the last one waited for 49 such hops before its model was called.

Here the prompts waiting in a process (an event loop) are saved together: one hop to the database thread,
one connection, one transaction with a savepoint per prompt (one prompt's failure is its own), the catalog
read once per batch, and the sockets' session checks in the same hop. What each prompt read for itself (its
resent request id, its user's groups, limit counts and budgets, its session) is read once for the batch
(chat.models.turn_reads, sessions.sessions_holding), and a batch whose prompts each open a new conversation,
with no files and no budget, is inserted with one statement per table (MessageQuerySet.start_new_turns).
A prompt arriving while a batch is being saved waits for the next one, which takes every prompt waiting
then (up to PROMPT_BATCH_MAX). The limits are still counted in the database, inside the batch's
transaction, so a user's two prompts in one batch count each other, and other processes count them all
once the batch is committed, as before. The ends of runs wait while prompts do (chat.runs.finishing).

A prompt with PROMPT_QUEUED_AT or more prompts ahead of it in the line gets a `queued` frame naming its
request (docs/protocol.md): the process is saturated, and the user is told rather than left in silence.

A saved prompt stays in the line until its run has called its model and heard back (Intake.calling_model):
the boto3 call is a prompt's costliest CPU after its save, and runs' ends saved meanwhile (2–3 ms of CPU
each) took the interpreter lock from the last batch's calls (a burst's p99).
"""

import asyncio
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction

from chat import catalog, sessions
from chat.frames import PromptFrame
from chat.models import Message
from chat.models.turn_reads import BatchReads

log = logging.getLogger(__name__)

class SessionEnded(Exception):
    """The socket's session no longer holds its user: nothing was saved."""


@dataclass
class Pending:
    """One prompt waiting to be saved."""

    user: object
    prompt: PromptFrame
    client_ip: str | None
    user_agent: str
    session: "sessions.SessionCheck | None"  # its check is due: made in the same trip
    future: asyncio.Future = field(repr=False, default=None)
    # Once saved: tells the line that the prompt's run has heard back from its model (Run.start).
    model_answered: Callable[[], None] = field(repr=False, default=lambda: None)


class Intake:
    """The line of prompts of one event loop, and the task saving them batch by batch."""

    def __init__(self):
        self.waiting: deque[Pending] = deque()
        self.saving = 0  # prompts in the batch being saved now
        self.worker: asyncio.Task | None = None  # saving batches while prompts wait
        self.calling = 0  # saved prompts whose runs have not heard back from their model yet
        self.emptied: asyncio.Event | None = None  # set when the line is empty (chat.runs.finishing waits for it)

    def busy(self) -> bool:
        return (self.worker is not None and not self.worker.done()) or self.calling > 0

    def _changed(self) -> None:
        if self.emptied is None:
            return
        if self.busy():
            self.emptied.clear()
        else:
            self.emptied.set()

    async def idle(self, timeout: float) -> None:
        """Until no prompt waits to be saved or for its model's first reply, at most `timeout` seconds."""
        if not self.busy():
            return
        if self.emptied is None:
            self.emptied = asyncio.Event()
        try:
            await asyncio.wait_for(self.emptied.wait(), timeout)
        except TimeoutError:
            pass

    def calling_model(self) -> Callable[[], None]:
        """A prompt saved to be answered: the line is busy until the returned function is called (by its run,
        at its model's first reply or its end; calling it again does nothing)."""
        self.calling += 1
        self._changed()
        answered = False

        def called() -> None:
            nonlocal answered
            if not answered:
                answered = True
                self.calling -= 1
                self._changed()
        return called

    async def start_turn(self, pending: Pending, on_queued: Callable[[int], Awaitable]) -> tuple:
        """Save the prompt (Message.objects.start_turn) in the next batch; returns (message, request) or
        raises what start_turn raised (FrameError), or SessionEnded."""
        loop = asyncio.get_running_loop()
        pending.future = loop.create_future()
        ahead = self.saving + len(self.waiting)
        self.waiting.append(pending)
        if self.worker is None or self.worker.done():
            self.worker = loop.create_task(self._save_while_waiting(), name="prompt-intake")
            self._changed()
        if ahead >= settings.PROMPT_QUEUED_AT:
            await on_queued(ahead)
        try:
            return await pending.future
        except asyncio.CancelledError:
            pending.model_answered()  # saved, but its socket's task ended before starting the run
            raise

    async def _save_while_waiting(self):
        try:
            await self._save_batches()
        finally:
            self.worker = None
            self._changed()

    async def _save_batches(self):
        while self.waiting:
            batch = [self.waiting.popleft() for _ in range(min(len(self.waiting), settings.PROMPT_BATCH_MAX))]
            self.saving = len(batch)
            try:
                outcomes = await database_sync_to_async(save_batch)(batch)
            except BaseException as error:  # noqa: BLE001 - every waiting prompt must hear of it
                outcomes = [error] * len(batch)
                if isinstance(error, asyncio.CancelledError):
                    for pending in [*batch, *self.waiting]:
                        pending.future.cancel()
                    raise
            finally:
                self.saving = 0
            for pending, outcome in zip(batch, outcomes):
                if pending.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    pending.future.set_exception(outcome)
                else:
                    if outcome[1] is not None:  # a new turn, not a resent one: a run will call the model
                        pending.model_answered = self.calling_model()
                    pending.future.set_result(outcome)


_intakes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Intake]" = weakref.WeakKeyDictionary()


def intake() -> Intake:
    """This event loop's line of prompts (tests run one loop per test)."""
    loop = asyncio.get_running_loop()
    line = _intakes.get(loop)
    if line is None:
        line = _intakes[loop] = Intake()
    return line


def save_batch(batch: list[Pending]) -> list:
    """In the database thread: each prompt's (message, request), or the exception it raised."""
    outcomes: list = []
    try:
        with catalog.read_once(), transaction.atomic():
            checks = [(pending.session.session_key, pending.session.user_id) for pending in batch if pending.session]
            live = sessions.sessions_holding(checks) if checks else set()
            reads = BatchReads([pending.user for pending in batch], [pending.prompt.request_id for pending in batch])
            ended = [pending.session is not None and pending.session.session_key not in live for pending in batch]
            going_on = [pending for pending, gone in zip(batch, ended) if not gone]
            if len(going_on) > 1 and reads.plain([(pending.user, pending.prompt) for pending in going_on]):
                saved = iter(save_together(going_on, reads, live))
                return [SessionEnded() if gone else next(saved) for gone in ended]
            for pending in batch:
                outcomes.append(save_one(pending, reads, live))
    except Exception as error:  # the commit itself failed: none of the batch was saved
        log.exception("Saving a batch of %s prompts failed", len(batch))
        return [error] * len(batch)
    return outcomes


def save_together(batch: list[Pending], reads: BatchReads, live_sessions: set[str]) -> list:
    """Prompts that each open a new conversation with no files and no budget: inserted together, in a
    savepoint; if that fails (a request id raced in from another process), one by one."""
    turns = [(pending.user, pending.prompt, pending.client_ip, pending.user_agent) for pending in batch]
    counts = reads.counts()
    try:
        with transaction.atomic():
            return Message.objects.start_new_turns(turns, reads)
    except Exception:  # noqa: BLE001 - each prompt then meets its own error, if any
        log.warning("Saving %s prompts together failed; saving them one by one", len(batch), exc_info=True)
        reads.restore(counts)
        return [save_one(pending, reads, live_sessions) for pending in batch]


def save_one(pending: Pending, reads: BatchReads, live_sessions: set[str]):
    try:
        if pending.session is not None and pending.session.session_key not in live_sessions:
            return SessionEnded()
        with transaction.atomic():  # a savepoint: this prompt's failure leaves the others' rows alone
            return Message.objects.start_turn(user=pending.user, prompt=pending.prompt, client_ip=pending.client_ip,
                                              user_agent=pending.user_agent, reads=reads)
    except Exception as error:  # noqa: BLE001 - handed to the prompt's socket, which answers it
        return error
