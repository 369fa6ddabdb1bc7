"""daphne with the fixes the load benchmark suggests for the app, applied as monkeypatches (no app file edited).

    BENCH_FIXES=dispatch,layer,conn .venv/bin/python bench/load_patched.py -b 127.0.0.1 -p 8000 \
        streamer.asgi:application

Used by bench/load.py for the `sqlite1+fix` and `pg2+fix` setups, to put before/after numbers side by side:

- dispatch: channels' AsyncConsumer.dispatch awaits `aclose_old_connections()` before every handler, i.e.
  one hop to asgiref's single thread-sensitive executor per delta per socket, queued behind every database
  call of the process. `run.frame` touches no database, so ChatConsumer can relay it directly.
- layer: InMemoryChannelLayer._clean_expired scans every channel and every group on each send and receive
  (O(streams) per delta), and group_send makes a task and a deep copy per member. Sweep expired messages
  at most once a second, and put the frame straight into the members' queues (frames are never mutated
  after they are published).
- conn: CONN_MAX_AGE is 0, so every database_sync_to_async call opens and closes a connection; on
  PostgreSQL that is a new backend per checkpoint. Keep connections (CONN_MAX_AGE=60).
- pubsub: with Redis, channels_redis's core layer costs several Redis round trips per delta (a Lua script
  per group_send, a BZPOPMIN loop per receive). Its pub/sub layer costs one PUBLISH per delta (the
  cross-process control channel stays on the core layer).
- direct (one process only): a frame goes from the run to the sockets of this process watching it by a
  plain call, skipping the channel layer's queues, each consumer's receive loop (a task and an
  asyncio.wait per message) and dispatch. A per-socket lock keeps `attach` (snapshot, then live deltas)
  from interleaving with a delta.
- checkpoint: every run writes its own checkpoint every second, one transaction each through the single
  database thread. One task per process writes all live runs' checkpoints in one transaction instead
  (the same rows, the same number of row writes).
"""

import asyncio
import logging
import os
import sys
import time
import weakref
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streamer.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

log = logging.getLogger("bench.load_patched")
FIXES = [name for name in os.environ.get("BENCH_FIXES", "").split(",") if name]


def fix_dispatch():
    from channels.consumer import AsyncConsumer

    from chat.consumers import ChatConsumer

    async def dispatch(self, message):
        if message["type"] == "run.frame":
            return await self.run_frame(message)  # no database here: no executor hop
        return await AsyncConsumer.dispatch(self, message)

    ChatConsumer.dispatch = dispatch


def fix_layer():
    from channels.layers import InMemoryChannelLayer

    clean = InMemoryChannelLayer._clean_expired

    def clean_now_and_then(self):
        now = time.monotonic()
        if now - getattr(self, "_bench_cleaned", 0.0) >= 1.0:
            self._bench_cleaned = now
            clean(self)

    async def group_send(self, group, message):
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        expires = time.time() + self.expiry
        for channel in list(self.groups.get(group, ())):
            queue = self.channels.get(channel)
            if queue is None:
                queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
            try:
                queue.put_nowait((expires, message))
            except asyncio.QueueFull:
                pass  # as the original: a full channel drops the message

    InMemoryChannelLayer._clean_expired = clean_now_and_then
    InMemoryChannelLayer.group_send = group_send


def fix_conn():
    from django.db import connections

    connections.settings["default"]["CONN_MAX_AGE"] = 60  # the dict every thread's connection is made from


def fix_pubsub():
    if settings.REDIS_URL:
        layers = settings.CHANNEL_LAYERS
        layers["default"] = {**layers["default"], "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer"}


def fix_checkpoint():
    from channels.db import database_sync_to_async
    from django.db import transaction
    from django.utils import timezone

    from chat import runs
    from chat.models import Message

    live: set = set()
    writers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = weakref.WeakKeyDictionary()

    def write(batch):
        now = timezone.now()
        with transaction.atomic():
            for pk, text, seq in batch:
                Message.objects.filter(pk=pk, status=Message.Status.STREAMING).update(
                    response=text, seq=seq, heartbeat_at=now)

    async def write_periodically():
        while True:
            await asyncio.sleep(settings.STREAM_CHECKPOINT_SECONDS)
            batch = [(run.message.pk, run.text, run.seq) for run in list(live)]
            if batch:
                try:
                    await database_sync_to_async(write)(batch)
                except Exception:
                    log.exception("Checkpoint batch failed")

    async def checkpoint_periodically(self):
        loop = asyncio.get_running_loop()
        if loop not in writers or writers[loop].done():
            writers[loop] = loop.create_task(write_periodically(), name="checkpoints")
        live.add(self)
        try:
            await loop.create_future()  # until the run ends and cancels this task
        finally:
            live.discard(self)

    runs.Run._checkpoint_periodically = checkpoint_periodically


def fix_direct():
    from chat import runs
    from chat.consumers import ChatConsumer

    if runs.multi_process():
        return  # another process's sockets still need the channel layer
    watchers: dict[str, set] = {}  # group -> the consumers of this process watching it
    watch, disconnect, attach, run_snapshot, run_frame = (
        ChatConsumer.watch, ChatConsumer.disconnect, ChatConsumer.attach, ChatConsumer.run_snapshot, ChatConsumer.run_frame)

    def lock_of(consumer) -> asyncio.Lock:
        # attach (snapshot, then live deltas) must not interleave with a delta handed over directly.
        if not hasattr(consumer, "_bench_lock"):
            consumer._bench_lock = asyncio.Lock()
        return consumer._bench_lock

    async def watch_direct(self, message_id):
        await watch(self, message_id)
        watchers.setdefault(runs.group_name(message_id), set()).add(self)

    async def disconnect_direct(self, code):
        for group in getattr(self, "watched_groups", ()):
            members = watchers.get(group)
            if members is not None:
                members.discard(self)
                if not members:
                    watchers.pop(group, None)
        await disconnect(self, code)

    async def attach_locked(self, message, after):
        async with lock_of(self):
            await attach(self, message, after)

    async def run_snapshot_locked(self, event):
        async with lock_of(self):
            await run_snapshot(self, event)

    async def publish(self, frame):
        for consumer in list(watchers.get(runs.group_name(self.message.pk), ())):
            try:
                async with lock_of(consumer):
                    await run_frame(consumer, {"type": "run.frame", "frame": frame})
            except Exception:
                log.exception("Direct delivery failed")

    ChatConsumer.watch, ChatConsumer.disconnect = watch_direct, disconnect_direct
    ChatConsumer.attach, ChatConsumer.run_snapshot = attach_locked, run_snapshot_locked
    runs.Run._publish = publish


ALL = {"dispatch": fix_dispatch, "direct": fix_direct, "layer": fix_layer, "conn": fix_conn, "pubsub": fix_pubsub,
       "checkpoint": fix_checkpoint}
unknown = set(FIXES) - set(ALL)
if unknown:
    raise SystemExit(f"unknown BENCH_FIXES: {', '.join(sorted(unknown))}")
for name in FIXES:
    ALL[name]()

if __name__ == "__main__":
    from daphne.cli import CommandLineInterface

    CommandLineInterface.entrypoint()
