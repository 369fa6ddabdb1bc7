"""What a Bedrock request may carry beyond the prompt, and which models take what.

The allowed values and patterns are botocore's service model (`bedrock-runtime` 2023-09-30, the shapes
GuardrailStreamConfiguration, PerformanceConfiguration, ServiceTier and RequestMetadata); the tables of
models (reasoning, prompt caching, lifecycle) follow AWS's documentation. A model the tables do not
know is offered none of these: fail closed rather than send a field Bedrock refuses.

Plain Python with no Django import: streamer/settings.py checks its variables against these values.
"""

import re
from datetime import date

LATENCIES = ("standard", "optimized")  # PerformanceConfigLatency
SERVICE_TIERS = ("priority", "default", "flex", "reserved")  # ServiceTierType
GUARDRAIL_STREAM_MODES = ("sync", "async")  # GuardrailStreamProcessingMode (Converse's spelling)
# InvokeModel spells the same choices its own way: a trace header and a field in the body.
INVOKE_TRACE = {True: "ENABLED", False: "DISABLED"}
INVOKE_ASYNC_GUARDRAIL = {"amazon-bedrock-guardrailConfig": {"streamProcessingMode": "ASYNCHRONOUS"}}

# GuardrailIdentifier and GuardrailVersion, without their empty alternative: we send one only when set.
GUARDRAIL_ID = re.compile(r"[a-z0-9]+|arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+")
GUARDRAIL_ID_MAX_CHARS = 2048
GUARDRAIL_VERSION = re.compile(r"[1-9][0-9]{0,7}|DRAFT")
GUARDRAIL_ID_HELP = "a guardrail id (lower-case letters and digits) or its ARN"
GUARDRAIL_VERSION_HELP = "a version number (1, 2, …) or DRAFT"

# RequestMetadataValueString; a key is the same with at least one character.
REQUEST_METADATA_VALUE = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,-.]{0,256}")
REQUEST_METADATA_MAX_PAIRS = 16

CACHE_POINT = {"cachePoint": {"type": "default"}}
MAX_CACHE_POINTS = 4  # per request, on every model that caches

MIN_REASONING_BUDGET = 1024  # Claude's documented minimum; one rule for every model that reasons
# Sampling settings a reasoning model refuses: Claude's extended thinking documents it, and Nova's high effort.
NOT_WITH_REASONING = ("temperature", "top_p", "top_k")

# Cross-region inference profiles put a geography before the vendor: "us.anthropic.claude-…".
GEO_PREFIXES = {"us", "us-gov", "eu", "apac", "ca", "jp", "au", "global"}


def base_model_name(model_id: str) -> str:
    """'us.anthropic.claude…', or an ARN ending in '…/foundation-model/<id>' or an inference profile -> 'anthropic.claude…'."""
    name = model_id.rsplit("/", 1)[-1]
    geo, _, rest = name.partition(".")
    return rest if geo in GEO_PREFIXES and rest else name


def claude_thinking(budget: int) -> dict:
    return {"thinking": {"type": "enabled", "budget_tokens": budget}}


def nova_reasoning(budget: int) -> dict:
    # Nova 2 takes an effort, not a token budget: the budget picks the effort (documented in the README).
    effort = "low" if budget < 4096 else "medium" if budget < 16384 else "high"
    return {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": effort}}


# Base-model prefix -> the model's own reasoning field (Converse's additionalModelRequestFields; the
# Anthropic InvokeModel body takes the same `thinking`). Claude Sonnet 4 and Opus 4 carry only a date after
# the "4" ("anthropic.claude-sonnet-4-20250514-v1:0"): the "-2" of the year keeps later 4.x versions,
# whose thinking may work differently (Claude 4.7 refuses a budget), out until they are added here.
REASONING = {
    "anthropic.claude-3-7-sonnet": claude_thinking,
    "anthropic.claude-sonnet-4-2": claude_thinking,
    "anthropic.claude-opus-4-2": claude_thinking,
    "anthropic.claude-opus-4-1": claude_thinking,
    "anthropic.claude-sonnet-4-5": claude_thinking,
    "anthropic.claude-haiku-4-5": claude_thinking,
    "anthropic.claude-opus-4-5": claude_thinking,
    "amazon.nova-2-": nova_reasoning,
}

# Models that take Converse's cachePoint blocks in `system` and `messages` (AWS's prompt caching table).
PROMPT_CACHING = (
    "anthropic.claude-3-5-haiku", "anthropic.claude-3-7-sonnet", "anthropic.claude-sonnet-4",
    "anthropic.claude-opus-4", "anthropic.claude-haiku-4-5",
    "amazon.nova-micro", "amazon.nova-lite", "amazon.nova-pro", "amazon.nova-premier",
)

# Base-model prefix -> (legacy on, end of life on), from AWS's model lifecycle table.
LIFECYCLE = {
    "cohere.command-text-v14": (date(2024, 10, 4), date(2025, 8, 12)),  # the seed's model
    "cohere.command-light-text-v14": (date(2024, 10, 4), date(2025, 8, 12)),
}


def _lookup(table, model_id: str):
    base = base_model_name(model_id)
    return next((value for prefix, value in table.items() if base.startswith(prefix)), None)


def reasoning_fields(model_id: str, budget: int | None) -> dict:
    """The model's own request fields that turn reasoning on with this budget; {} when off or unknown."""
    build = _lookup(REASONING, model_id)
    return build(budget) if build and budget else {}


def reasons(model_id: str) -> bool:
    return _lookup(REASONING, model_id) is not None


def caches_prompts(model_id: str) -> bool:
    return base_model_name(model_id).startswith(PROMPT_CACHING)


def known_lifecycle(model_id: str) -> tuple[date | None, date | None]:
    """(legacy on, end of life on) for a model AWS has announced; (None, None) otherwise."""
    return _lookup(LIFECYCLE, model_id) or (None, None)
