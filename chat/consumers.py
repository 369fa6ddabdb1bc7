"""The chat WebSocket: authenticate, validate, start, stop or attach to a run, relay its frames."""

import asyncio
import logging
from datetime import timedelta

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat import catalog, runs
from chat.frames import FrameError, PromptFrame, decode, parse_after, parse_message_id, parse_prompt, request_id_of
from chat.models import Conversation, Message
from chat.params import ParamError, validate_params
from chat.providers import ERROR_MESSAGES, GenerationRequest

log = logging.getLogger(__name__)

NOT_FOUND = "No such message or conversation."
# How long to wait for the process running an answer to send its snapshot before asking again.
SNAPSHOT_REPLY_SECONDS = 2.0


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.user = self.scope["user"]
        if not self.user.is_authenticated:
            await self.close()  # before accept(): the handshake is refused
            return
        self.watched_groups: set[str] = set()
        self.delivered: dict[int, int] = {}  # message id -> last delta seq this socket has sent
        self.finished: set[int] = set()  # message ids whose `done` this socket has sent
        self.awaiting_snapshot: dict[int, list[dict]] = {}  # message id -> frames held until its snapshot
        self.snapshot_timers: set[asyncio.Task] = set()
        await self.accept()
        runs.ensure_sweeper()

    async def disconnect(self, code):
        # Leaving the groups only stops the relay: a run goes on to the end without its socket.
        for timer in getattr(self, "snapshot_timers", ()):
            timer.cancel()
        for group in getattr(self, "watched_groups", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

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
        # A resent prompt (the client lost its socket before `started`) creates no second turn.
        existing = await self.message_for_request(prompt.request_id)
        if existing is not None:
            return await self.answer_resent_prompt(prompt.request_id, existing)
        model = await database_sync_to_async(catalog.find_model)(prompt.model_key)
        if model is None:
            if prompt.model_key is None:
                raise FrameError("no_model", catalog.NO_MODEL_MESSAGE, prompt.request_id)
            raise FrameError("unknown_model", f"Unknown model '{prompt.model_key}'.", prompt.request_id)
        params = self.checked_params(prompt, model)
        await self.check_limits(prompt.request_id)
        message, context = await self.save_prompt(prompt, model, params)
        if context is None:  # the same id raced in from another socket
            return await self.answer_resent_prompt(prompt.request_id, message)

        # `params` is saved with the message as the user set it (system prompt included); the request
        # carries the system prompt separately.
        request = GenerationRequest(
            model_id=model.model_id,
            messages=context,
            params={name: value for name, value in params.items() if name != "system"},
            system=params.get("system") or model.system,
            accepts_top_k=model.accepts_top_k,
        )
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
            await self.watch(message.pk)  # its process stops it and publishes `done` to the group
            await runs.control_layer().group_send(runs.control_group(message.pk), {"type": "run.stop", "message": message.pk})
        else:
            await self.attach(message, None)  # a run with no live process: settle and report it

    async def on_attach(self, frame: dict):
        message_id, after = parse_message_id(frame), parse_after(frame)
        await self.attach(await self.owned_message(message_id), after)

    async def attach(self, message: Message, after: int | None):
        """Snapshot, then live deltas after it, then `done`: no gap, because the group is joined before
        the snapshot is taken, and no duplicate, because deltas the snapshot holds are dropped."""
        await self.watch(message.pk)
        self.finished.discard(message.pk)  # every attach ends with its own `done`
        run = runs.find_run(message.pk)
        if run is not None:
            snapshot = run.snapshot(after)
            self.delivered[message.pk] = snapshot["seq"]
            await self.send_json(snapshot)
            if run.done_frame is not None:
                await self.send_done(run.done_frame)
            return
        if message.status == Message.Status.STREAMING and runs.multi_process() and not await self.is_orphaned(message):
            return await self.request_snapshot(message.pk, after)
        await self.attach_from_database(message)

    async def attach_from_database(self, message: Message):
        if message.status == Message.Status.STREAMING:
            message = await self.settle_orphan(message)
        self.delivered[message.pk] = message.seq
        await self.send_json(message.snapshot_frame())
        if message.is_finished:
            await self.send_done(message.done_frame())

    async def request_snapshot(self, message_id: int, after: int | None):
        """Ask the process running the answer for its snapshot; frames that arrive first are held."""
        self.awaiting_snapshot.setdefault(message_id, [])
        await runs.control_layer().group_send(
            runs.control_group(message_id),
            {"type": "run.snapshot_request", "message": message_id, "after": after, "reply_to": self.channel_name},
        )
        timer = asyncio.get_running_loop().create_task(self.snapshot_overdue(message_id, after))
        self.snapshot_timers.add(timer)
        timer.add_done_callback(self.snapshot_timers.discard)

    async def snapshot_overdue(self, message_id: int, after: int | None):
        await asyncio.sleep(SNAPSHOT_REPLY_SECONDS)
        if message_id not in self.awaiting_snapshot:
            return
        message = await self.owned_message(message_id)
        if message.status == Message.Status.STREAMING and not await self.is_orphaned(message):
            return await self.request_snapshot(message_id, after)  # its process is alive, only slow
        self.awaiting_snapshot.pop(message_id, None)
        await self.attach_from_database(message)

    async def run_snapshot(self, event):
        """The running process's answer to request_snapshot."""
        message_id = event["message"]
        held = self.awaiting_snapshot.pop(message_id, None)
        if held is None:
            return  # already answered from the database
        if event["frame"] is None:  # the run ended meanwhile
            return await self.attach_from_database(await self.owned_message(message_id))
        self.delivered[message_id] = event["frame"]["seq"]
        await self.send_json(event["frame"])
        if event["done"] is not None:
            await self.send_done(event["done"])
        for frame in held:
            await self.run_frame({"frame": frame})

    async def answer_resent_prompt(self, request_id: str, message: Message):
        await self.send_started(request_id, message)
        await self.attach(message, None)

    async def run_frame(self, event):
        frame = event["frame"]
        message_id = frame["message"]
        if message_id in self.awaiting_snapshot:
            self.awaiting_snapshot[message_id].append(frame)
            return
        if frame["type"] == "delta":
            if frame["seq"] <= self.delivered.get(message_id, 0):
                return  # already sent, inside a snapshot
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

    async def watch(self, message_id: int):
        group = runs.group_name(message_id)
        if group not in self.watched_groups:
            await self.channel_layer.group_add(group, self.channel_name)
            self.watched_groups.add(group)

    @staticmethod
    def checked_params(prompt: PromptFrame, model: catalog.CatalogModel) -> dict:
        try:
            params = validate_params(prompt.params, model.defaults)
        except ParamError as error:
            raise FrameError("invalid_params", str(error), prompt.request_id) from None
        if "top_k" in (prompt.params or {}) and not model.accepts_top_k:
            raise FrameError("invalid_params", f"'top_k' is not supported by {model.label}.", prompt.request_id)
        return {name: value for name, value in params.items() if name != "top_k" or model.accepts_top_k}

    @database_sync_to_async
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
    def save_prompt(self, prompt: PromptFrame, model: catalog.CatalogModel, params: dict):
        """Save the prompt row before any model is called; return it with the context to send
        (or, if another socket saved the same request id first, that message and None)."""
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
        except IntegrityError:
            return Message.objects.get(user=self.user, client_request_id=prompt.request_id), None
        return message, message.context_before(settings.CONTEXT_CHAR_BUDGET)

    def client_ip(self) -> str | None:
        # daphne --proxy-headers puts the X-Forwarded-For address here when behind a proxy.
        client = self.scope.get("client") or (None,)
        return client[0]

    def header(self, name: str) -> str:
        wanted = name.encode()
        return next((value.decode("latin-1") for key, value in self.scope.get("headers", []) if key == wanted), "")

    @database_sync_to_async
    def message_for_request(self, request_id: str) -> Message | None:
        return Message.objects.for_user(self.user).filter(client_request_id=request_id).first()

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
