"""Hand a run's frames to the sockets watching its message.

Sockets of this process get each frame by a plain call from the run's task: no channel-layer queue, no
consumer receive loop and no Channels dispatch (which hops to the database thread before every handler).
The load benchmark measured those three as most of the server's CPU per delta (bench/load.py).

With several processes (Redis), a process whose sockets watch a run living elsewhere subscribes to its
message's group on the channel layer once (not once per socket), then asks the run's process for a
snapshot or a stop; from that ask on, the run also publishes each frame to the group
(Run.watched_elsewhere), and the subscribed process hands what arrives to its sockets. When the answer is done the watchers are dropped: a
socket that attaches again watches again. A `done` that never arrives (pub/sub keeps nothing for a
listener that reconnects; the running process died) is delivered from the database by the process's
heartbeat check (settle_finished).

Ordering rests on daphne: its send never suspends, so a frame handed to a socket is written before the
next one is handed over. An ASGI server whose send can suspend would need a queue per socket here.
"""

import asyncio
import itertools
import logging
import weakref

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

# message id -> this process's sockets watching it (a socket leaves on disconnect or when `done` passes)
WATCHERS: dict[int, set] = {}
# message id -> the subscription of this process's relay channel to the group of a run living elsewhere,
# kept until its `done` passes (even with no socket left: `done` is what ends it)
_subscriptions: dict[int, asyncio.Task] = {}
# message id -> an unsubscription in flight, which a new subscription waits for (else it could undo it)
_leaving: dict[int, asyncio.Task] = {}
# this process's sockets by id: a snapshot from another process is addressed to (process channel, socket id)
_sockets: "weakref.WeakValueDictionary[int, object]" = weakref.WeakValueDictionary()
_socket_ids = itertools.count(1)
# event loop -> (its listener task, the future of the listener's channel name)
_listeners: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[asyncio.Task, asyncio.Future]]" = (
    weakref.WeakKeyDictionary())


def group_name(message_id: int) -> str:
    """The processes watching a message: a run publishes its frames here when there are several."""
    return f"message.{message_id}"


def register(socket) -> int:
    socket_id = next(_socket_ids)
    _sockets[socket_id] = socket
    return socket_id


def socket(socket_id: int):
    return _sockets.get(socket_id)


def unregister(socket_id: int) -> None:
    _sockets.pop(socket_id, None)


async def watch(socket, message_id: int, *, remote: bool) -> None:
    """Deliver the message's frames to this socket from now on; `remote` when its run lives in another
    process. Returns once frames published from now on will arrive."""
    WATCHERS.setdefault(message_id, set()).add(socket)
    if remote:
        subscription = _subscriptions.get(message_id)
        if subscription is None:
            subscription = _subscriptions[message_id] = asyncio.ensure_future(_subscribe(message_id))
        try:
            await asyncio.shield(subscription)
        except Exception:
            if _subscriptions.get(message_id) is subscription:
                del _subscriptions[message_id]  # the next watch tries again
            unwatch(socket, [message_id])
            raise


def unwatch(socket, message_ids) -> None:
    for message_id in message_ids:
        watchers = WATCHERS.get(message_id)
        if watchers is not None:
            watchers.discard(socket)
            if not watchers and message_id not in _subscriptions:
                del WATCHERS[message_id]


async def publish(message_id: int, frame: dict, *, everywhere: bool) -> None:
    """From a run: deliver to this process's sockets, and with `everywhere` to other processes too."""
    await deliver(message_id, frame)
    if everywhere:
        try:
            await get_channel_layer().group_send(group_name(message_id), {"type": "relay.frame", "frame": frame})
        except Exception:
            # Redis being away must not end the answer: the other processes' sockets see the gap in
            # `seq` (or miss the `done`, which settle_finished brings) and catch up.
            log.warning("Publishing a frame of message %s to other processes failed", message_id, exc_info=True)


async def deliver(message_id: int, frame: dict) -> None:
    for socket in list(WATCHERS.get(message_id, ())):
        try:
            await socket.deliver(frame)
        except Exception:
            # One broken socket must not cost the run or the other sockets their frames.
            log.exception("Delivering a frame of message %s failed", message_id)
    if frame["type"] == "done":
        _drop(message_id)


def _drop(message_id: int) -> None:
    WATCHERS.pop(message_id, None)
    subscription = _subscriptions.pop(message_id, None)
    if subscription is not None:
        leaving = _leaving[message_id] = asyncio.ensure_future(_unsubscribe(message_id, subscription))
        leaving.add_done_callback(lambda task: _leaving.pop(message_id, None) if _leaving.get(message_id) is task else None)


async def _subscribe(message_id: int) -> None:
    leaving = _leaving.get(message_id)
    if leaving is not None:
        await asyncio.gather(leaving, return_exceptions=True)
    await get_channel_layer().group_add(group_name(message_id), await _listening_channel())


async def _unsubscribe(message_id: int, subscription: asyncio.Task) -> None:
    try:
        await subscription
        await get_channel_layer().group_discard(group_name(message_id), await _listening_channel())
    except Exception:
        log.exception("Leaving the group of message %s failed", message_id)


async def _listening_channel() -> str:
    """This process's one channel for frames of runs living elsewhere, with its listener: the task is
    registered before its first await, so subscriptions racing each other share one channel."""
    loop = asyncio.get_running_loop()
    listening = _listeners.get(loop)
    if listening is None or listening[0].done():
        channel_ready = loop.create_future()
        listening = _listeners[loop] = (loop.create_task(_listen(channel_ready), name="relay-listener"), channel_ready)
    return await asyncio.shield(listening[1])


async def _listen(channel_ready: asyncio.Future) -> None:
    layer = get_channel_layer()
    try:
        channel = await layer.new_channel("relay.")
    except Exception as error:
        channel_ready.set_exception(error)
        return
    channel_ready.set_result(channel)
    while True:
        try:
            event = await layer.receive(channel)
            frame = event["frame"]
            await deliver(frame["message"], frame)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Relaying a frame from another process failed")
            await asyncio.sleep(0.5)


async def stop_listening() -> None:
    """End this loop's listener and forget all watchers (tests use one event loop per test)."""
    WATCHERS.clear()
    for task in [*_subscriptions.values(), *_leaving.values()]:
        task.cancel()
    _subscriptions.clear()
    _leaving.clear()
    listening = _listeners.pop(asyncio.get_running_loop(), None)
    if listening is not None:
        for part in listening:
            part.cancel()  # the channel's future too: it never resolves if the listener never got a channel
        await asyncio.gather(*listening, return_exceptions=True)


def remote_watched() -> list[int]:
    """The messages this process subscribed to because a run living elsewhere is watched here."""
    return list(_subscriptions)


async def settle_finished(done_frames: dict[int, dict]) -> None:
    """From the heartbeat check: for answers that ended (in the database) while watched here, deliver
    their `done` (sockets that had it ignore it) and end the subscription."""
    for message_id, frame in done_frames.items():
        if message_id in _subscriptions:
            await deliver(message_id, frame)
