"""JSON endpoints for the chat page: the user's conversations and their turns. Session-authenticated."""

import json
from functools import wraps

from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from chat import budget_status, catalog
from chat.models import Conversation, Message

MAX_TITLE_CHARS = 200
LIST_LIMIT = 200


def api_login_required(view):
    """Like login_required, but a script gets 401 JSON rather than a redirect to an HTML page."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return JsonResponse({"error": "Log in first."}, status=401)
        return view(request, *args, **kwargs)

    return wrapped


def message_json(message: Message) -> dict:
    frame = message.done_frame()
    return {
        "id": message.pk,
        "client_request_id": message.client_request_id,
        "prompt": message.prompt,
        "response": message.response,
        "reasoning": message.reasoning,
        "seq": message.seq,
        "status": message.status,
        "model": message.model_key,
        "params": message.params,
        "stop_reason": message.stop_reason,
        "usage": frame["usage"],
        "metrics": frame["metrics"],
        "error": frame.get("error"),
        # Protocol v1.1's extras, as the `done` frame has them (null or [] when they do not apply).
        "cost": frame.get("cost"),
        "guardrail": frame.get("guardrail"),
        "citations": frame.get("citations", []),
        "invoked_model": message.invoked_model,
        "attachments": [attachment.summary_json() for attachment in message.attachments.all()],
        "created": message.created.isoformat(),
    }


def conversation_json(conversation: Conversation) -> dict:
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "created": conversation.created.isoformat(),
        "updated": conversation.updated.isoformat(),
    }


@api_login_required
@require_http_methods(["GET"])
def models(request):
    """The catalog for the page's model picker (only the models the user may use); the default is the first
    model that is not retired."""
    available = catalog.models_for(request.user)
    default = catalog.default_model(available)
    today = timezone.localdate()
    return JsonResponse({"default": default.key if default else None, "models": [m.as_json(today) for m in available]})


@api_login_required
@require_http_methods(["GET"])
def conversations(request):
    """The user's conversations, most recently active first."""
    listed = Conversation.objects.visible_to(request.user).order_by("-updated", "-pk")[:LIST_LIMIT]
    return JsonResponse({"conversations": [conversation_json(c) for c in listed]})


@api_login_required
@require_http_methods(["GET", "PATCH", "DELETE"])
def conversation(request, conversation_id: int):
    # Another user's conversation is a 404, exactly like a missing one.
    found = get_object_or_404(Conversation.objects.visible_to(request.user), pk=conversation_id)
    if request.method == "DELETE":
        found.deleted_at = timezone.now()
        found.save(update_fields=["deleted_at"])
        return HttpResponse(status=204)
    if request.method == "PATCH":
        return rename(request, found)
    turns = found.messages.order_by("pk").prefetch_related("attachments")
    return JsonResponse(conversation_json(found) | {"messages": [message_json(m) for m in turns]})


def rename(request, found: Conversation):
    try:
        title = json.loads(request.body or b"{}").get("title")
    except (ValueError, AttributeError):
        return JsonResponse({"error": "Send JSON like {\"title\": \"…\"}."}, status=400)
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE_CHARS:
        return JsonResponse({"error": f"The title must be 1 to {MAX_TITLE_CHARS} characters."}, status=400)
    found.title = " ".join(title.split())
    found.save(update_fields=["title"])
    return JsonResponse(conversation_json(found))


@api_login_required
@require_http_methods(["GET"])
def budget(request):
    """Where the user's budgets stand (the page's indicator): each budget, and the tightest one."""
    return JsonResponse(budget_status.for_user(request.user))
