"""Budgets enforced before the call: the most an answer can cost is reserved when the prompt is saved, a prompt
that does not fit is refused with `budget_exceeded` (nothing saved), and each answer settles to what it cost
when it ends: done, stopped, error, interrupted. Money and token budgets, a user's own, each of their groups',
and the settings' default."""

from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Group

from chat.models import Budget, BudgetCounter, CatalogEntry, Conversation, Message, Reservation
from chat.runs import wait_for_runs
from tests.bedrock_answers import INPUT_TOKENS
from tests.bedrock_server import HttpError, Stream
from tests.conftest import TEST_MODEL_ID
from tests.ws import prompt_frame, receive_until_done

pytestmark = pytest.mark.django_db(transaction=True)

PRICES = {"price_per_1k_input": Decimal("0.003"), "price_per_1k_output": Decimal("0.015")}
# "Hello there" is 11 characters: 3 tokens at four a token, priced at 0.003 per 1,000; max_tokens 1000 at 0.015.
MOST_FOR_1000 = Decimal("0.015009")


async def priced_model():
    await CatalogEntry.objects.acreate(key="sonnet", label="Claude Sonnet", provider="bedrock-converse",
                                       model_id=TEST_MODEL_ID, **PRICES)
    return "sonnet"


def params(max_tokens: int) -> dict:
    return {"max_tokens": max_tokens}


async def counters() -> list[BudgetCounter]:
    return [counter async for counter in BudgetCounter.objects.order_by("key")]


async def refused(socket, **fields) -> dict:
    await socket.send_json_to(prompt_frame(**fields))
    frame = await socket.receive_json_from(timeout=10)
    assert frame["type"] == "error" and frame["code"] == "budget_exceeded", frame
    return frame


async def test_the_most_it_can_cost_is_reserved_then_settled_to_the_real_cost_at_done(bedrock, alice, socket_for):
    model = await priced_model()
    await Budget.objects.acreate(user=alice, period="month", max_cost=Decimal("1"))
    bedrock.queue(Stream(deltas=["One", " two"], first_delay=0.5, input_tokens=1200, output_tokens=300))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(model=model, params=params(1000)))
    assert (await socket.receive_json_from())["type"] == "started"

    [counter] = await counters()  # while it streams: the most it can cost is held
    assert (counter.reserved_cost, counter.spent_cost) == (MOST_FOR_1000, 0)
    assert counter.reserved_tokens == 3 + 1000

    done = (await receive_until_done(socket))[-1]
    assert done["cost"]["amount"] == "0.0081"  # 1200 × 0.003 + 300 × 0.015 = 8.1, per 1,000
    [counter] = await counters()
    assert (counter.reserved_cost, counter.spent_cost) == (0, Decimal("0.0081"))
    assert (counter.reserved_tokens, counter.spent_tokens) == (0, 1500)
    reservation = await Reservation.objects.aget()
    assert (reservation.charged_cost, reservation.settled_at is not None) == (Decimal("0.0081"), True)


async def test_a_prompt_that_does_not_fit_is_refused_with_what_is_left_and_nothing_is_saved(bedrock, alice, socket_for):
    model = await priced_model()
    await Budget.objects.acreate(user=alice, period="day", max_cost=Decimal("0.01"))
    socket = await socket_for(alice)

    frame = await refused(socket, model=model, params=params(1000))
    assert frame["id"] == "req-1"
    assert "0.01 USD of 0.01 USD left" in frame["detail"] and "resets on" in frame["detail"]
    budget = frame["budget"]
    assert budget | {"resets_at": None} == {
        "scope": "user", "group": None, "period": "day", "unit": "money", "currency": "USD", "limit": "0.01",
        "left": "0.01", "needed": "0.015009", "resets_at": None}
    assert budget["resets_at"].endswith("T00:00:00Z")
    assert await Message.objects.acount() == 0 and await Conversation.objects.acount() == 0
    assert await Reservation.objects.acount() == 0 and await counters() == []  # the refusal rolled all back
    assert bedrock.requests == []  # the model was never called

    bedrock.queue(Stream(deltas=["Short."], input_tokens=3, output_tokens=2))
    await socket.send_json_to(prompt_frame(request_id="req-2", model=model, params=params(500)))  # 0.0075 fits
    assert (await receive_until_done(socket))[-1]["status"] == "complete"


