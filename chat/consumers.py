"""The chat WebSocket: authenticate, decode and validate each frame, authorise its ids, and hand it on:
a prompt to the database and a new run, a stop to the run, an attach to the socket's Watcher. Each frame
first passes the socket's limits (chat.socket_limits) and, if it starts or touches work, the check that its
session still holds an active user (chat.sessions)."""

import logging
import time

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from chat import intake, runs, sessions
from chat.frames import FrameError, decode, parse_after, parse_message_id, parse_prompt, request_id_of
from chat.models import Message
from chat.providers import ERROR_MESSAGES
from chat.socket_limits import (
    POLICY_VIOLATION, SEND_BUFFER_FULL_CLOSE, SESSION_ENDED, SESSION_ENDED_CLOSE, TOO_MANY_FRAMES, TOO_MANY_FRAMES_CLOSE,
    FrameRate, SendBuffer,
)
from chat.watching import Watcher

log = logging.getLogger(__name__)


class ChatConsumer(AsyncJsonWebsocketConsumer):
    # A run's frames reach this socket by a plain call from chat.relay to its Watcher, so the socket needs
    # no channel on a channel layer (with Redis that would be one subscription per socket).
    channel_layer_alias = None
    ended = False  # set when the server closes the socket: nothing more is sent or processed

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
        self.frame_rate = FrameRate()
        self.send_buffer = SendBuffer(self.scope)
        self.session_check = sessions.SessionCheck(self.scope, self.user, self.end_session)
        self.watcher = Watcher(self.user, self.send_frame)
        await self.accept()
        await self.session_check.watch()
        runs.ensure_sweeper()

    async def disconnect(self, code):
        if hasattr(self, "watcher"):
            self.session_check.unwatch()
            self.watcher.close()

    async def receive(self, text_data=None, bytes_data=None):
        if self.ended:
            return
        if not self.frame_rate.admit():
            return await self.refuse_frame(text_data, bytes_data)
        try:
            frame = decode(text_data, bytes_data)
            handlers = {"prompt": self.on_prompt, "stop": self.on_stop, "attach": self.on_attach}
            frame_type = frame.get("type")
            handler = handlers.get(frame_type) if isinstance(frame_type, str) else None
            if handler is None:
                raise FrameError("unknown_type", "Unknown frame type. Use 'prompt', 'stop' or 'attach'.", request_id_of(frame))
            # A prompt's session check is made in the same trip to the database as its save (chat.intake).
            if frame_type != "prompt" and not await self.session_check.is_live():
                return await self.end_session()
            await handler(frame)
        except FrameError as error:
            await self.send_frame(error.as_frame())
        except Exception:
            # A bug must not cost the user the socket: log it, answer, and keep listening.
            log.exception("Frame handling failed for user %s", self.user.pk)
            await self.send_frame(FrameError("internal", ERROR_MESSAGES["internal"]).as_frame())

    async def refuse_frame(self, text_data, bytes_data):
        """A frame over the socket's rate: not processed (a prompt so refused saved nothing), answered with
        `rate_limited` naming its request if it has one; a socket that keeps on is closed."""
        if self.frame_rate.abusive:
            return await self.end(POLICY_VIOLATION, TOO_MANY_FRAMES_CLOSE)
        try:
            request_id = request_id_of(decode(text_data, bytes_data))
        except FrameError:
            request_id = None
        await self.send_frame(FrameError("rate_limited", TOO_MANY_FRAMES, request_id).as_frame())

    async def send_frame(self, frame: dict):
        """Every frame to this socket goes through here: none once it is ending, and it is closed instead
        when the server already holds more than SOCKET_SEND_BUFFER_BYTES for it. Returns the frame's
        receipt (chat.socket_limits.SendBuffer.receipt), or None if it was not sent."""
        if self.ended:
            return None
        if self.send_buffer.over_cap():
            await self.end(POLICY_VIOLATION, SEND_BUFFER_FULL_CLOSE)
            return None
        await self.send_json(frame)
        return self.send_buffer.receipt()

    async def end_session(self):
        """The socket's session has ended (logout, a deactivated user, a deleted session): say so, close."""
        await self.send_frame(FrameError("unauthenticated", sessions.SESSION_ENDED_DETAIL).as_frame())
        await self.end(SESSION_ENDED, SESSION_ENDED_CLOSE)

    async def end(self, code: int, reason: str):
        """Close the socket from the server's side; its runs go on for their other watchers."""
        if self.ended:
            return
        self.ended = True
        log.log(logging.WARNING if code == POLICY_VIOLATION else logging.INFO,
                "Closing a socket of user %s (%s): %s", self.user.pk, code, reason)
        self.session_check.unwatch()
        if not self.send_buffer.close(code, reason):
            await self.close(code=code, reason=reason)
        self.watcher.close()  # last: it cancels the watcher's own steps, which may be what called this

    async def on_prompt(self, frame: dict):
        prompt = parse_prompt(frame)
        session_due, checked_at = self.session_check.due(), time.monotonic()
        pending = intake.Pending(user=self.user, prompt=prompt, client_ip=self.client_ip(),
                                 user_agent=self.header("user-agent"), session=self.session_check if session_due else None)
        try:
            # Saved in the next batch of this process's prompts (Message.objects.start_turn), with the session check.
            message, request = await intake.intake().start_turn(pending, lambda ahead: self.send_queued(prompt.request_id, ahead))
        except intake.SessionEnded:
            return await self.end_session()
        if session_due:
            self.session_check.held(checked_at)
        if request is None:  # a resent prompt (the client lost its socket before `started`): no second turn
            await self.send_started(prompt.request_id, message)
            return await self.watcher.attach(message, None)
        run = runs.create_run(message, request)
        try:
            await self.watcher.watch(message.pk)
            await self.send_started(prompt.request_id, message)
        finally:
            run.start(pending.model_answered)  # whatever happened to this socket, the saved prompt gets its answer
        # After the start: other processes can reach the run (stop, snapshot) a Redis round trip later, as
        # they could only once it was announced before, but the model is not kept waiting for it.
        run.announce()

    async def on_stop(self, frame: dict):
        message = await self.owned_message(parse_message_id(frame))
        run = runs.find_run(message.pk)
        if run is not None:
            await self.watcher.watch(message.pk)  # so this socket gets the `done` even if it did not start the run
            run.stop()
        elif message.is_finished:
            await self.send_frame(message.done_frame())  # stopping a finished message just confirms its end
        elif await runs.running_elsewhere(message):
            await self.watcher.watch(message.pk, remote=True)  # its process stops it and publishes `done`
            await runs.ask_to_stop(message.pk)
        else:
            await self.watcher.attach(message, None)  # a run with no live process: settle and report it

    async def on_attach(self, frame: dict):
        message_id, after = parse_message_id(frame), parse_after(frame)
        await self.watcher.attach(await self.owned_message(message_id), after)

    async def send_queued(self, request_id: str, ahead: int):
        """The process is saturated: `ahead` prompts wait to be saved before this one (docs/protocol.md)."""
        await self.send_frame({"type": "queued", "id": request_id, "position": ahead})

    async def send_started(self, request_id: str, message: Message):
        await self.send_frame(
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
