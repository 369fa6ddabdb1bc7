"""The one small interface every model provider implements (chat.providers re-exports it).

A provider turns a GenerationRequest into an async iterator of small typed events and raises
ProviderError, with a stable code and a sentence fit for a person, for anything that goes wrong.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GenerationRequest:
    model_id: str
    messages: list[dict]  # [{"role": "user" | "assistant", "text": "..."}], alternating, ending with the user
    params: dict = field(default_factory=dict)  # validated: max_tokens, temperature, top_p, top_k, stop_sequences
    system: str = ""
    accepts_top_k: bool = False  # Converse: send top_k as an additional model request field
    user_key: str = ""  # who asked: the local model's line serves users in turn


@dataclass(frozen=True)
class Started:
    """The upstream accepted the request; request_id is its id for support (Bedrock's x-amzn-RequestId)."""

    request_id: str = ""


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None
    output_tokens: int | None


@dataclass(frozen=True)
class StopReason:
    reason: str


@dataclass(frozen=True)
class Queued:
    """Waiting for the model: `position` generations are ahead of this one."""

    position: int


@dataclass(frozen=True)
class Alive:
    """The upstream sent something we have no use for (messageStart, contentBlockStop…): it is not idle."""


Event = Started | Queued | Alive | TextDelta | Usage | StopReason

# Sentences shown to the user for each stable error code. The raw upstream text goes to the log only.
ERROR_MESSAGES = {
    "throttled": "The model is receiving too many requests right now. Please wait a moment and try again.",
    "access_denied": "This server is not allowed to use the model. Ask an administrator to check its AWS access.",
    "model_not_found": "The model could not be found. Ask an administrator to check the model id and region.",
    "validation": "The model rejected the request. Try a shorter prompt or different parameters.",
    "model_error": "The model ran into a problem while answering. Please try again.",
    "service_unavailable": "The model service is unavailable right now. Please try again in a minute.",
    "timeout": "The model took too long to respond. Please try again.",
    "local_model_error": "The local model could not answer. Ask an administrator to check the server log.",
    "internal": "Something went wrong on our side. The error has been logged.",
}


class ProviderError(Exception):
    """The one error a provider raises: a stable code, and a message fit for a person."""

    def __init__(self, code: str, message: str | None = None, *, request_id: str = ""):
        self.code = code if code in ERROR_MESSAGES else "internal"
        self.message = message or ERROR_MESSAGES[self.code]
        self.request_id = request_id
        super().__init__(f"{self.code}: {self.message}")


class Provider:
    """Base class: `stream()` yields events until the answer ends; closing the iterator cancels upstream."""

    def stream(self, request: GenerationRequest) -> AsyncIterator[Event]:
        raise NotImplementedError