async def test_a_stopped_answer_settles_to_its_estimated_tokens(bedrock, alice, socket_for):
    model = await priced_model()
    await Budget.objects.acreate(user=alice, period="week", max_cost=Decimal("1"))
    bedrock.queue(Stream(deltas=["abcd"] * 200, delay=0.05))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(model=model, params=params(1000)))
    started = await socket.receive_json_from()
    while (await socket.receive_json_from())["type"] != "delta":
        pass
    await socket.send_json_to({"type": "stop", "message": started["message"]})
    done = (await receive_until_done(socket))[-1]
    assert done["status"] == "stopped" and done["usage"]["input_tokens"] is None  # no usage from a cut stream

    message = await Message.objects.aget()
    output_tokens = len(message.response) // 4
    [counter] = await counters()
    assert counter.reserved_cost == 0
    assert counter.spent_tokens == 3 + output_tokens
    assert counter.spent_cost == (Decimal(3) * PRICES["price_per_1k_input"] + output_tokens * PRICES["price_per_1k_output"]) / 1000


async def test_an_error_before_any_word_costs_nothing_and_releases_the_reservation(bedrock, alice, socket_for):
    model = await priced_model()
    await Budget.objects.acreate(user=alice, period="month", max_cost=Decimal("0.02"))
    bedrock.queue(HttpError(400, "ValidationException", "The model refused the request."))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(model=model, params=params(1000)))
    done = (await receive_until_done(socket))[-1]
    assert done["status"] == "error"
    [counter] = await counters()
    assert (counter.reserved_cost, counter.spent_cost, counter.spent_tokens) == (0, 0, 0)

    bedrock.queue(Stream(deltas=["Fine."], input_tokens=3, output_tokens=2))  # the room is back
    await socket.send_json_to(prompt_frame(request_id="req-2", model=model, params=params(1000)))
    assert (await receive_until_done(socket))[-1]["status"] == "complete"


async def test_an_error_mid_answer_with_usage_settles_to_the_counted_tokens(bedrock, alice, socket_for):
    model = await priced_model()
    await Budget.objects.acreate(user=alice, period="month", max_tokens=5000)
    bedrock.queue(Stream(deltas=["a", "b", "c"], error_after=2))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(model=model, params=params(1000)))
    assert (await receive_until_done(socket))[-1]["status"] == "error"
    [counter] = await counters()
    assert counter.reserved_tokens == 0
    assert counter.spent_tokens == 3 + 1  # no usage came: the estimated input and "ab" at four characters a token


async def test_a_token_budget_holds_models_without_prices_and_a_money_budget_counts_them_as_zero(bedrock, alice,
                                                                                                socket_for):
    await Budget.objects.acreate(user=alice, period="month", max_tokens=1010, max_cost=Decimal("0"))
    bedrock.queue(Stream(deltas=["Free", " words"]))  # the built-in model: no prices
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(params=params(1000)))  # 1003 tokens fit; 0 money fits a 0 budget
    assert (await receive_until_done(socket))[-1]["status"] == "complete"
    [counter] = await counters()
    assert (counter.spent_tokens, counter.spent_cost) == (INPUT_TOKENS + 2, 0)

    frame = await refused(socket, request_id="req-2", params=params(1000))
    assert frame["budget"]["unit"] == "tokens"
    assert frame["budget"]["left"] == 1010 - INPUT_TOKENS - 2 and frame["budget"]["needed"] == 1003
    assert "A lower max tokens may fit" in frame["detail"]


