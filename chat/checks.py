"""System checks (run by `manage.py migrate`, so `make run` shows them): a configured model that can no
longer answer is worth a warning before the first user finds out."""

from django.core import checks
from django.utils import timezone


@checks.register()
def retired_built_in_models(app_configs, **kwargs):
    from chat.catalog import built_in_models  # not at import time: the catalog reads settings

    today = timezone.localdate()
    return [
        checks.Warning(
            f"{model.model_id} was retired on {model.end_of_life_on.isoformat()}: prompts to it are refused "
            "with model_retired.",
            hint="Take it out of BEDROCK_MODEL_ID / BEDROCK_MODEL_IDS, or pick its successor (AWS's model lifecycle page).",
            id="chat.W001",
        )
        for model in built_in_models()
        if model.status(today) == "retired"
    ]
