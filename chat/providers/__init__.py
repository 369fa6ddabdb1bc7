"""Model providers: the one small interface (chat.providers.base) and the one table of providers.

A provider's name is stored on every message and catalog entry; PROVIDERS maps it to the provider, as
healthchecks' TRANSPORTS maps a channel kind to its transport: adding a provider touches this table,
and the model choices and the catalog follow. Which Bedrock models take which provider is decided by
the table of model families in chat.providers.bedrock_invoke (FAMILIES).
"""

from chat.providers.base import (
    ERROR_MESSAGES,
    Alive,
    Citation,
    Event,
    GenerationRequest,
    Provider,
    ProviderError,
    Queued,
    ReasoningDelta,
    ReasoningSignature,
    Started,
    StopReason,
    TextDelta,
    Trace,
    Usage,
)
from chat.providers.bedrock import BedrockConverseProvider
from chat.providers.bedrock_invoke import BedrockInvokeProvider, family_for
from chat.providers.local import LocalProvider

__all__ = [
    "ERROR_MESSAGES", "Alive", "Citation", "Event", "GenerationRequest", "Provider", "ProviderError", "Queued",
    "ReasoningDelta", "ReasoningSignature", "Started", "StopReason", "TextDelta", "Trace", "Usage", "family_for",
    "LOCAL", "BEDROCK_CONVERSE", "BEDROCK_INVOKE", "PROVIDERS", "PROVIDER_CHOICES", "provider_for", "bedrock_provider",
]

LOCAL, BEDROCK_CONVERSE, BEDROCK_INVOKE = "local", "bedrock-converse", "bedrock-invoke"

# name -> (what staff read in admin, the provider class)
PROVIDERS: dict[str, tuple[str, type[Provider]]] = {
    LOCAL: ("Embedded local model (llama.cpp)", LocalProvider),
    BEDROCK_CONVERSE: ("Amazon Bedrock, Converse API", BedrockConverseProvider),
    BEDROCK_INVOKE: ("Amazon Bedrock, InvokeModel with the model's own body", BedrockInvokeProvider),
}
PROVIDER_CHOICES = [(name, label) for name, (label, _) in PROVIDERS.items()]


def provider_for(name: str) -> Provider:
    try:
        _, provider = PROVIDERS[name]
    except KeyError:
        raise ProviderError("internal", f"Unknown provider {name!r}.") from None
    return provider()


def bedrock_provider(model_id: str) -> str:
    """The provider for a Bedrock model: InvokeModel for the families ConverseStream cannot stream."""
    family = family_for(model_id)
    return BEDROCK_INVOKE if family is not None and family.invoke_only else BEDROCK_CONVERSE
