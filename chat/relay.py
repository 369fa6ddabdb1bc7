"""Hand a run's frames to the sockets watching its message.

Each socket has a Watcher (chat.watching), which registers here and is handed each frame of the
messages it watches by a plain call from the run's task (Watcher.deliver): no channel-layer queue, no
consumer receive loop and no Channels dispatch (which hops to the database thread before every handler).
The load benchmark measured those three as most of the server's CPU per delta (bench/load.py).

With several processes (Redis), a process whose sockets watch a run living elsewhere subscribes to its
message's group on the channel layer once (not once per socket), then asks the run's process for a
snapshot or a stop; from that ask on, the run also publishes each frame to the group
(Run.watched_elsewhere), and the subscribed process hands what arrives to its watchers. When the answer
is done the watchers are dropped: a socket that attaches again watches again. A `done` that never
arrives (pub/sub keeps nothing for a listener that reconnects; the running process died) is delivered
from the database by the process's heartbeat check (settle_finished).

Ordering rests on daphne: its send never suspends, so a frame handed to a socket is written before the
next one is handed over. An ASGI server whose send can suspend would need a queue per socket here.
"""

import asyncio
import itertools
import logging
import weakref

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import get_channel_layer

from chat import loop_tasks

log = logging.getLogger(__name__)

# message id -> this process's watchers of it (one leaves on disconnect or when `done` passes)
WATCHERS: dict[int, set] = {}
# message id -> the subscription of this process's relay channel to the group of a run living elsewhere,
# kept until its `done` passes (even with no socket left: `done` is what ends it)
_subscriptions: dict[int, asyncio.Task] = {}
# message id -> an unsubscription in flight, which a new subscription waits for (else it could undo it)
_leaving: dict[int, asyncio.Task] = {}
# this process's watchers by id: a snapshot from another process is addressed to (process channel, watcher id)
_watchers: "weakref.WeakValueDictionary[int, object]" = weakref.WeakValueDictionary()
_watcher_ids = itertools.count(1)


def group_name(message_id: int) -> str:
    """The processes watching a message: a run publishes its frames here when there are several."""
    return f"message.{message_id}"


def register(watcher) -> int:
    """A socket's watcher, with the id other processes address its snapshots to."""
    watcher_id = next(_watcher_ids)
    _watchers[watcher_id] = watcher
    return watcher_id


def find_watcher(watcher_id: int):
    return _watchers.get(watcher_id)


def unregister(watcher_id: int) -> None:
    _watchers.pop(watcher_id, None)


async def watch(watcher, message_id: int, *, remote: bool) -> None:
    """Deliver the message's frames to this watcher from now on; `remote` when its run lives in another
    process. Returns once frames published from now on will arrive."""
    WATCHERS.setdefault(message_id, set()).add(watcher)
    if remote:
        subscription = _subscriptions.get(message_id)
        if subscription is None:
            subscription = _subscriptions[message_id] = asyncio.ensure_future(_subscribe(message_id))
        try:
            await asyncio.shield(subscription)
        except Exception:
            if _subscriptions.get(message_id) is subscription:
                del _subscriptions[message_id]  # the next watch tries again
            unwatch(watcher, [message_id])
            raise


def unwatch(watcher, message_ids) -> None:
    for message_id in message_ids:
        watchers = WATCHERS.get(message_id)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers and message_id not in _subscriptions:
                del WATCHERS[message_id]


async def publish(message_id: int, frame: dict, *, everywhere: bool) -> None:
    """From a run: deliver to this process's watchers, and with `everywhere` to other processes too."""
    await deliver(message_id, frame)
    if everywhere:
        try:
            await get_channel_layer().group_send(group_name(message_id), {"type": "relay.frame", "frame": frame})
        except Exception:
            # Redis being away must not end the answer: the other processes' sockets see the gap in
            # `seq` (or miss the `done`, which settle_finished brings) and catch up.
            log.warning("Publishing a frame of message %s to other processes failed", message_id, exc_info=True)


async def deliver(message_id: int, frame: dict) -> None:
    for watcher in list(WATCHERS.get(message_id, ())):
        try:
            await watcher.deliver(frame)
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
    """This process's one channel for frames of runs living elsewhere."""
    return await loop_tasks.listening_channel("relay-listener", DEFAULT_CHANNEL_LAYER, "relay.", _relay_from_elsewhere)


async def _relay_from_elsewhere(layer, event: dict) -> None:
    frame = event["frame"]
    await deliver(frame["message"], frame)


def forget_watchers() -> None:
    """Forget all watchers and subscriptions (tests use one event loop per test; chat.loop_tasks ends the
    listener)."""
    WATCHERS.clear()
    for task in [*_subscriptions.values(), *_leaving.values()]:
        task.cancel()
    _subscriptions.clear()
    _leaving.clear()


def remote_watched() -> list[int]:
    """The messages this process subscribed to because a run living elsewhere is watched here."""
    return list(_subscriptions)


async def settle_finished(done_frames: dict[int, dict]) -> None:
    """From the heartbeat check: for answers that ended (in the database) while watched here, deliver
    their `done` (sockets that had it ignore it) and end the subscription."""
    for message_id, frame in done_frames.items():
        if message_id in _subscriptions:
            await deliver(message_id, frame)
