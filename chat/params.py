"""Validation of the generation parameters a user may set per prompt."""

import math

from chat.bedrock_options import MIN_REASONING_BUDGET, NOT_WITH_REASONING

MAX_TOKENS_LIMIT = 200_000
MAX_TOP_K = 500
MAX_STOP_SEQUENCES = 8
MAX_STOP_SEQUENCE_CHARS = 200
MAX_SYSTEM_CHARS = 32_000


class ParamError(ValueError):
    def __init__(self, field: str, detail: str):
        self.field = field
        super().__init__(detail)


def _number(field, value, low, high):
    # bool is an int in Python; a JSON true is not a temperature.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParamError(field, f"'{field}' must be a number between {low} and {high}.")
    if not low <= value <= high:
        raise ParamError(field, f"'{field}' must be between {low} and {high}.")
    return value


def _max_tokens(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOKENS_LIMIT:
        raise ParamError("max_tokens", f"'max_tokens' must be a whole number between 1 and {MAX_TOKENS_LIMIT}.")
    return value


def _top_k(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOP_K:
        raise ParamError("top_k", f"'top_k' must be a whole number between 0 and {MAX_TOP_K}.")
    return value


def _reasoning_budget(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_TOKENS_LIMIT:
        raise ParamError(
            "reasoning_budget", f"'reasoning_budget' must be a whole number of tokens below {MAX_TOKENS_LIMIT} (0: off).")
    return value


def _stop_sequences(value):
    if not isinstance(value, list) or len(value) > MAX_STOP_SEQUENCES:
        raise ParamError("stop_sequences", f"'stop_sequences' must be a list of at most {MAX_STOP_SEQUENCES} strings.")
    for item in value:
        if not isinstance(item, str) or not item or len(item) > MAX_STOP_SEQUENCE_CHARS:
            raise ParamError(
                "stop_sequences",
                f"Each stop sequence must be a non-empty string of at most {MAX_STOP_SEQUENCE_CHARS} characters.",
            )
    return value


def _system(value):
    if not isinstance(value, str) or len(value) > MAX_SYSTEM_CHARS:
        raise ParamError("system", f"'system' must be a string of at most {MAX_SYSTEM_CHARS} characters.")
    return value


VALIDATORS = {
    "max_tokens": _max_tokens,
    "temperature": lambda value: _number("temperature", value, 0, 1),
    "top_p": lambda value: _number("top_p", value, 0, 1),
    "top_k": _top_k,
    "stop_sequences": _stop_sequences,
    "system": _system,
    "reasoning_budget": _reasoning_budget,
}


def validate_params(params, defaults: dict) -> dict:
    """The model's defaults overlaid with the user's valid values; raises ParamError naming the bad field."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ParamError("params", "'params' must be an object.")
    merged = dict(defaults)
    for name, value in params.items():
        validator = VALIDATORS.get(name)
        if validator is None:
            raise ParamError(name, f"Unknown parameter '{name}'. Known: {', '.join(VALIDATORS)}.")
        if value is None:
            continue  # null means "use the model's default"
        merged[name] = validator(value)
    return merged


def with_reasoning(params: dict, chosen: dict, *, reasons: bool, default_budget: int, max_tokens: int, label: str) -> dict:
    """`params` (validated, over the defaults) with the reasoning budget decided: the user's (`chosen` is
    what the user set), else the model's default. `reasoning_budget` stays in the result when it is on or
    the user set it (0: off); while it is on, max_tokens is always set, and temperature/top_p/top_k are not
    sent: a default is dropped, a value the user set is refused (the model would refuse it)."""
    budget = params.get("reasoning_budget")
    if budget is None:
        budget = default_budget
    if not reasons:
        if budget:
            raise ParamError("reasoning_budget", f"'reasoning_budget' is not supported by {label}: it has no reasoning setting.")
        return {name: value for name, value in params.items() if name != "reasoning_budget"}
    if not budget:
        return params
    if budget < MIN_REASONING_BUDGET:
        raise ParamError("reasoning_budget",
                         f"'reasoning_budget' must be at least {MIN_REASONING_BUDGET} tokens, or 0 for no reasoning.")
    max_tokens = params.get("max_tokens", max_tokens)
    if budget >= max_tokens:
        # Name the field the user changed: the page marks the first quoted name.
        if chosen.get("max_tokens") is not None and chosen.get("reasoning_budget") is None:
            raise ParamError("max_tokens", f"'max_tokens' ({max_tokens}) must be more than the reasoning budget "
                                           f"({budget}): the thinking counts toward the answer's tokens.")
        raise ParamError("reasoning_budget", f"'reasoning_budget' ({budget}) must be less than 'max_tokens' "
                                             f"({max_tokens}): the thinking counts toward the answer's tokens.")
    for name in NOT_WITH_REASONING:
        if chosen.get(name) is not None:
            raise ParamError(name, f"'{name}' cannot be set while reasoning is on: {label} does not accept it then. "
                                   "Leave it empty, or set 'reasoning_budget' to 0.")
    kept = {name: value for name, value in params.items() if name not in NOT_WITH_REASONING}
    return kept | {"max_tokens": max_tokens, "reasoning_budget": budget}
