"""Stop and snapshot requests between processes (with Redis).

Each process listens on one channel of its own and joins the control group of each run it hosts. A
socket in another process sends `run.stop` or `run.snapshot_request` there; a snapshot comes back as
`run.snapshot`, addressed to the asking process's channel and its watcher's id. The same channel gets
`sessions.end` (chat.sessions): the sockets of a session or a user to close.
"""

import functools

import redis.utils
from channels.layers import get_channel_layer
from django.conf import settings

from chat import loop_tasks, relay
from chat.runs.live import find_run

# redis-py looks its own version up in the installed packages' metadata (importlib.metadata: a scan of
# sys.path, about 7 ms) for every connection it opens, on the event loop: the runs of a burst, announced at
# once, opened 21 connections and stopped the loop for 158 ms. The version does not change while we run.
redis.utils.get_lib_version = functools.cache(redis.utils.get_lib_version)


def multi_process() -> bool:
    """With Redis, several processes share the users: a run may live in another one."""
    return bool(settings.REDIS_URL)


def control_group(message_id: int) -> str:
    """The process running a message's answer: stop and snapshot requests from any process go here."""
    return f"run.{message_id}"


def control_layer():
    """A channel layer instance of its own for control requests: channels_redis shares one receive
    loop among the process-local channels of an instance, and a listener that waits forever on it
    starved the consumers' deliveries."""
    return get_channel_layer("control")


async def control_channel() -> str:
    """This process's channel for control requests and replies."""
    return await loop_tasks.listening_channel("run-control", "control", "runs.", answer_control)


async def announce(run) -> None:
    """Make the run reachable from other processes (stop, snapshot) through this process's channel."""
    if multi_process():
        await control_layer().group_add(control_group(run.message.pk), await control_channel())


async def withdraw(message_id: int) -> None:
    """The run has ended: requests about it go nowhere now (an asker settles from the database)."""
    if multi_process():
        await control_layer().group_discard(control_group(message_id), await control_channel())


async def ask_to_stop(message_id: int) -> None:
    """Stop a run living in another process; it publishes its `done`."""
    await control_layer().group_send(control_group(message_id), {"type": "run.stop", "message": message_id})


async def ask_for_snapshot(message_id: int, after: int | None, *, watcher_id: int, token: int) -> None:
    """Ask the process running the answer for its snapshot; the reply goes to the watcher."""
    await control_layer().group_send(
        control_group(message_id),
        {"type": "run.snapshot_request", "message": message_id, "after": after,
         "reply_to": await control_channel(), "socket": watcher_id, "token": token},
    )


async def answer_control(layer, request: dict) -> None:
    run = find_run(request.get("message"))
    if run is not None and request["type"] in ("run.stop", "run.snapshot_request"):
        run.watched_elsewhere = True  # the asker's process is subscribed: publish from now on
    if request["type"] == "run.stop":
        if run is not None:
            run.stop()
    elif request["type"] == "run.snapshot_request":
        # None means "not here any more": the asker falls back to the database at once.
        reply = {"type": "run.snapshot", "message": request["message"], "socket": request["socket"],
                 "token": request.get("token"), "frame": None, "done": None}
        if run is not None:
            reply |= {"frame": run.snapshot(request.get("after")), "done": run.done_frame}
        await layer.send(request["reply_to"], reply)
    elif request["type"] == "run.snapshot":
        watcher = relay.find_watcher(request["socket"])
        if watcher is not None:
            watcher.snapshot_reply(request)
    elif request["type"] == "sessions.end":  # on this channel too: one listener per layer instance
        from chat import sessions  # not at the top: chat.sessions sends through this module

        sessions.end_sockets(session_hash=request.get("session_hash"), user_id=request.get("user_id"))
