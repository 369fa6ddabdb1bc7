"""Bridge a blocking producer (boto3's stream, llama.cpp's generator) to the event loop.

The producer runs in its own daemon thread, not the default executor: a long stream would hold one
of the executor's few workers for minutes, and many concurrent streams would queue behind each other.
"""

import asyncio
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable

_END = object()


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

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
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
