"""What one socket watches: the answers whose frames it is sent, each frame once and in order.

An attach is a snapshot, then the live deltas after it, then `done`: no gap, because the socket watches
the message before the snapshot is taken (frames arriving meanwhile are held), and no duplicate, because
deltas the snapshot holds are dropped. For a run living in another process the snapshot is asked of that
process; a gap in `seq` (Redis pub/sub keeps nothing for a listener that reconnects) is repaired the same
way, and an answer that does not come in time is settled from the database.

A second attach for a message whose snapshot is still on its way (asked of another process, or sent but
not yet written out to a client that is not reading) is coalesced: that snapshot answers it too, instead
of the server holding another copy of the text (issue #12).
"""

import asyncio
import itertools
import logging
from collections.abc import Callable

from channels.db import database_sync_to_async

from chat import relay, runs
from chat.models import Message

log = logging.getLogger(__name__)

# How long to wait for the process running an answer to send its snapshot before asking again.
SNAPSHOT_REPLY_SECONDS = 2.0
SNAPSHOT_TOKENS = itertools.count(1)


class Watcher:
    """One per socket; `send` writes a frame to it and returns the frame's receipt (None if it was not
    sent: chat.socket_limits.SendBuffer.receipt). Its interface: the consumer calls watch, attach and
    close; chat.relay hands it each frame of a watched message (deliver), and chat.runs the snapshot
    another process sent back (snapshot_reply), both finding it by the id relay.register gave it."""

    def __init__(self, user, send):
        self.user = user
        self.send = send
        self.watching: set[int] = set()  # message ids whose frames this socket receives
        self.delivered: dict[int, int] = {}  # message id -> last delta seq this socket has sent
        self.finished: set[int] = set()  # message ids whose `done` this socket has sent
        self.held: dict[int, list[dict]] = {}  # message id -> frames held until its snapshot is sent
        self.snapshot_asked: dict[int, int] = {}  # message id -> the token of the snapshot request awaited
        # message id -> (its `after`, its receipt) of the last snapshot sent; receipt None: asked, not yet come
        self.snapshots_out: dict[int, tuple[int, Callable[[], bool] | None]] = {}
        self.background: set[asyncio.Task] = set()
        self.closed = False
        self.id = relay.register(self)

    def close(self):
        """The socket has gone. Unwatching only stops the relay: a run goes on to the end without it."""
        self.closed = True  # a late snapshot reply must not make it watch again
        relay.unregister(self.id)
        for task in self.background:
            task.cancel()
        relay.unwatch(self, self.watching)

    async def watch(self, message_id: int, *, remote: bool = False):
        """Receive the message's frames; `remote` when its run lives in another process."""
        if self.closed:
            return
        self.watching.add(message_id)
        await relay.watch(self, message_id, remote=remote)

    async def attach(self, message: Message, after: int | None):
        """Send the message's snapshot (only the text after `after`, if given), then its live deltas, then
        its `done`."""
        if self._snapshot_on_its_way(message.pk, after):
            return  # coalesced
        self.finished.discard(message.pk)  # every attach ends with its own `done`
        run = runs.find_run(message.pk)
        if run is not None:
            self.held.setdefault(message.pk, [])
            await self.watch(message.pk)
            return await self._send_snapshot(run.snapshot(after), run.done_frame)
        if message.status == Message.Status.STREAMING and await runs.running_elsewhere(message):
            return await self._request_snapshot(message.pk, after)
        await self._attach_from_database(message)

    def _snapshot_on_its_way(self, message_id: int, after: int | None) -> bool:
        """Whether a snapshot holding all the text after `after` is still on its way to the client."""
        out = self.snapshots_out.get(message_id)
        if out is None:
            return False
        sent_after, receipt = out
        arrived = receipt() if receipt is not None else message_id not in self.snapshot_asked
        if arrived:
            del self.snapshots_out[message_id]
            return False
        return sent_after <= (after or 0)

    async def _attach_from_database(self, message: Message):
        if message.status == Message.Status.STREAMING:
            message = await database_sync_to_async(runs.settle_orphan)(message)
        await self._send_snapshot(message.snapshot_frame(), message.done_frame() if message.is_finished else None)

    async def _request_snapshot(self, message_id: int, after: int | None):
        """Ask the process running the answer for its snapshot; frames that arrive first are held. If no
        answer comes (the request or Redis failed, the process is gone), _snapshot_overdue settles it."""
        self.held.setdefault(message_id, [])
        # Only the reply to the latest request counts: a late one would take `delivered` backwards.
        token = self.snapshot_asked[message_id] = next(SNAPSHOT_TOKENS)
        self.snapshots_out[message_id] = (after or 0, None)
        self._in_background(self._snapshot_overdue(message_id, after, token))
        await self.watch(message_id, remote=True)
        await runs.ask_for_snapshot(message_id, after, watcher_id=self.id, token=token)

    def _in_background(self, coroutine):
        """Run a step of this socket's own beside its frames; cancelled when the socket goes."""
        if self.closed:
            coroutine.close()
            return
        task = asyncio.get_running_loop().create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task):
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("A background step of a socket of user %s failed", self.user.pk, exc_info=task.exception())

    async def _snapshot_overdue(self, message_id: int, after: int | None, token: int):
        await asyncio.sleep(SNAPSHOT_REPLY_SECONDS)
        if self.snapshot_asked.get(message_id) != token:
            return  # answered, or asked again (with a timer of its own)
        message = await self._owned_message(message_id)
        streaming_elsewhere = message.status == Message.Status.STREAMING and await runs.running_elsewhere(message)
        if self.snapshot_asked.get(message_id) != token:
            return  # answered meanwhile
        if streaming_elsewhere:
            return await self._request_snapshot(message_id, after)  # its process is alive, only slow
        await self._attach_from_database(message)

    def snapshot_reply(self, event: dict):
        """The running process's answer to a snapshot request (see chat.runs.control), handled in this
        socket's background: settling from the database must not hold up the control channel."""
        self._in_background(self._apply_snapshot_reply(event))

    async def _apply_snapshot_reply(self, event: dict):
        message_id = event["message"]
        if self.snapshot_asked.get(message_id) != event.get("token"):
            return  # a reply to an earlier request, or one already answered from the database
        if event["frame"] is None:  # the run ended meanwhile
            del self.snapshot_asked[message_id]
            return await self._attach_from_database(await self._owned_message(message_id))
        await self._send_snapshot(event["frame"], event["done"])

    async def _send_snapshot(self, snapshot: dict, done: dict | None):
        """Send a snapshot (and `done` if the answer has ended), then the frames held while it was taken."""
        message_id = snapshot["message"]
        self.snapshot_asked.pop(message_id, None)  # whatever was asked is answered by this
        self.delivered[message_id] = snapshot["seq"]
        receipt = await self.send(snapshot)
        if receipt is not None:
            self.snapshots_out[message_id] = (snapshot["after"], receipt)
        if done is not None:
            await self._send_done(done)
        for frame in self.held.pop(message_id, ()):
            await self.deliver(frame)  # held again if a gap among them starts a new request

    async def deliver(self, frame: dict):
        """A frame of a watched message, from chat.relay."""
        held = self.held.get(frame["message"])
        if held is not None:
            held.append(frame)
        else:
            await self._send_frame(frame)

    async def _send_frame(self, frame: dict):
        message_id = frame["message"]
        if frame["type"] == "delta":
            last = self.delivered.get(message_id)
            if last is not None and frame["seq"] <= last:
                return  # already sent, inside a snapshot
            if last is not None and frame["seq"] > last + 1 and runs.find_run(message_id) is None:
                # Frames from another process went missing (Redis pub/sub keeps nothing for a listener
                # that reconnects): ask for the text after the last one sent, and hold until it comes.
                log.warning("Deltas %s..%s of message %s went missing; asking for them", last + 1, frame["seq"] - 1, message_id)
                self.held[message_id] = [frame]
                self._in_background(self._request_snapshot(message_id, last))
                return
            self.delivered[message_id] = frame["seq"]
        elif frame["type"] == "done":
            return await self._send_done(frame)
        await self.send(frame)

    async def _send_done(self, frame: dict):
        # A `done` can reach a socket twice (published while it attached); the page sees it once.
        if frame["message"] not in self.finished:
            self.finished.add(frame["message"])
            await self.send(frame)

    async def _owned_message(self, message_id: int) -> Message:
        return await database_sync_to_async(Message.objects.owned)(self.user, message_id)
