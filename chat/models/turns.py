"""A prompt's database work: save the turn before any model is called, with its limits and parameters
checked, in one trip to the database thread (MessageQuerySet.start_turn calls in here)."""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat import attachment_support
from chat.file_types import DOCUMENT
from chat.frames import MAX_DOCUMENTS_PER_TURN, MAX_IMAGES_PER_TURN, FrameError, PromptFrame
from chat.params import ParamError, validate_params, with_reasoning
from chat.models.attachments import Attachment
from chat.models.conversations import Conversation
from chat.providers import GenerationRequest

NOT_FOUND = "No such message or conversation."
NO_ATTACHMENT = "No such attachment."


def stale_before():
    """A streaming message whose last heartbeat is older than this has lost its run (its process died)."""
    return timezone.now() - timedelta(seconds=settings.STREAM_STALE_SECONDS)


def checked_params(prompt: PromptFrame, model) -> dict:
    """The prompt's parameters over the model's defaults, without `top_k` for a model that takes none, and
    with the reasoning budget decided (see chat.params.with_reasoning)."""
    chosen = prompt.params or {}
    try:
        params = validate_params(chosen, model.defaults)
        if "top_k" in chosen and not model.accepts_top_k:
            raise ParamError("top_k", f"'top_k' is not supported by {model.label}.")
        params = with_reasoning(params, chosen, reasons=model.reasons, default_budget=model.reasoning_budget,
                                max_tokens=settings.DEFAULT_MAX_TOKENS, label=model.label)
    except ParamError as error:
        raise FrameError("invalid_params", str(error), prompt.request_id) from None
    return {name: value for name, value in params.items() if name != "top_k" or model.accepts_top_k}


def generation_request(message, model, params: dict, *, earlier: bool = True, files: bool = True) -> GenerationRequest:
    """What the provider is asked for. `params` is saved with the message as the user set it (system prompt
    and reasoning budget included); the request carries those two separately. `earlier`/`files`: False when
    the conversation is known to have no earlier turns / the turn no files (nothing to read for them)."""
    return GenerationRequest(
        model_id=model.model_id,
        messages=message.context_before(settings.CONTEXT_CHAR_BUDGET, earlier=earlier, files=files),
        params={name: value for name, value in params.items() if name not in ("system", "reasoning_budget")},
        system=params.get("system") or model.system,
        accepts_top_k=model.accepts_top_k,
        reasoning_budget=params.get("reasoning_budget") or None,
        guardrail=model.guardrail,
        performance_latency=model.performance_latency or None,
        service_tier=model.service_tier or None,
        prompt_caching=model.prompt_caching,
        cite_documents=model.cite_documents,
        user_key=str(message.user_id),  # the local model's line serves users in turn
        attachment_context_bytes=settings.ATTACHMENT_CONTEXT_BYTES,
        attachment_formats=model.attachments.images + model.attachments.documents,
        # So Bedrock's invocation logs join our rows; ids fit the service model's pattern for values.
        request_metadata={"user_id": str(message.user_id), "conversation_id": str(message.conversation_id),
                          "message_id": str(message.pk)},
    )


def checked_attachments(user, prompt: PromptFrame, model) -> list[Attachment]:
    """The prompt's attachments, each the user's own (another user's, a removed one and a missing id all
    look the same: not_found), at most Bedrock's 5 documents and 20 images, all of kinds and formats the
    model takes (else unsupported_attachment naming the model): checked before anything is saved or sent."""
    if not prompt.attachments:
        return []
    found = {attachment.pk: attachment for attachment in Attachment.objects.visible_to(user).filter(pk__in=prompt.attachments)}
    if len(found) != len(prompt.attachments):
        raise FrameError("not_found", NO_ATTACHMENT, prompt.request_id)
    attachments = [found[pk] for pk in prompt.attachments]
    documents = sum(attachment.kind == DOCUMENT for attachment in attachments)
    if documents > MAX_DOCUMENTS_PER_TURN or len(attachments) - documents > MAX_IMAGES_PER_TURN:
        raise FrameError("too_many_attachments", f"At most {MAX_DOCUMENTS_PER_TURN} documents and "
                         f"{MAX_IMAGES_PER_TURN} images can go with one prompt.", prompt.request_id)
    refused = attachment_support.refusal(model.label, model.attachments, attachments)
    if refused:
        raise FrameError("unsupported_attachment", refused, prompt.request_id)
    return attachments


def link_attachments(message, attachments: list[Attachment], request_id: str) -> None:
    """Inside start_turn's transaction: an upload not sent yet becomes this message's; one already sent
    with another message (Regenerate, or the same file asked about again) gets a second row sharing its file."""
    if not attachments:
        return
    locked = list(Attachment.objects.select_for_update().filter(pk__in=[attachment.pk for attachment in attachments]))
    if len(locked) != len(attachments):  # removed since it was checked
        raise FrameError("not_found", NO_ATTACHMENT, request_id)
    unsent = [attachment.pk for attachment in locked if attachment.message_id is None]
    Attachment.objects.filter(pk__in=unsent).update(message=message, conversation=message.conversation)
    Attachment.objects.bulk_create([attachment.shared_copy(message) for attachment in locked if attachment.message_id])


