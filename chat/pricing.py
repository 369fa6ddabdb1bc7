"""What an answer cost: the tokens Bedrock counted times the catalog model's prices per 1,000 tokens.

Input, output, cache-read and cache-write tokens are priced separately (Bedrock counts them apart:
`inputTokens` holds only the input that was not read from or written to the prompt cache). The sum is
exact (Decimal) and rounded half-up to Message.cost's 8 decimal places, in settings.PRICE_CURRENCY.
"""

import threading
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

COST_PLACES = Decimal("0.00000001")

# Within read_once(), in its thread: the prices read so far, by model key.
_read_once = threading.local()


@contextmanager
def read_once():
    """Within it, this thread reads each model's prices once: the runs' ends saved together
    (chat.runs.finishing) share one read a model, still as fresh as their transaction."""
    _read_once.prices = {}
    try:
        yield
    finally:
        _read_once.prices = None


def currency() -> str:
    return settings.PRICE_CURRENCY


def prices_for(model_key: str) -> tuple[Decimal | None, ...] | None:
    """(input, output, cache read, cache write) per 1,000 tokens of the staff's catalog entry for the key,
    or None when it has no price at all (built-in models have none)."""
    from chat.models import CatalogEntry

    read = getattr(_read_once, "prices", None)
    if read is not None and model_key in read:
        return read[model_key]
    prices = (CatalogEntry.objects.filter(key=model_key)
              .values_list("price_per_1k_input", "price_per_1k_output", "price_per_1k_cache_read",
                           "price_per_1k_cache_write").first())
    prices = prices if prices and any(price is not None for price in prices) else None
    if read is not None:
        read[model_key] = prices
    return prices


def cost_of(prices: tuple | None, *tokens: int | None) -> Decimal | None:
    """The cost of (input, output, cache read, cache write) tokens at these prices; None when it cannot be
    known exactly: no prices, no usage from the model, or tokens of a kind that has no price."""
    if prices is None or tokens[0] is None or tokens[1] is None:
        return None
    total = Decimal(0)
    for count, price in zip(tokens, prices):
        if count:
            if price is None:
                return None
            total += count * price
    return (total / 1000).quantize(COST_PLACES, rounding=ROUND_HALF_UP)


def cost(model_key: str, *tokens: int | None) -> Decimal | None:
    """The cost of an answer of this catalog model; reads the database."""
    return cost_of(prices_for(model_key), *tokens)


def amount_text(amount: Decimal) -> str:
    """The protocol's string for an amount: plain digits, no exponent, no trailing zeros ("0.00123")."""
    return format(amount.normalize(), "f")
