"""Validation of the generation parameters a user may set per prompt."""

import math

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
