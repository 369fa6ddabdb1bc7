"""What a Bedrock request carries: ConverseStream's arguments, and the options of an InvokeModel call.

Field names and values are botocore's service model's (chat.bedrock_options); each option is sent only
when it is set, so a request without options is the plain one.
"""

import json
import re
import unicodedata

from chat.bedrock_options import CACHE_POINT, INVOKE_ASYNC_GUARDRAIL, INVOKE_TRACE, reasoning_fields
from chat.providers.attached import AttachedFile, plan, with_summary
from chat.providers.base import GenerationRequest

# DocumentBlock.name (the service model): 1 to 200 characters, only alphanumerics, single whitespace
# characters, hyphens, parentheses and square brackets.
DOCUMENT_NAME_MAX_CHARS = 200
NOT_IN_DOCUMENT_NAMES = re.compile(r"[^A-Za-z0-9\s\-()\[\]]", re.ASCII)


def converse_arguments(request: GenerationRequest) -> dict:
    params = request.params
    inference = {}
    if "max_tokens" in params:
        inference["maxTokens"] = params["max_tokens"]
    if "temperature" in params:
        inference["temperature"] = params["temperature"]
    if "top_p" in params:
        inference["topP"] = params["top_p"]
    if params.get("stop_sequences"):
        inference["stopSequences"] = params["stop_sequences"]
    arguments = {
        "modelId": request.model_id,
        "messages": converse_messages(request),
        "inferenceConfig": inference,
    }
    if request.system:
        arguments["system"] = [{"text": request.system}]
    if request.prompt_caching:
        add_cache_points(arguments)
    additional = {"top_k": params["top_k"]} if "top_k" in params and request.accepts_top_k else {}
    additional |= reasoning_fields(request.model_id, request.reasoning_budget)
    if additional:
        arguments["additionalModelRequestFields"] = additional
    return arguments | converse_options(request)


def converse_messages(request: GenerationRequest) -> list[dict]:
    """Each message's content: a user turn's documents and images (read from storage here, so this runs in
    the worker thread) before its text; earlier files past the budget named in the text instead."""
    names: set[str] = set()
    messages = []
    for message, files in zip(request.messages, plan(request.messages, request.attachment_context_bytes, request.attachment_formats)):
        blocks = [attachment_block(file, names, cite=request.cite_documents) for file in files.sent]
        messages.append({"role": message["role"],
                         "content": blocks + [{"text": with_summary(message["text"], files.summarised)}]})
    return messages


def attachment_block(file: AttachedFile, names: set[str], *, cite: bool = False) -> dict:
    source = {"bytes": file.read()}  # boto3 base64-encodes it
    if file.kind == "image":
        return {"image": {"format": file.format, "source": source}}
    document = {"format": file.format, "name": document_name(file.name, names), "source": source}
    return {"document": document | ({"citations": {"enabled": True}} if cite else {})}


def document_name(name: str, taken: set[str]) -> str:
    """The user's file name as Converse accepts it: without its extension (no dots allowed), accents
    dropped, any other character a space, one space at most in a row, unique within the request."""
    stem, dot, _extension = name.rpartition(".")
    ascii_name = unicodedata.normalize("NFKD", stem if dot and stem else name).encode("ascii", "ignore").decode()
    cleaned = " ".join(NOT_IN_DOCUMENT_NAMES.sub(" ", ascii_name).split())[:DOCUMENT_NAME_MAX_CHARS].strip()
    cleaned = cleaned or "document"
    candidate, number = cleaned, 2
    while candidate in taken:
        suffix = f" ({number})"
        candidate = cleaned[:DOCUMENT_NAME_MAX_CHARS - len(suffix)].rstrip() + suffix
        number += 1
    taken.add(candidate)
    return candidate


def add_cache_points(arguments: dict) -> None:
    """A cache point after the system prompt and after each of the last two earlier answers (3 at most of
    Bedrock's 4): the older one sits where the previous turn's request put its last one, so that prefix is
    read from the cache, and the newer one caches this turn's for the next."""
    if "system" in arguments:
        arguments["system"].append(CACHE_POINT)
    answers = [message for message in arguments["messages"] if message["role"] == "assistant"]
    for message in answers[-2:]:
        message["content"].append(CACHE_POINT)


def converse_options(request: GenerationRequest) -> dict:
    options = {}
    if request.guardrail:
        guardrail = request.guardrail
        options["guardrailConfig"] = {
            "guardrailIdentifier": guardrail["identifier"],
            "guardrailVersion": guardrail["version"],
            "trace": "enabled" if guardrail["trace"] else "disabled",
            "streamProcessingMode": guardrail["stream_mode"],
        }
    if request.performance_latency:
        options["performanceConfig"] = {"latency": request.performance_latency}
    if request.service_tier:
        options["serviceTier"] = {"type": request.service_tier}
    if request.request_metadata:
        options["requestMetadata"] = dict(request.request_metadata)
    return options


def invoke_options(request: GenerationRequest) -> dict:
    """InvokeModelWithResponseStream's own parameters for the same options (sent as headers by boto3)."""
    options = {}
    if request.guardrail:
        options["guardrailIdentifier"] = request.guardrail["identifier"]
        options["guardrailVersion"] = request.guardrail["version"]
        options["trace"] = INVOKE_TRACE[request.guardrail["trace"]]
    if request.performance_latency:
        options["performanceConfigLatency"] = request.performance_latency
    if request.service_tier:
        options["serviceTier"] = request.service_tier  # a plain string here, not Converse's structure
    if request.request_metadata:
        options["requestMetadata"] = json.dumps(request.request_metadata)
    return options


def invoke_body_fields(request: GenerationRequest) -> dict:
    """Bedrock's own field in an InvokeModel body, beside the family's: a guardrail's stream mode when it
    is not the default (sync)."""
    if not request.guardrail or request.guardrail["stream_mode"] == "sync":
        return {}
    return INVOKE_ASYNC_GUARDRAIL
