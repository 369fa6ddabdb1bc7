"""Amazon Bedrock through InvokeModelWithResponseStream, for models whose own JSON API we must speak.

ConverseStream hides the model families behind one schema but not every model supports it (Cohere
Command text, the seed's model, does not). Here a small adapter per family builds the request body and
reads the family's chunks; the thread, cancellation and error mapping are the Converse provider's.
FAMILIES, at the end, is the one table of Bedrock model-id prefixes: the catalog asks it too.
"""

import base64
import json
from contextlib import aclosing
from dataclasses import dataclass, field

from django.conf import settings

from chat.bedrock_options import base_model_name, reasoning_fields
from chat.file_types import CONTENT_TYPES, TEXT_FORMATS
from chat.providers.attached import AttachedFile, plan, with_summary
from chat.providers.base import (
    GenerationRequest,
    Provider,
    ProviderError,
    ReasoningDelta,
    ReasoningSignature,
    StopReason,
    TextDelta,
    Usage,
)
from chat.providers.bedrock import bedrock_client, stream_from_bedrock
from chat.providers.bedrock_request import invoke_body_fields, invoke_options


def pick(params: dict, names: dict) -> dict:
    """The params that are set, renamed to the family's names; an empty stop list is left out."""
    return {ours: params[key] for key, ours in names.items() if key in params and params[key] != []}


def transcript(request: GenerationRequest, bot: str) -> list[str]:
    """The system text, then each message as a "User: ..." or "<bot>: ..." line."""
    lines = [request.system] if request.system else []
    return lines + [f"{'User' if m['role'] == 'user' else bot}: {m['text']}" for m in request.messages]


class CohereCommandText:
    def request_body(self, request):
        # Command text is a plain completion model with no chat format: the conversation is flattened to
        # a transcript. A lone prompt goes as it is, so the seed's single-turn answers do not change.
        lines = transcript(request, "Chatbot")
        prompt = "\n".join(lines) if len(lines) > 1 else request.messages[-1]["text"]
        names = {"max_tokens": "max_tokens", "temperature": "temperature", "top_p": "p", "top_k": "k",
                 "stop_sequences": "stop_sequences"}
        return {"prompt": prompt, **pick(request.params, names), "return_likelihoods": "NONE", "stream": True}

    def events(self, chunk):
        if chunk.get("is_finished"):
            yield StopReason(chunk.get("finish_reason") or "")
        elif chunk.get("text"):
            yield TextDelta(chunk["text"])


def anthropic_block(file: AttachedFile) -> dict:
    """An Anthropic messages image or document block: images and PDFs as base64, text formats as text."""
    data = file.read()
    if file.kind == "image":
        return {"type": "image", "source": {"type": "base64", "media_type": CONTENT_TYPES[file.format],
                                            "data": base64.b64encode(data).decode("ascii")}}
    if file.format == "pdf":
        source = {"type": "base64", "media_type": "application/pdf", "data": base64.b64encode(data).decode("ascii")}
    elif file.format in TEXT_FORMATS:
        source = {"type": "text", "media_type": "text/plain", "data": data.decode("utf-8", "replace")}
    else:  # the catalog offers Claude through InvokeModel no other document format (chat.attachment_support)
        raise ProviderError("unsupported_attachment")
    return {"type": "document", "source": source, "title": file.name}


class AnthropicMessages:
    takes_attachments = True

    def request_body(self, request):
        names = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "stop_sequences": "stop_sequences"}
        messages = []
        for m, files in zip(request.messages, plan(request.messages, request.attachment_context_bytes, request.attachment_formats)):
            blocks = [anthropic_block(file) for file in files.sent]  # before the text, as Anthropic advises
            messages.append({"role": m["role"],
                             "content": blocks + [{"type": "text", "text": with_summary(m["text"], files.summarised)}]})
        body = {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": request.params.get("max_tokens", settings.DEFAULT_MAX_TOKENS),  # required by the API
            "messages": messages,
            **pick(request.params, names),
        }
        if request.system:
            body["system"] = request.system
        # Extended thinking: the same `thinking` field Converse passes through (turns.py has already left
        # out the temperature, top_p and top_k that thinking refuses).
        return body | reasoning_fields(request.model_id, request.reasoning_budget)

    def events(self, chunk):
        # The usage in message_start / message_delta repeats Bedrock's invocation metrics, read for all families.
        kind, delta = chunk.get("type"), chunk.get("delta") or {}
        if kind == "content_block_delta":
            # Extended thinking: thinking_delta pieces, then one signature_delta just before the block stops.
            if delta.get("type") == "thinking_delta" and delta.get("thinking"):
                yield ReasoningDelta(delta["thinking"])
            elif delta.get("type") == "signature_delta" and delta.get("signature"):
                yield ReasoningSignature(signature=delta["signature"])
            elif delta.get("text"):
                yield TextDelta(delta["text"])
        elif kind == "content_block_start" and (chunk.get("content_block") or {}).get("type") == "redacted_thinking":
            # Encrypted thinking comes whole, as an opaque string: kept as its bytes, unchanged.
            yield ReasoningSignature(redacted=chunk["content_block"].get("data", "").encode())
        elif kind == "message_delta" and delta.get("stop_reason"):
            yield StopReason(delta["stop_reason"])