class TurnQuerySetMixin:
    """The prompt-time methods of MessageQuerySet."""

    def visible_to(self, user):
        """The user's own messages in conversations they have not deleted (staff see all in admin)."""
        return self.for_user(user).filter(conversation__deleted_at__isnull=True)

    def owned(self, user, message_id: int):
        # Another user's message, one in a conversation they deleted and a missing one look the same: ids
        # cannot be probed, and a deleted conversation stays out of the user's sight.
        message = self.visible_to(user).filter(pk=message_id).first()
        if message is None:
            raise FrameError("not_found", NOT_FOUND)
        return message

    def start_turn(self, *, user, prompt: PromptFrame, client_ip: str | None, user_agent: str, reads=None):
        """Everything a prompt needs from the database, in one trip to the database thread: save the prompt
        row before any model is called and return it with the request to send, or for a resent request id
        (the client lost its socket before `started`) the message saved the first time and None. `reads`:
        what a batch of prompts read once for all of them (chat.models.turn_reads; chat.intake)."""
        from chat import budgets
        from chat.models.turn_reads import BatchReads

        reads = reads or BatchReads([user], [prompt.request_id])
        checked = self.checked_turn(user, prompt, reads)
        if isinstance(checked, self.model):
            return checked, None
        model, params, attachments = checked
        try:
            with transaction.atomic():
                if prompt.conversation_id is None:
                    conversation = Conversation.objects.create(user=user, title=Conversation.title_from(prompt.text))
                else:
                    conversation = Conversation.objects.visible_to(user).filter(pk=prompt.conversation_id).first()
                    if conversation is None:
                        raise FrameError("not_found", NOT_FOUND, prompt.request_id)
                message = self.create(conversation=conversation, **self.message_fields(user, prompt, model, params),
                                      client_ip=client_ip, user_agent=user_agent[:500])
                link_attachments(message, attachments, prompt.request_id)
                # A new conversation has no earlier turns, and without files none to look up.
                request = generation_request(message, model, params, earlier=prompt.conversation_id is not None,
                                             files=bool(attachments))
                budgets.reserve(message, request, params, limits=reads.limits[user.pk])  # refused: nothing above is saved
                message.reserved = bool(reads.limits[user.pk])
        except IntegrityError:  # the same request id raced in from another socket
            return self.get(user=user, client_request_id=prompt.request_id), None
        reads.saved(message)
        return message, request

    def checked_turn(self, user, prompt: PromptFrame, reads):
        """The message saved before for a resent request id, or (model, params, attachments) once the prompt
        passed every check (FrameError if not): nothing is written."""
        from chat import catalog  # not at the top: it reads models from this package

        existing = reads.resent(user, prompt.request_id)
        if existing is not None:
            if existing.conversation.deleted_at is not None:  # resent after its conversation was deleted
                raise FrameError("not_found", NOT_FOUND, prompt.request_id)
            return existing
        group_ids = reads.group_ids(user)  # the default model and the access check
        model = catalog.find_model(prompt.model_key, group_ids)
        if model is None:
            if prompt.model_key is None:
                raise FrameError("no_model", catalog.NO_MODEL_MESSAGE, prompt.request_id)
            raise FrameError("unknown_model", f"Unknown model '{prompt.model_key}'.", prompt.request_id)
        if not model.allows(group_ids):  # nothing saved, nothing sent
            raise FrameError("model_not_allowed", f"You may not use {model.label}: ask staff for access.",
                             prompt.request_id)
        if model.status() == "retired":  # refused like an unknown model: nothing saved, nothing sent
            raise FrameError("model_retired", model.retired_message(), prompt.request_id)
        params = checked_params(prompt, model)
        attachments = checked_attachments(user, prompt, model)
        reads.check_limits(user, prompt.request_id)
        return model, params, attachments

    @staticmethod
    def message_fields(user, prompt: PromptFrame, model, params: dict) -> dict:
        return {"user": user, "prompt": prompt.text, "model_key": model.key, "model_id": model.model_id,
                "provider": model.provider, "params": params, "client_request_id": prompt.request_id,
                "heartbeat_at": timezone.now()}

    def start_new_turns(self, turns: list, reads) -> list:
        """start_turn for prompts that each open a new conversation with no files, from users with no budget
        (turn_reads.BatchReads.plain): the conversations and the messages inserted in one statement each.
        `turns` holds (user, prompt, client_ip, user_agent); returns each one's (message, request) or the
        FrameError it was refused with. Call inside a transaction."""
        outcomes, accepted = [], []
        for user, prompt, client_ip, user_agent in turns:
            try:
                checked = self.checked_turn(user, prompt, reads)
            except FrameError as error:
                outcomes.append(error)
                continue
            if isinstance(checked, self.model):  # resent: saved before this batch
                outcomes.append((checked, None))
                continue
            model, params, _attachments = checked
            reads.counted(user)  # the user's next prompt in the batch counts this one
            outcomes.append(None)
            accepted.append((len(outcomes) - 1, user, prompt, model, params, client_ip, user_agent))
        conversations = Conversation.objects.bulk_create(
            [Conversation(user=user, title=Conversation.title_from(prompt.text)) for _, user, prompt, *_ in accepted])
        messages = self.bulk_create([
            self.model(conversation=conversation, **self.message_fields(user, prompt, model, params),
                       client_ip=client_ip, user_agent=user_agent[:500])
            for conversation, (_, user, prompt, model, params, client_ip, user_agent) in zip(conversations, accepted)])
        for message, (index, _user, _prompt, model, params, *_rest) in zip(messages, accepted):
            message.reserved = False  # no budget applies to these users
            reads.existing[(message.user_id, message.client_request_id)] = message
            outcomes[index] = (message, generation_request(message, model, params, earlier=False, files=False))
        return outcomes
