"""Bridge a blocking producer (boto3's stream, llama.cpp's generator) to the event loop.

Each producer runs on a thread of its own for as long as its stream lasts, not in the default executor: a
long stream would hold one of the executor's few workers for minutes, and many concurrent streams would
queue behind each other. The threads are kept and reused (_Readers): starting a thread makes the starter
wait until the new thread has run (Thread.start), which under a busy interpreter lock took 4 ms a stream,
with the event loop stopped for it (a burst of 50 prompts: 190 ms of the loop's time).
"""

import asyncio
import itertools
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from queue import Empty, SimpleQueue

_END = object()


class _Readers:
    """Threads that run producers, one producer each at a time, reused. `run` only queues the job: a
    reader waiting for work takes it, and when none waits a spawner thread starts one more (so it is the
    spawner, not the event loop, that waits for the new thread). KEEP readers are started with the server
    (warm_up) and kept; a reader beyond them ends after IDLE_SECONDS with no work."""

    IDLE_SECONDS = 60.0
    KEEP = 32  # a burst's first streams need not wait for their threads to start (at ~100 KB of memory each)

    def __init__(self):
        self.jobs: SimpleQueue = SimpleQueue()
        self.spawns: SimpleQueue = SimpleQueue()
        self.lock = threading.Lock()
        # Readers waiting for a job, less the jobs queued for them (a reader started for a job is not counted).
        self.idle = 0
        self.count = 0  # readers alive
        self.numbers = itertools.count(1)  # for their names
        self.spawner: threading.Thread | None = None

    def run(self, job: Callable[[], None], name: str) -> None:
        with self.lock:
            self.jobs.put((job, name))
            if self.idle:
                self.idle -= 1  # one waiting reader takes it
                return
        self._spawn(waiting=False)

    def warm_up(self) -> None:
        """Start KEEP readers, waiting for work (in the background: the spawner starts them)."""
        for _ in range(max(0, self.KEEP - self.count)):
            self._spawn(waiting=True)

    def _spawn(self, waiting: bool) -> None:
        """One more reader: for a queued job, or (waiting) to wait for one."""
        with self.lock:
            if self.spawner is None:
                self.spawner = threading.Thread(target=self._spawn_forever, name="stream-reader-spawner", daemon=True)
                self.spawner.start()
        self.spawns.put(waiting)

    def _spawn_forever(self) -> None:
        while True:
            waiting = self.spawns.get()
            with self.lock:
                self.count += 1
                number = next(self.numbers)
                if waiting:
                    self.idle += 1
            threading.Thread(target=self._read_forever, name=f"stream-reader-{number}", daemon=True).start()

    def _read_forever(self) -> None:
        thread = threading.current_thread()
        own_name = thread.name
        while True:
            try:
                job, name = self.jobs.get(timeout=self.IDLE_SECONDS)
            except Empty:
                with self.lock:
                    if self.idle and self.count > self.KEEP:  # counted as waiting, no job claimed it: end
                        self.idle -= 1
                        self.count -= 1
                        return
                continue  # kept, or a job claimed it just now: it is in the queue
            thread.name = f"{own_name} ({name})"
            try:
                job()
            finally:
                thread.name = own_name
                with self.lock:
                    self.idle += 1


_readers = _Readers()


def warm_up() -> None:
    """At server start (streamer.asgi): the stream readers a burst's first streams will run on."""
    _readers.warm_up()


class _Inbox:
    """Items from every producer thread to the event loop, with one wake-up per batch, not per item.

    call_soon_threadsafe writes to the loop's self-pipe on every call: one syscall and one loop wake-up
    per delta, which the load profile showed as a sixth of the server's CPU with 1,000 streams.
    Appending to a deque needs no lock (the GIL makes it atomic); a drain is scheduled only when none
    is pending, and the flag is cleared before the drain empties the deque, so no item is left behind.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.items: deque = deque()
        self.drain_pending = False

    def put(self, queue: asyncio.Queue, item) -> None:
        self.items.append((queue, item))
        if not self.drain_pending:
            self.drain_pending = True  # two threads may both get here: one extra drain, harmless
            self.loop.call_soon_threadsafe(self.drain)

    def drain(self) -> None:
        self.drain_pending = False
        items = self.items
        while items:
            queue, item = items.popleft()
            queue.put_nowait(item)


_inboxes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Inbox]" = weakref.WeakKeyDictionary()


def _inbox(loop: asyncio.AbstractEventLoop) -> _Inbox:
    inbox = _inboxes.get(loop)
    if inbox is None:
        inbox = _inboxes[loop] = _Inbox(loop)
    return inbox


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


async def relay_from_thread(
    produce: Callable[[Callable[[object], None]], None],
    cancel: Callable[[], None],
    name: str = "provider-stream",
) -> AsyncIterator:
    """Run `produce(emit)` in a thread and yield each item it emits, in order, as soon as it is emitted.

    An exception raised by `produce` is re-raised here. If the consumer stops early (the run was
    stopped or cancelled), `cancel()` is called so the producer can release its upstream connection.
    """
    queue: asyncio.Queue = asyncio.Queue()
    inbox = _inbox(asyncio.get_running_loop())

    def emit(item):
        inbox.put(queue, item)

    def target():
        try:
            produce(emit)
            outcome = _END
        except BaseException as error:  # handed to the event loop, which re-raises it
            outcome = _Failure(error)
        try:
            emit(outcome)
        except RuntimeError:
            pass  # the loop has closed: nobody is listening any more

    _readers.run(target, name)
    finished = False
    try:
        while True:
            item = await queue.get()
            if item is _END:
                finished = True
                return
            if isinstance(item, _Failure):
                finished = True
                raise item.error
            yield item
    finally:
        if not finished:
            cancel()
