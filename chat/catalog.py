"""The models a user can pick: built from settings, extended or overridden by staff in admin."""

import importlib.util
import logging
from dataclasses import dataclass, field

from django.conf import settings

from chat.providers import BEDROCK_CONVERSE, BEDROCK_INVOKE, LOCAL, bedrock_provider, family_for, local_files

log = logging.getLogger(__name__)

NO_MODEL_MESSAGE = (
    "No model is configured. Set BEDROCK_MODEL_ID (and AWS credentials), or install the embedded local "
    "model with `make setup`, and restart the server."
)
LOCAL_KEY = "local"  # the built-in local model's key in the picker


@dataclass(frozen=True)
class CatalogModel:
    key: str
    label: str
    provider: str  # a name in chat.providers.PROVIDERS
    model_id: str
    defaults: dict = field(default_factory=dict)
    system: str = ""
    accepts_top_k: bool = False

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "provider": self.provider,
            "model_id": self.model_id if self.provider != LOCAL else "",
            "defaults": self.defaults,
            "system": self.system,
            "accepts_top_k": self.accepts_top_k,
        }


def seed_defaults() -> dict:
    # The seed's generation parameters, kept as each built-in model's defaults.
    return {"max_tokens": settings.DEFAULT_MAX_TOKENS, "temperature": settings.DEFAULT_TEMPERATURE}


def bedrock_model(model_id: str) -> CatalogModel:
    family = family_for(model_id)  # None: a model only Converse speaks
    provider = bedrock_provider(model_id)
    return CatalogModel(
        key=model_id,
        label=f"{model_id} (Bedrock)",
        provider=provider,
        model_id=model_id,
        defaults=seed_defaults() | (family.defaults if family else {}),
        accepts_top_k=provider == BEDROCK_INVOKE or bool(family and family.converse_top_k),
    )


def local_model() -> CatalogModel | None:
    """The embedded model, if its file and runtime are installed (checked without importing llama_cpp)."""
    if not settings.LOCAL_MODEL_PATH or importlib.util.find_spec("llama_cpp") is None:
        return None
    return CatalogModel(
        key=LOCAL_KEY,
        label="SmolLM2 135M (local)" if "SmolLM2-135M" in settings.LOCAL_MODEL_PATH else "Local model",
        provider=LOCAL,
        model_id=settings.LOCAL_MODEL_PATH,
        # A small model rambles and repeats: a shorter answer and some temperature read better.
        defaults={"max_tokens": 512, "temperature": 0.2, "top_p": 0.9, "top_k": 40},
        accepts_top_k=True,
    )


def built_in_models() -> list[CatalogModel]:
    ids = [settings.BEDROCK_MODEL_ID] if settings.BEDROCK_MODEL_ID else []
    ids += [model_id for model_id in settings.BEDROCK_MODEL_IDS if model_id not in ids]
    models = [bedrock_model(model_id) for model_id in ids]
    local = local_model()
    if local is not None:
        models.append(local)
    return models


def available_models() -> list[CatalogModel]:
    """Built-in models first (the default first of all), then staff's; a staff entry with a built-in key replaces it."""
    from chat.models import CatalogEntry

    models = {model.key: model for model in built_in_models()}
    for entry in CatalogEntry.objects.all():
        if not entry.enabled:
            models.pop(entry.key, None)
            continue
        refused = local_files.refusal(entry.model_id) if entry.provider == LOCAL and entry.model_id else None
        if refused:  # saved before paths were checked: unavailable (not offered, never opened) until fixed
            log.warning("Catalog model %r is unavailable: %s", entry.key, refused)
            models.pop(entry.key, None)
            continue
        models[entry.key] = CatalogModel(  # an existing key keeps its place in the order
            key=entry.key,
            label=entry.label,
            provider=entry.provider,
            model_id=entry.model_id or (settings.LOCAL_MODEL_PATH if entry.provider == LOCAL else ""),
            defaults=entry.defaults,
            system=entry.system_prompt,
            accepts_top_k=entry.accepts_top_k or entry.provider != BEDROCK_CONVERSE,
        )
    return list(models.values())


def find_model(key: str | None) -> CatalogModel | None:
    """The model for a key; None (the client's "default") means the first model offered."""
    models = available_models()
    if key is None:
        return models[0] if models else None
    return next((model for model in models if model.key == key), None)
