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
    # [{"role": "user" | "assistant", "text": "..."}], alternating, ending with the user. A user item may
    # carry "attachments": [chat.providers.attached.AttachedFile] (this turn's and earlier turns' files).
    # An assistant item may also carry "reasoning" ({"text", "signature"} or {"redacted": bytes}) for a
    # provider that must send it back; with no tool use none does today (docs/protocol.md).
    messages: list[dict]
    params: dict = field(default_factory=dict)  # validated: max_tokens, temperature, top_p, top_k, stop_sequences
    system: str = ""
    accepts_top_k: bool = False  # Converse: send top_k as an additional model request field
    reasoning_budget: int | None = None  # tokens; None = reasoning off
    guardrail: dict | None = None  # {"identifier", "version", "trace": bool, "stream_mode": "sync" | "async"}
    performance_latency: str | None = None  # "standard" | "optimized"
    service_tier: str | None = None  # "priority" | "default" | "flex" | "reserved"
    prompt_caching: bool = False  # a cachePoint after the system prompt and the earlier turns
    cite_documents: bool = False  # Converse document blocks with citations on
    request_metadata: dict[str, str] = field(default_factory=dict)  # at most 16 pairs, for invocation logs
    user_key: str = ""  # who asked: the local model's line serves users in turn
    attachment_context_bytes: int = 0  # earlier turns' files sent again up to this (chat.providers.attached)
    attachment_formats: tuple[str, ...] = ()  # the formats the model takes; earlier files in others are named only

    @property
    def attachments(self) -> list:
        """This turn's files."""
        return self.messages[-1].get("attachments") or [] if self.messages else []


@dataclass(frozen=True)
class Started:
    """The upstream accepted the request; request_id is its id for support (Bedrock's x-amzn-RequestId)."""

    request_id: str = ""


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's reasoning (thinking), streamed before the answer."""

    text: str


@dataclass(frozen=True)
class ReasoningSignature:
    """What verifies the reasoning (Anthropic's signature) or replaces it (redacted, encrypted bytes)."""

    signature: str = ""
    redacted: bytes = b""


@dataclass(frozen=True)
class Citation:
    """One source the answer cites; location is a short string ("page 3", "characters 10–52", a URL)."""

    title: str = ""
    source: str = ""
    location: str = ""
    text: str = ""


@dataclass(frozen=True)
class Trace:
    """From the stream's metadata: the compact guardrail trace and the model a prompt router picked."""

    guardrail: dict | None = None
    invoked_model: str = ""


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None
    output_tokens: int | None
    cache_read_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None
    server_latency_ms: int | None = None  # Bedrock's own metadata.metrics.latencyMs


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


Event = (Started | Queued | Alive | TextDelta | ReasoningDelta | ReasoningSignature | Citation | Trace | Usage
         | StopReason)

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
    "incomplete": "The answer was cut off: the connection to the model ended before the answer was complete.",
    "connection_lost": "The connection to the model was lost in the middle of the answer.",
    # The request side words it per model: "<label> was retired on <date>. Pick another model."
    "model_retired": "This model has been retired. Pick another model.",
    # The request side names the model and the file: "<label> does not take images. …"
    "unsupported_attachment": "This model cannot take the attached files. Pick another model or remove them.",
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

