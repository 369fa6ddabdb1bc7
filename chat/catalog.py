"""The models a user can pick: built from settings, extended or overridden by staff in admin."""

import importlib.util
from dataclasses import dataclass, field

from django.conf import settings

NO_MODEL_MESSAGE = (
    "No model is configured. Set BEDROCK_MODEL_ID (and AWS credentials), or install the embedded local "
    "model with `make setup`, and restart the server."
)
LOCAL_KEY = "local"
# Vendors whose Converse models take top_k as an additional request field.
TOP_K_VENDORS = ("anthropic.", "mistral.")


@dataclass(frozen=True)
class CatalogModel:
    key: str
    label: str
    provider: str  # "local", "bedrock-converse" or "bedrock-invoke"
    model_id: str
    defaults: dict = field(default_factory=dict)
    system: str = ""
    accepts_top_k: bool = False

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "provider": self.provider,
            "model_id": self.model_id if self.provider != LOCAL_KEY else "",
            "defaults": self.defaults,
            "system": self.system,
            "accepts_top_k": self.accepts_top_k,
        }


def seed_defaults() -> dict:
    # The seed's generation parameters, kept as each built-in model's defaults.
    return {"max_tokens": settings.DEFAULT_MAX_TOKENS, "temperature": settings.DEFAULT_TEMPERATURE}


# Cross-region inference profiles put a geography before the vendor: "us.anthropic.claude-…".
GEO_PREFIXES = {"us", "us-gov", "eu", "apac", "ca", "jp", "au", "global"}


def base_model_name(model_id: str) -> str:
    """'us.anthropic.claude…', or an ARN ending in '…/foundation-model/<id>' or an inference profile -> 'anthropic.claude…'."""
    name = model_id.rsplit("/", 1)[-1]
    geo, _, rest = name.partition(".")
    return rest if geo in GEO_PREFIXES and rest else name


def bedrock_model(model_id: str) -> CatalogModel:
    # Models that only stream through InvokeModel (the seed's Cohere Command text, Titan text) use bedrock-invoke.
    invoke_only = base_model_name(model_id).startswith(("cohere.command-text", "cohere.command-light-text", "amazon.titan-text"))
    defaults = seed_defaults()
    if invoke_only and base_model_name(model_id).startswith("cohere."):
        defaults |= {"top_p": 0.01, "top_k": 0}  # the seed's p and k
    return CatalogModel(
        key=model_id,
        label=f"{model_id} (Bedrock)",
        provider="bedrock-invoke" if invoke_only else "bedrock-converse",
        model_id=model_id,
        defaults=defaults,
        accepts_top_k=invoke_only or base_model_name(model_id).startswith(TOP_K_VENDORS),
    )


def local_model() -> CatalogModel | None:
    """The embedded model, if its file and runtime are installed (checked without importing llama_cpp)."""
    if not settings.LOCAL_MODEL_PATH or importlib.util.find_spec("llama_cpp") is None:
        return None
    return CatalogModel(
        key=LOCAL_KEY,
        label="SmolLM2 135M (local)" if "SmolLM2-135M" in settings.LOCAL_MODEL_PATH else "Local model",
        provider="local",
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
        models[entry.key] = CatalogModel(  # an existing key keeps its place in the order
            key=entry.key,
            label=entry.label,
            provider=entry.provider,
            model_id=entry.model_id or (settings.LOCAL_MODEL_PATH if entry.provider == LOCAL_KEY else ""),
            defaults=entry.defaults,
            system=entry.system_prompt,
            accepts_top_k=entry.accepts_top_k or entry.provider != "bedrock-converse",
        )
    return list(models.values())


def find_model(key: str | None) -> CatalogModel | None:
    """The model for a key; None (the client's "default") means the first model offered."""
    models = available_models()
    if key is None:
        return models[0] if models else None
    return next((model for model in models if model.key == key), None)
