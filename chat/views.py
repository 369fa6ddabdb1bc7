from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import get_script_prefix

from chat import catalog
from chat.bedrock_options import MIN_REASONING_BUDGET, NOT_WITH_REASONING
from chat.routing import websocket_urlpatterns


def websocket_path() -> str:
    """The chat socket's path, from the one route that serves it (the page has no other source for it)."""
    return get_script_prefix() + str(websocket_urlpatterns[0].pattern)


@login_required
def index(request):
    models = catalog.models_for(request.user)  # the picker offers only what the user may use
    default = catalog.default_model(models)
    return render(
        request,
        "chat/index.html",
        {
            "models": [{"key": model.key, "label": model.label} for model in models],
            "default_model": default.key if default else None,
            "no_model_message": None if models else catalog.NO_MODEL_MESSAGE,
            "ws_path": websocket_path(),
            # The parameter panel's reasoning rules (params.js), from the ones the server enforces.
            "min_reasoning_budget": MIN_REASONING_BUDGET,
            "not_with_reasoning": " ".join(NOT_WITH_REASONING),
            # The upload limits (attachments.js says so before uploading a file that cannot fit).
            "max_document_bytes": settings.MAX_DOCUMENT_BYTES,
            "max_image_bytes": settings.MAX_IMAGE_BYTES,
        },
    )