async def test_each_group_of_a_user_limits_them_and_members_spend_together(bedrock, alice, bob, socket_for):
    model = await priced_model()
    research, ops = await Group.objects.acreate(name="Research"), await Group.objects.acreate(name="Ops")
    await alice.groups.aadd(research, ops)
    await bob.groups.aadd(research)
    await Budget.objects.acreate(group=research, period="month", max_cost=Decimal("0.03"))
    await Budget.objects.acreate(group=ops, period="month", max_cost=Decimal("0.01"))

    alices = await socket_for(alice)
    frame = await refused(alices, model=model, params=params(1000))  # Research fits, Ops does not
    assert frame["budget"]["scope"] == "group" and frame["budget"]["group"] == "Ops"
    assert "group Ops's monthly budget" in frame["detail"]

    bob_socket = await socket_for(bob)  # Bob is not in Ops
    bedrock.queue(Stream(deltas=["Hi"], input_tokens=1000, output_tokens=1200))  # 0.003 + 0.018 = 0.021
    await bob_socket.send_json_to(prompt_frame(model=model, params=params(1000)))
    assert (await receive_until_done(bob_socket))[-1]["status"] == "complete"

    await Budget.objects.filter(group=ops).aupdate(max_cost=Decimal("1"))
    frame = await refused(alices, request_id="req-2", model=model, params=params(1000))  # Bob used Research's
    assert frame["budget"]["group"] == "Research" and frame["budget"]["left"] == "0.009"


async def test_the_default_budget_from_settings_applies_to_users_without_their_own(bedrock, alice, bob, socket_for,
                                                                                    settings):
    model = await priced_model()
    settings.DEFAULT_USER_BUDGET_USD_MONTHLY = Decimal("0.01")
    frame = await refused(await socket_for(alice), model=model, params=params(1000))
    assert (frame["budget"]["scope"], frame["budget"]["period"]) == ("default", "month")
    assert "your monthly budget" in frame["detail"]

    await Budget.objects.acreate(user=bob, period="month", max_cost=Decimal("5"))  # his own replaces the default
    bedrock.queue(Stream(deltas=["Yes."], input_tokens=3, output_tokens=2))
    bob_socket = await socket_for(bob)
    await bob_socket.send_json_to(prompt_frame(model=model, params=params(1000)))
    assert (await receive_until_done(bob_socket))[-1]["status"] == "complete"


async def test_the_default_token_budget_from_settings(bedrock, alice, socket_for, settings):
    settings.DEFAULT_USER_BUDGET_TOKENS_MONTHLY = 500
    frame = await refused(await socket_for(alice), params=params(1000))
    assert (frame["budget"]["scope"], frame["budget"]["unit"], frame["budget"]["limit"]) == ("default", "tokens", 500)


async def test_a_resent_prompt_reserves_nothing_twice(bedrock, alice, socket_for):
    model = await priced_model()
    await Budget.objects.acreate(user=alice, period="month", max_cost=Decimal("0.02"))
    bedrock.queue(Stream(deltas=["Once."], delay=0.3, input_tokens=3, output_tokens=2))
    socket = await socket_for(alice)
    await socket.send_json_to(prompt_frame(model=model, params=params(1000)))
    assert (await socket.receive_json_from())["type"] == "started"
    await socket.send_json_to(prompt_frame(model=model, params=params(1000)))  # the same request id again
    assert (await socket.receive_json_from())["type"] in ("started", "snapshot")
    assert await Reservation.objects.acount() == 1
    await wait_for_runs()


@database_sync_to_async
def crashed_message(user, text: str) -> Message:
    """A prompt saved and reserved as start_turn does, whose run then died with its process mid-answer."""
    from chat.frames import PromptFrame

    prompt = PromptFrame(request_id="crashed", text="Hello there", conversation_id=None, model_key="sonnet",
                         params={"max_tokens": 1000})
    message, _request = Message.objects.start_turn(user=user, prompt=prompt, client_ip=None, user_agent="")
    Message.objects.filter(pk=message.pk).update(response=text)
    return message


async def test_an_interrupted_answer_settles_when_crash_recovery_closes_it(bedrock, alice):
    await priced_model()
    await Budget.objects.acreate(user=alice, period="month", max_cost=Decimal("1"))
    message = await crashed_message(alice, "x" * 40)
    [counter] = await counters()
    assert counter.reserved_cost == MOST_FOR_1000

    assert await database_sync_to_async(Message.objects.filter(pk=message.pk).mark_interrupted)() == 1
    [counter] = await counters()
    assert counter.reserved_cost == 0
    assert counter.spent_tokens == 3 + 10  # estimated input, and 40 characters at four a token
    assert counter.spent_cost == Decimal("0.000159")  # 3 × 0.003 + 10 × 0.015, per 1,000