class TitanText:
    def request_body(self, request):
        # Titan text has no roles or system field; its documented chat convention is "User:" / "Bot:".
        lines = [*transcript(request, "Bot"), "Bot:"]
        names = {"max_tokens": "maxTokenCount", "temperature": "temperature", "top_p": "topP",
                 "stop_sequences": "stopSequences"}
        return {"inputText": "\n".join(lines), "textGenerationConfig": pick(request.params, names)}

    def events(self, chunk):
        if chunk.get("outputText"):
            yield TextDelta(chunk["outputText"])
        if chunk.get("completionReason"):
            yield StopReason(chunk["completionReason"])


class MetaLlama:
    def request_body(self, request):
        # Llama 3's chat template; the open assistant header at the end asks for the answer.
        def block(role, text):
            return f"<|start_header_id|>{role}<|end_header_id|>\n\n{text}<|eot_id|>"

        prompt = "<|begin_of_text|>"
        if request.system:
            prompt += block("system", request.system)
        prompt += "".join(block(m["role"], m["text"]) for m in request.messages)
        prompt += "<|start_header_id|>assistant<|end_header_id|>\n\n"
        names = {"max_tokens": "max_gen_len", "temperature": "temperature", "top_p": "top_p"}  # no top_k, no stop
        return {"prompt": prompt, **pick(request.params, names)}

    def events(self, chunk):
        if chunk.get("generation"):
            yield TextDelta(chunk["generation"])
        if chunk.get("stop_reason"):
            yield StopReason(chunk["stop_reason"])


class Mistral:
    def request_body(self, request):
        # Mistral's instruct format has no system role: the system text leads the first instruction.
        prompt = "<s>"
        for i, m in enumerate(request.messages):
            text = f"{request.system}\n\n{m['text']}" if i == 0 and request.system else m["text"]
            prompt += f"[INST] {text} [/INST]" if m["role"] == "user" else f" {text}</s>"
        names = {"max_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p", "top_k": "top_k",
                 "stop_sequences": "stop"}
        return {"prompt": prompt, **pick(request.params, names)}

    def events(self, chunk):
        for output in chunk.get("outputs") or []:
            if output.get("text"):
                yield TextDelta(output["text"])
            if output.get("stop_reason"):
                yield StopReason(output["stop_reason"])


@dataclass(frozen=True)
class Family:
    """A Bedrock model family: the model-id prefixes it covers, and how each of its models is reached."""

    prefixes: tuple[str, ...]
    body: type  # the adapter speaking its InvokeModel body and chunks
    invoke_only: bool = False  # ConverseStream cannot stream it: the catalog sends it through InvokeModel
    converse_top_k: bool = False  # through Converse, it takes top_k as an additional model request field
    defaults: dict = field(default_factory=dict)  # what the catalog offers beyond the seed's defaults


FAMILIES = [
    Family(("cohere.command-text", "cohere.command-light-text"), CohereCommandText, invoke_only=True,
           defaults={"top_p": 0.01, "top_k": 0}),  # the seed's p and k
    Family(("anthropic.",), AnthropicMessages, converse_top_k=True),
    Family(("amazon.titan-text",), TitanText, invoke_only=True),
    Family(("meta.llama",), MetaLlama),
    Family(("mistral.",), Mistral, converse_top_k=True),
]

def family_for(model_id: str) -> Family | None:
    """The family of a model id, a cross-region inference profile id, or an ARN of either; None for the
    models only Converse speaks (Amazon Nova, AI21…)."""
    base = base_model_name(model_id)
    return next((family for family in FAMILIES if base.startswith(family.prefixes)), None)


def adapter_for(model_id: str):
    """The body adapter for a model id, a cross-region inference profile id, or an ARN of either."""
    family = family_for(model_id)
    if family is None:
        raise ProviderError(
            "validation",
            f"The model {model_id!r} cannot be used here: only Anthropic, Cohere Command text, Amazon Titan text, "
            "Meta Llama and Mistral models are supported.",
        )
    return family.body()


class InvokeReader:
    """One per stream: the family's chunks translated; complete once the final chunk, which Bedrock gives
    the invocation metrics in every family, has arrived."""

    def __init__(self, adapter):
        self.adapter = adapter
        self.complete = False

    def events(self, event: dict):
        if "chunk" not in event:
            return
        chunk = json.loads(event["chunk"]["bytes"])
        yield from self.adapter.events(chunk)
        metrics = chunk.get("amazon-bedrock-invocationMetrics")
        if metrics:
            self.complete = True
            yield Usage(metrics.get("inputTokenCount"), metrics.get("outputTokenCount"),
                        server_latency_ms=metrics.get("invocationLatency"))


class BedrockInvokeProvider(Provider):
    async def stream(self, request: GenerationRequest):
        adapter = adapter_for(request.model_id)  # an unknown family fails here, before any call
        if request.attachments and not getattr(adapter, "takes_attachments", False):
            raise ProviderError("unsupported_attachment")  # the catalog refuses these first; fail closed
        options = invoke_options(request)

        def call():  # in the worker thread: the body reads the attachments' files
            body = json.dumps(adapter.request_body(request) | invoke_body_fields(request))
            return bedrock_client().invoke_model_with_response_stream(
                modelId=request.model_id, body=body, contentType="application/json", accept="application/json",
                **options,
            )

        reader = InvokeReader(adapter)
        async with aclosing(stream_from_bedrock(call, "body", reader, "bedrock-invoke-stream")) as items:
            async for item in items:
                yield item
