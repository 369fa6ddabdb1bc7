"""Each answer's cost, from the catalog model's four prices per 1,000 tokens (input, output, cache read,
cache write), computed exactly with Decimal, sent in `done` and saved; no prices, no cost."""

import os
import subprocess
import sys
from decimal import Decimal

import pytest

from chat.models import CatalogEntry, Message
from chat.pricing import cost_of
from tests.bedrock_server import Stream
from tests.conftest import TEST_MODEL_ID
from tests.servers import PROJECT
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)

# Claude Sonnet's list prices per 1,000 tokens in us-east-1.
PRICES = {"price_per_1k_input": Decimal("0.003"), "price_per_1k_output": Decimal("0.015"),
          "price_per_1k_cache_read": Decimal("0.0003"), "price_per_1k_cache_write": Decimal("0.00375")}
CACHED = {"input_tokens": 1234, "output_tokens": 567,
          "cache_read_input_tokens": 20480, "cache_write_input_tokens": 3072}
# By hand: 1234 × 0.003 + 567 × 0.015 + 20480 × 0.0003 + 3072 × 0.00375
#        = 3.702 + 8.505 + 6.144 + 11.52 = 29.871, per 1,000 tokens: 0.029871.
CACHED_COST = "0.029871"


async def priced_model(**prices):
    await CatalogEntry.objects.acreate(key="sonnet", label="Claude Sonnet", provider="bedrock-converse",
                                       model_id=TEST_MODEL_ID, **prices)
    return "sonnet"


async def ask(socket_for, user, model=None) -> dict:
    socket = await socket_for(user)
    await socket.send_json_to(prompt_frame(model=model))
    return (await receive_until_done(socket))[-1]


async def test_cost_with_cache_tokens_is_exact_and_saved(bedrock, alice, socket_for):
    model = await priced_model(**PRICES)
    bedrock.queue(Stream(deltas=["Cached ", "answer."], **CACHED))
    done = await ask(socket_for, alice, model)

    assert done["usage"] == CACHED
    assert done["cost"] == {"amount": CACHED_COST, "currency": "USD"}
    message = await Message.objects.aget(pk=done["message"])
    assert (message.cost, message.currency) == (Decimal(CACHED_COST), "USD")
    assert (message.cache_read_input_tokens, message.cache_write_input_tokens) == (20480, 3072)

    later = await socket_for(alice)  # the saved `done` says the same, to the digit
    await later.send_json_to({"type": "attach", "message": done["message"]})
    assert [await later.receive_json_from(), await later.receive_json_from()][1] == done


async def test_the_currency_comes_from_the_setting(bedrock, alice, socket_for, settings):
    settings.PRICE_CURRENCY = "EUR"
    model = await priced_model(price_per_1k_input=Decimal("0.002"), price_per_1k_output=Decimal("0.01"))
    bedrock.queue(Stream(deltas=["Bonjour."], input_tokens=1000, output_tokens=100))
    done = await ask(socket_for, alice, model)

    assert done["cost"] == {"amount": "0.003", "currency": "EUR"}  # 1000 × 0.002 + 100 × 0.01 = 3, per 1,000


async def test_no_prices_no_cost(bedrock, alice, socket_for):
    bedrock.queue(Stream(deltas=["Free?"]))
    done = await ask(socket_for, alice)  # the built-in model: no prices

    assert "cost" not in done
    message = await Message.objects.aget(pk=done["message"])
    assert (message.cost, message.currency) == (None, "")


async def test_cache_tokens_without_a_cache_price_give_no_cost_rather_than_a_wrong_one(bedrock, alice, socket_for):
    model = await priced_model(price_per_1k_input=Decimal("0.003"), price_per_1k_output=Decimal("0.015"))
    bedrock.queue(Stream(deltas=["Cached."], **CACHED))
    done = await ask(socket_for, alice, model)

    assert "cost" not in done and done["usage"]["cache_read_input_tokens"] == 20480


def test_the_sum_is_exact_and_rounded_half_up_to_eight_places():
    prices = (Decimal("0.000001"), Decimal("0.000003"), None, None)
    assert cost_of(prices, 5, 0, None, None) == Decimal("0.00000001")  # 0.000000005, half up
    assert cost_of(prices, 4, 0, None, None) == Decimal("0")  # 0.000000004, down
    assert cost_of(prices, 1_000_000, 333_333, 0, 0) == Decimal("0.00200000")  # 1.999999 / 1000, rounded
    assert cost_of(prices, None, 3, None, None) is None  # no usage from the model: unknown, not free


def test_a_price_currency_that_is_not_a_code_stops_the_server():
    env = os.environ | {"PRICE_CURRENCY": "dollars", "DJANGO_SETTINGS_MODULE": "streamer.settings"}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=PROJECT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "PRICE_CURRENCY='dollars'" in result.stderr
