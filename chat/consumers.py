"""The chat WebSocket: authenticate, validate, start, stop or attach to a run, relay its frames."""

import asyncio
import itertools
import logging
from datetime import timedelta

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.consumer import get_handler_name
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat import catalog, relay, runs
from chat.frames import FrameError, PromptFrame, decode, parse_after, parse_message_id, parse_prompt, request_id_of
from chat.models import Conversation, Message
from chat.params import ParamError, validate_params
from chat.providers import ERROR_MESSAGES, GenerationRequest

log = logging.getLogger(__name__)

NOT_FOUND = "No such message or conversation."
# How long to wait for the process running an answer to send its snapshot before asking again.
SNAPSHOT_REPLY_SECONDS = 2.0
SNAPSHOT_TOKENS = itertools.count(1)


class ChatConsumer(AsyncJsonWebsocketConsumer):
    # A run's frames reach this socket by a plain call from chat.relay, so the socket needs no channel on
    # a channel layer (with Redis that would be one subscription per socket).
    channel_layer_alias = None

    async def dispatch(self, message):
        """Channels' dispatch first hops to the database thread to close stale connections, before every
        handler; every database call here already does that in its own hop (database_sync_to_async), so
        the extra hop only queued each frame behind the process's other database work."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        self.user = self.scope["user"]
        if not self.user.is_authenticated:
            await self.close()  # before accept(): the handshake is refused
            return
        self.socket_id = relay.register(self)
        self.watching: set[int] = set()  # message ids whose frames this socket receives
        self.delivered: dict[int, int] = {}  # message id -> last delta seq this socket has sent
        self.finished: set[int] = set()  # message ids whose `done` this socket has sent
        self.held: dict[int, list[dict]] = {}  # message id -> frames held until its snapshot is sent
        self.snapshot_asked: dict[int, int] = {}  # message id -> the token of the snapshot request awaited
        self.background: set[asyncio.Task] = set()
        self.closed = False
        await self.accept()
        runs.ensure_sweeper()

    async def disconnect(self, code):
        # Unwatching only stops the relay: a run goes on to the end without its socket.
        self.closed = True  # a late snapshot reply must not make it watch again
        if hasattr(self, "socket_id"):
            relay.unregister(self.socket_id)
        for task in getattr(self, "background", ()):
            task.cancel()
        relay.unwatch(self, getattr(self, "watching", ()))

    async def receive(self, text_data=None, bytes_data=None):
        try:
            frame = decode(text_data, bytes_data)
            handlers = {"prompt": self.on_prompt, "stop": self.on_stop, "attach": self.on_attach}
            frame_type = frame.get("type")
            handler = handlers.get(frame_type) if isinstance(frame_type, str) else None
            if handler is None:
                raise FrameError("unknown_type", "Unknown frame type. Use 'prompt', 'stop' or 'attach'.", request_id_of(frame))
            await handler(frame)
        except FrameError as error:
            await self.send_json(error.as_frame())
        except Exception:
            # A bug must not cost the user the socket: log it, answer, and keep listening.
            log.exception("Frame handling failed for user %s", self.user.pk)
            await self.send_json(FrameError("internal", ERROR_MESSAGES["internal"]).as_frame())

    async def on_prompt(self, frame: dict):
        prompt = parse_prompt(frame)
        message, request = await self.save_prompt(prompt)
        if request is None:  # a resent prompt (the client lost its socket before `started`): no second turn
            return await self.answer_resent_prompt(prompt.request_id, message)
        run = runs.create_run(message, request)
        try:
            await runs.announce(run)
            await self.watch(message.pk)
            await self.send_started(prompt.request_id, message)
        finally:
            run.start()  # whatever happened to this socket, the saved prompt gets its answer

    async def on_stop(self, frame: dict):
        message = await self.owned_message(parse_message_id(frame))
        run = runs.find_run(message.pk)
        if run is not None:
            await self.watch(message.pk)  # so this socket gets the `done` even if it did not start the run
            run.stop()
        elif message.is_finished:
            await self.send_json(message.done_frame())  # stopping a finished message just confirms its end
        elif runs.multi_process() and not await self.is_orphaned(message):
            await self.watch(message.pk, remote=True)  # its process stops it and publishes `done`
            await runs.control_layer().group_send(runs.control_group(message.pk), {"type": "run.stop", "message": message.pk})
        else:
            await self.attach(message, None)  # a run with no live process: settle and report it

    async def on_attach(self, frame: dict):
        message_id, after = parse_message_id(frame), parse_after(frame)
        await self.attach(await self.owned_message(message_id), after)

    async def attach(self, message: Message, after: int | None):
        """Snapshot, then live deltas after it, then `done`: no gap, because the socket watches the message
        before the snapshot is taken (frames arriving meanwhile are held), and no duplicate, because
        deltas the snapshot holds are dropped."""
        self.finished.discard(message.pk)  # every attach ends with its own `done`
        run = runs.find_run(message.pk)
        if run is not None:
            self.held.setdefault(message.pk, [])
            await self.watch(message.pk)
            return await self.send_snapshot(run.snapshot(after), run.done_frame)
        if message.status == Message.Status.STREAMING and runs.multi_process() and not await self.is_orphaned(message):
            return await self.request_snapshot(message.pk, after)
        await self.attach_from_database(message)

    async def attach_from_database(self, message: Message):
        if message.status == Message.Status.STREAMING:
            message = await self.settle_orphan(message)
        await self.send_snapshot(message.snapshot_frame(), message.done_frame() if message.is_finished else None)

    async def request_snapshot(self, message_id: int, after: int | None):
        """Ask the process running the answer for its snapshot; frames that arrive first are held. If no
        answer comes (the request or Redis failed, the process is gone), snapshot_overdue settles it."""
        self.held.setdefault(message_id, [])
        # Only the reply to the latest request counts: a late one would take `delivered` backwards.
        token = self.snapshot_asked[message_id] = next(SNAPSHOT_TOKENS)
        self.in_background(self.snapshot_overdue(message_id, after, token))
        await self.watch(message_id, remote=True)
        await runs.control_layer().group_send(
            runs.control_group(message_id),
            {"type": "run.snapshot_request", "message": message_id, "after": after,
             "reply_to": await runs.control_channel(), "socket": self.socket_id, "token": token},
        )

    def in_background(self, coroutine):
        """Run a step of this socket's own beside its frames; cancelled when the socket goes."""
        if self.closed:
            coroutine.close()
            return
        task = asyncio.get_running_loop().create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background_done)

    def background_done(self, task: asyncio.Task):
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("A background step of a socket of user %s failed", self.user.pk, exc_info=task.exception())

    async def snapshot_overdue(self, message_id: int, after: int | None, token: int):
        await asyncio.sleep(SNAPSHOT_REPLY_SECONDS)
        if self.snapshot_asked.get(message_id) != token:
            return  # answered, or asked again (with a timer of its own)
        message = await self.owned_message(message_id)
        streaming_elsewhere = message.status == Message.Status.STREAMING and not await self.is_orphaned(message)
        if self.snapshot_asked.get(message_id) != token:
            return  # answered meanwhile
        if streaming_elsewhere:
            return await self.request_snapshot(message_id, after)  # its process is alive, only slow
        await self.attach_from_database(message)

    async def run_snapshot(self, event):
        """The running process's answer to request_snapshot (see chat.runs.answer_control)."""
        message_id = event["message"]
        if self.snapshot_asked.get(message_id) != event.get("token"):
            return  # a reply to an earlier request, or one already answered from the database
        if event["frame"] is None:  # the run ended meanwhile
            del self.snapshot_asked[message_id]
            return await self.attach_from_database(await self.owned_message(message_id))
        await self.send_snapshot(event["frame"], event["done"])

    async def send_snapshot(self, snapshot: dict, done: dict | None):
        """Send a snapshot (and `done` if the answer has ended), then the frames held while it was taken."""
        message_id = snapshot["message"]
        self.snapshot_asked.pop(message_id, None)  # whatever was asked is answered by this
        self.delivered[message_id] = snapshot["seq"]
        await self.send_json(snapshot)
        if done is not None:
            await self.send_done(done)
        for frame in self.held.pop(message_id, ()):
            await self.deliver(frame)  # held again if a gap among them starts a new request

    async def answer_resent_prompt(self, request_id: str, message: Message):
        await self.send_started(request_id, message)
        await self.attach(message, None)

    async def deliver(self, frame: dict):
        """A frame of a watched message, from chat.relay."""
        held = self.held.get(frame["message"])
        if held is not None:
            held.append(frame)
        else:
            await self.send_frame(frame)

    async def send_frame(self, frame: dict):
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
                self.in_background(self.request_snapshot(message_id, last))
                return
            self.delivered[message_id] = frame["seq"]
        elif frame["type"] == "done":
            return await self.send_done(frame)
        await self.send_json(frame)

    async def send_started(self, request_id: str, message: Message):
        await self.send_json(
            {
                "type": "started",
                "id": request_id,
                "message": message.pk,
                "conversation": message.conversation_id,
                "model": message.model_key,
            }
        )

    async def send_done(self, frame: dict):
        # A `done` can reach a socket twice (published while it attached); the page sees it once.
        if frame["message"] not in self.finished:
            self.finished.add(frame["message"])
            await self.send_json(frame)

    async def watch(self, message_id: int, *, remote: bool = False):
        """Receive the message's frames; `remote` when its run lives in another process."""
        if self.closed:
            return
        self.watching.add(message_id)
        await relay.watch(self, message_id, remote=remote)

    @staticmethod
    def checked_params(prompt: PromptFrame, model: catalog.CatalogModel) -> dict:
        try:
            params = validate_params(prompt.params, model.defaults)
        except ParamError as error:
            raise FrameError("invalid_params", str(error), prompt.request_id) from None
        if "top_k" in (prompt.params or {}) and not model.accepts_top_k:
            raise FrameError("invalid_params", f"'top_k' is not supported by {model.label}.", prompt.request_id)
        return {name: value for name, value in params.items() if name != "top_k" or model.accepts_top_k}

    def check_limits(self, request_id: str):
        """Per-user limits, counted in the database so they hold across processes."""
        mine = Message.objects.for_user(self.user)
        running = mine.live(runs.stale_before()).count()
        if running >= settings.MAX_CONCURRENT_STREAMS:
            raise FrameError(
                "too_many_streams",
                f"You already have {running} answers streaming. Wait for one to finish, or stop one.",
                request_id,
            )
        window_start = timezone.now() - timedelta(minutes=1)
        recent = list(mine.filter(created__gte=window_start).order_by("created").values_list("created", flat=True))
        if len(recent) >= settings.PROMPTS_PER_MINUTE:
            wait = max(1, round((recent[0] - window_start).total_seconds()))
            raise FrameError(
                "rate_limited",
                f"You have sent {len(recent)} prompts in the last minute. Please wait {wait} seconds.",
                request_id,
            )

    @database_sync_to_async
    def save_prompt(self, prompt: PromptFrame) -> tuple[Message, GenerationRequest | None]:
        """Everything a prompt needs from the database, in one trip to the database thread: save the prompt
        row before any model is called and return it with the request to send, or for a resent request id
        (the client lost its socket before `started`) the message saved the first time and None."""
        existing = Message.objects.for_user(self.user).filter(client_request_id=prompt.request_id).first()
        if existing is not None:
            return existing, None
        model = catalog.find_model(prompt.model_key)
        if model is None:
            if prompt.model_key is None:
                raise FrameError("no_model", catalog.NO_MODEL_MESSAGE, prompt.request_id)
            raise FrameError("unknown_model", f"Unknown model '{prompt.model_key}'.", prompt.request_id)
        params = self.checked_params(prompt, model)
        self.check_limits(prompt.request_id)
        try:
            with transaction.atomic():
                if prompt.conversation_id is None:
                    conversation = Conversation.objects.create(user=self.user, title=Conversation.title_from(prompt.text))
                else:
                    conversation = Conversation.objects.visible_to(self.user).filter(pk=prompt.conversation_id).first()
                    if conversation is None:
                        raise FrameError("not_found", NOT_FOUND, prompt.request_id)
                message = Message.objects.create(
                    conversation=conversation,
                    user=self.user,
                    prompt=prompt.text,
                    model_key=model.key,
                    model_id=model.model_id,
                    provider=model.provider,
                    params=params,
                    client_request_id=prompt.request_id,
                    heartbeat_at=timezone.now(),
                    client_ip=self.client_ip(),
                    user_agent=self.header("user-agent")[:500],
                )
        except IntegrityError:  # the same request id raced in from another socket
            return Message.objects.get(user=self.user, client_request_id=prompt.request_id), None
        # `params` is saved with the message as the user set it (system prompt included); the request
        # carries the system prompt separately.
        return message, GenerationRequest(
            model_id=model.model_id,
            messages=message.context_before(settings.CONTEXT_CHAR_BUDGET),
            params={name: value for name, value in params.items() if name != "system"},
            system=params.get("system") or model.system,
            accepts_top_k=model.accepts_top_k,
        )

    def client_ip(self) -> str | None:
        # daphne --proxy-headers puts the X-Forwarded-For address here when behind a proxy.
        client = self.scope.get("client") or (None,)
        return client[0]

    def header(self, name: str) -> str:
        wanted = name.encode()
        return next((value.decode("latin-1") for key, value in self.scope.get("headers", []) if key == wanted), "")

    @database_sync_to_async
    def owned_message(self, message_id: int) -> Message:
        # Another user's message and a missing one look the same: ids cannot be probed.
        message = Message.objects.for_user(self.user).filter(pk=message_id).first()
        if message is None:
            raise FrameError("not_found", NOT_FOUND)
        return message

    @database_sync_to_async
    def is_orphaned(self, message: Message) -> bool:
        return Message.objects.filter(pk=message.pk).orphaned(runs.stale_before()).exists()

    @database_sync_to_async
    def settle_orphan(self, message: Message) -> Message:
        """A streaming message with no run in this process. With one process (no Redis) its run is
        gone for sure; with several, it is gone once its heartbeat is stale."""
        runs.orphans_among(Message.objects.filter(pk=message.pk)).mark_interrupted()
        message.refresh_from_db()
        return message
