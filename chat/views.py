from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from chat import catalog


@login_required
def index(request):
    models = catalog.available_models()
    return render(
        request,
        "chat/index.html",
        {
            "models": [{"key": model.key, "label": model.label} for model in models],
            "default_model": models[0].key if models else None,
            "no_model_message": None if models else catalog.NO_MODEL_MESSAGE,
            "ws_path": "/ws/chat/",
        },
    )
