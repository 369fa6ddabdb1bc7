"""Everything a run learns from its stream besides the text: usage, timings, stop reason, reasoning's
signature, citations, the trace; and what it makes of them when the answer ends (status, cost)."""

from dataclasses import dataclass, field

from chat import pricing
from chat.models import Message
from chat.providers import Citation, ReasoningSignature, StopReason, Trace, Usage

# Stop reasons that mean the answer was withheld or replaced, not finished: status `blocked`. The action
# names the one that acted: Bedrock's own word for a guardrail, ours for a provider's content filter.
BLOCKING = {"guardrail_intervened": "GUARDRAIL_INTERVENED", "content_filtered": "CONTENT_FILTERED"}


@dataclass
class Outcome:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None
    server_latency_ms: int | None = None
    stop_reason: str = ""
    ttft_ms: int | None = None  # the first delta of either part
    answer_ms: int | None = None  # the first answer delta
    reasoning_signature: str = ""
    reasoning_redacted: bytearray = field(default_factory=bytearray)
    citations: list[dict] = field(default_factory=list)
    guardrail_trace: dict | None = None
    invoked_model: str = ""

    def first_delta(self, reasoning: bool, elapsed_ms: int) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = elapsed_ms
        if not reasoning and self.answer_ms is None:
            self.answer_ms = elapsed_ms

    def take(self, event: Usage | StopReason | ReasoningSignature | Citation | Trace) -> None:
        if isinstance(event, Usage):
            self.input_tokens, self.output_tokens = event.input_tokens, event.output_tokens
            self.cache_read_input_tokens = event.cache_read_input_tokens
            self.cache_write_input_tokens = event.cache_write_input_tokens
            self.server_latency_ms = event.server_latency_ms
        elif isinstance(event, StopReason):
            self.stop_reason = event.reason
        elif isinstance(event, ReasoningSignature):
            # Kept for review only: with no tool use no model needs its reasoning back (docs/protocol.md).
            self.reasoning_signature += event.signature
            self.reasoning_redacted += event.redacted
        elif isinstance(event, Citation):
            self.citations.append({"title": event.title, "source": event.source, "location": event.location,
                                   "text": event.text})
        elif isinstance(event, Trace):
            self.guardrail_trace = event.guardrail or self.guardrail_trace
            self.invoked_model = event.invoked_model or self.invoked_model

    def status_of_whole_answer(self) -> str:
        """The status of an answer the stream ended as Bedrock ends one."""
        return Message.Status.BLOCKED if self.stop_reason in BLOCKING else Message.Status.COMPLETE

    def guardrail(self, status: str) -> dict | None:
        """The compact trace with the action taken: {"action", "reason", "assessments"}; for a blocked answer
        always (a content filter may give no trace), for another only when the stream traced one."""
        if status != Message.Status.BLOCKED and self.guardrail_trace is None:
            return None
        action = BLOCKING.get(self.stop_reason, "NONE") if status == Message.Status.BLOCKED else "NONE"
        return {"action": action, "reason": "", "assessments": []} | (self.guardrail_trace or {})

    def fields(self, model_key: str, status: str, stop_reason: str = "") -> dict:
        """Message.finish's keyword arguments for this outcome. Reads the model's prices: call it in the
        database thread."""
        cost = pricing.cost(model_key, self.input_tokens, self.output_tokens, self.cache_read_input_tokens,
                            self.cache_write_input_tokens)
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_write_input_tokens": self.cache_write_input_tokens,
            "server_latency_ms": self.server_latency_ms,
            "ttft_ms": self.ttft_ms,
            "answer_ms": self.answer_ms,
            "stop_reason": stop_reason or self.stop_reason,
            "reasoning_signature": self.reasoning_signature,
            "reasoning_redacted": bytes(self.reasoning_redacted) or None,
            "citations": self.citations,
            "guardrail": self.guardrail(status),
            "invoked_model": self.invoked_model,
            "cost": cost,
            "currency": pricing.currency() if cost is not None else "",
        }
