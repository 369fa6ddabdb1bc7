"""The models a user can pick, built from settings."""

from dataclasses import dataclass, field

from django.conf import settings


@dataclass(frozen=True)
class CatalogModel:
    key: str
    label: str
    provider: str  # a name that chat.providers.provider_for() knows
    model_id: str
    defaults: dict = field(default_factory=dict)
    system: str = ""

    def as_json(self) -> dict:
        return {"key": self.key, "label": self.label, "provider": self.provider, "defaults": self.defaults}


def seed_defaults() -> dict:
    # The seed's generation parameters, kept as each model's defaults.
    return {"max_tokens": settings.DEFAULT_MAX_TOKENS, "temperature": settings.DEFAULT_TEMPERATURE}


def available_models() -> list[CatalogModel]:
    models = []
    if settings.BEDROCK_MODEL_ID:
        models.append(
            CatalogModel(
                key=settings.BEDROCK_MODEL_ID,
                label=f"{settings.BEDROCK_MODEL_ID} (Bedrock)",
                provider="bedrock-converse",
                model_id=settings.BEDROCK_MODEL_ID,
                defaults=seed_defaults(),
            )
        )
    return models


def default_model() -> CatalogModel | None:
    models = available_models()
    return models[0] if models else None


def find_model(key: str | None) -> CatalogModel | None:
    """The model for a key; None (the client's "default") means the default model."""
    if key is None:
        return default_model()
    return next((model for model in available_models() if model.key == key), None)


NO_MODEL_MESSAGE = "No model is configured. Set BEDROCK_MODEL_ID (and AWS credentials) and restart the server."
