"""The chat WebSocket: authenticate, validate, start or stop a run, relay its frames. Nothing else."""

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db import IntegrityError, transaction

from chat import catalog, runs
from chat.frames import FrameError, PromptFrame, decode, parse_message_id, parse_prompt, request_id_of
from chat.models import Conversation, Message
from chat.params import ParamError, validate_params
from chat.providers import ERROR_MESSAGES, GenerationRequest

log = logging.getLogger(__name__)

NOT_FOUND = "No such message or conversation."


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.user = self.scope["user"]
        if not self.user.is_authenticated:
            await self.close()  # before accept(): the handshake is refused
            return
        self.watched_groups: set[str] = set()
        await self.accept()

    async def disconnect(self, code):
        # Leaving the groups only stops the relay: a run goes on to the end without its socket.
        for group in getattr(self, "watched_groups", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        try:
            frame = decode(text_data, bytes_data)
            frame_type = frame.get("type")
            handler = {"prompt": self.on_prompt, "stop": self.on_stop}.get(frame_type) if isinstance(frame_type, str) else None
            if handler is None:
                raise FrameError("unknown_type", "Unknown frame type. Use 'prompt' or 'stop'.", request_id_of(frame))
            await handler(frame)
        except FrameError as error:
            await self.send_json(error.as_frame())
        except Exception:
            # A bug must not cost the user the socket: log it, answer, and keep listening.
            log.exception("Frame handling failed for user %s", self.user.pk)
            await self.send_json(FrameError("internal", ERROR_MESSAGES["internal"]).as_frame())

    async def on_prompt(self, frame: dict):
        prompt = parse_prompt(frame)
        model = await database_sync_to_async(catalog.find_model)(prompt.model_key)
        if model is None:
            if prompt.model_key is None:
                raise FrameError("no_model", catalog.NO_MODEL_MESSAGE, prompt.request_id)
            raise FrameError("unknown_model", f"Unknown model '{prompt.model_key}'.", prompt.request_id)
        try:
            params = validate_params(prompt.params, model.defaults)
        except ParamError as error:
            raise FrameError("invalid_params", str(error), prompt.request_id) from None
        if "top_k" in (prompt.params or {}) and not model.accepts_top_k:
            raise FrameError("invalid_params", f"'top_k' is not supported by {model.label}.", prompt.request_id)
        params = {name: value for name, value in params.items() if name != "top_k" or model.accepts_top_k}
        message, context = await self.save_prompt(prompt, model, params)
        await self.watch(message.pk)
        await self.send_json(
            {
                "type": "started",
                "id": prompt.request_id,
                "message": message.pk,
                "conversation": message.conversation_id,
                "model": model.key,
            }
        )
        system = params.pop("system", None) or model.system
        request = GenerationRequest(
            model_id=model.model_id, messages=context, params=params, system=system, accepts_top_k=model.accepts_top_k
        )
        runs.start_run(message, request)

    async def on_stop(self, frame: dict):
        message_id = parse_message_id(frame)
        message = await self.owned_message(message_id)
        if message is None:
            raise FrameError("not_found", NOT_FOUND, None)
        run = runs.find_run(message_id)
        if run is not None:
            await self.watch(message_id)  # so this socket gets the `done` even if it did not start the run
            run.stop()
        elif message.is_finished:
            await self.send_json(message.done_frame())  # stopping a finished message just confirms its end

    async def run_frame(self, event):
        await self.send_json(event["frame"])

    async def watch(self, message_id: int):
        group = runs.group_name(message_id)
        if group not in self.watched_groups:
            await self.channel_layer.group_add(group, self.channel_name)
            self.watched_groups.add(group)

    @database_sync_to_async
    def save_prompt(self, prompt: PromptFrame, model: catalog.CatalogModel, params: dict):
        """Save the prompt row before any model is called; return it with the context to send."""
        try:
            with transaction.atomic():
                if prompt.conversation_id is None:
                    conversation = Conversation.objects.create(user=self.user, title=Conversation.title_from(prompt.text))
                else:
                    conversation = Conversation.objects.filter(pk=prompt.conversation_id, user=self.user).first()
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
                )
        except IntegrityError:
            raise FrameError(
                "duplicate_id", "A prompt with this id was already sent. Use a new id.", prompt.request_id
            ) from None
        return message, message.context_before(settings.CONTEXT_CHAR_BUDGET)

    @database_sync_to_async
    def owned_message(self, message_id: int) -> Message | None:
        # Another user's message and a missing one look the same: ids cannot be probed.
        return Message.objects.for_user(self.user).filter(pk=message_id).first()
