"""The chat WebSocket: authenticate, decode and validate each frame, authorise its ids, and hand it on:
a prompt to the database and a new run, a stop to the run, an attach to the socket's Watcher."""

import logging

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from chat import runs
from chat.frames import FrameError, decode, parse_after, parse_message_id, parse_prompt, request_id_of
from chat.models import Message
from chat.providers import ERROR_MESSAGES
from chat.watching import Watcher

log = logging.getLogger(__name__)


class ChatConsumer(AsyncJsonWebsocketConsumer):
    # A run's frames reach this socket by a plain call from chat.relay to its Watcher, so the socket needs
    # no channel on a channel layer (with Redis that would be one subscription per socket).
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
        self.watcher = Watcher(self.user, self.send_json)
        await self.accept()
        runs.ensure_sweeper()

    async def disconnect(self, code):
        if hasattr(self, "watcher"):
            self.watcher.close()

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
        message, request = await database_sync_to_async(Message.objects.start_turn)(
            user=self.user, prompt=prompt, client_ip=self.client_ip(), user_agent=self.header("user-agent"))
        if request is None:  # a resent prompt (the client lost its socket before `started`): no second turn
            await self.send_started(prompt.request_id, message)
            return await self.watcher.attach(message, None)
        run = runs.create_run(message, request)
        try:
            await runs.announce(run)
            await self.watcher.watch(message.pk)
            await self.send_started(prompt.request_id, message)
        finally:
            run.start()  # whatever happened to this socket, the saved prompt gets its answer

    async def on_stop(self, frame: dict):
        message = await self.owned_message(parse_message_id(frame))
        run = runs.find_run(message.pk)
        if run is not None:
            await self.watcher.watch(message.pk)  # so this socket gets the `done` even if it did not start the run
            run.stop()
        elif message.is_finished:
            await self.send_json(message.done_frame())  # stopping a finished message just confirms its end
        elif await runs.running_elsewhere(message):
            await self.watcher.watch(message.pk, remote=True)  # its process stops it and publishes `done`
            await runs.ask_to_stop(message.pk)
        else:
            await self.watcher.attach(message, None)  # a run with no live process: settle and report it

    async def on_attach(self, frame: dict):
        message_id, after = parse_message_id(frame), parse_after(frame)
        await self.watcher.attach(await self.owned_message(message_id), after)

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

    async def owned_message(self, message_id: int) -> Message:
        return await database_sync_to_async(Message.objects.owned)(self.user, message_id)

    def client_ip(self) -> str | None:
        # daphne --proxy-headers puts the X-Forwarded-For address here when behind a proxy.
        client = self.scope.get("client") or (None,)
        return client[0]

    def header(self, name: str) -> str:
        wanted = name.encode()
        return next((value.decode("latin-1") for key, value in self.scope.get("headers", []) if key == wanted), "")
