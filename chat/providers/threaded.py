"""Bridge a blocking producer (boto3's stream, llama.cpp's generator) to the event loop.

The producer runs in its own daemon thread, not the default executor: a long stream would hold one
of the executor's few workers for minutes, and many concurrent streams would queue behind each other.
"""

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

_END = object()


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
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def emit(item):
        loop.call_soon_threadsafe(queue.put_nowait, item)

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
