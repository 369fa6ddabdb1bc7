"""The tasks a process runs once per event loop, beside its sockets and runs: the heartbeat check,
checkpoints, and the listeners of its relay and control channels.

Each starts here, once per loop (again if it ended), so one call ends them all: tests use one event loop
per test.
"""

import asyncio
import functools
import logging
import weakref

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

# event loop -> task name -> the task
_tasks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Task]]" = weakref.WeakKeyDictionary()
# event loop -> listener name -> the future of the listener's channel name
_channels: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future]]" = (
    weakref.WeakKeyDictionary())


def ensure(name: str, forever) -> asyncio.Task:
    """Start `forever()` once per event loop, again if it ended."""
    loop = asyncio.get_running_loop()
    tasks = _tasks.setdefault(loop, {})
    task = tasks.get(name)
    if task is None or task.done():
        task = tasks[name] = loop.create_task(forever(), name=name)
    return task


async def listening_channel(name: str, layer_alias: str, prefix: str, handle) -> str:
    """This loop's one channel on a channel layer, with a task that passes each message received to
    `handle(layer, message)`. The task is registered before its first await, so callers racing each other
    share one channel."""
    loop = asyncio.get_running_loop()
    channels = _channels.setdefault(loop, {})
    task = _tasks.get(loop, {}).get(name)
    if task is None or task.done():
        channel_ready = channels[name] = loop.create_future()
        ensure(name, functools.partial(_listen, layer_alias, prefix, handle, channel_ready))
    return await asyncio.shield(channels[name])


async def _listen(layer_alias: str, prefix: str, handle, channel_ready: asyncio.Future) -> None:
    layer = get_channel_layer(layer_alias)
    try:
        channel = await layer.new_channel(prefix)
    except Exception as error:
        channel_ready.set_exception(error)
        return
    channel_ready.set_result(channel)
    while True:
        try:
            await handle(layer, await layer.receive(channel))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Handling a message received on %s failed", channel)
            await asyncio.sleep(0.5)


async def stop_all() -> None:
    """End this loop's tasks."""
    loop = asyncio.get_running_loop()
    tasks = list(_tasks.pop(loop, {}).values())
    # A channel's future too: it never resolves if its listener never got a channel.
    futures = list(_channels.pop(loop, {}).values())
    for part in [*tasks, *futures]:
        part.cancel()
    await asyncio.gather(*tasks, *futures, return_exceptions=True)
